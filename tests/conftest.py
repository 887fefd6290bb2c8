"""Set-up shared by every test folder.

The whole suite grades under one grading salt (grader/salt.py): the instructor's cases are the same on
every machine and run, and no salt file is created in the home folder of whoever runs it. Every test
must hold under any salt: `DIFFUSION_HW_SALT=another pytest ...` runs the suite under another.
"""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("DIFFUSION_HW_SALT", "the test suite's grading salt")


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    # What the tests compute in this process (small networks, Inception on a few images) runs beside the
    # grader's own processes: on a busy 2-core machine a second intra-op thread spins while it waits and
    # makes a small convolution 10-100x slower, Inception about 2x slower; on idle cores it gains little.
    # Sandboxed code sets its own thread limit.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
