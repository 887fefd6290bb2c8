"""Set-up shared by every test folder."""

from __future__ import annotations

import pytest
import torch


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
