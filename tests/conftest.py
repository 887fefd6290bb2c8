"""Set-up shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest_plugins = ["tests.support.fixtures"]  # the rubric, the plans, the corpus graded once per session

TORCH_THREADS = torch.get_num_threads()  # torch's own choice, as the grader runs
INCEPTION_TESTS = Path(__file__).resolve().parent / "metrics"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """One torch thread in this process, set before each test's fixtures (session ones included).

    What the tests compute here (small networks, Inception on a few images) runs beside the grader's
    own processes: on a busy 2-core machine a second intra-op thread spins while it waits and makes a
    small convolution 10-100x slower, Inception about 2x slower; on idle cores it gains little.
    Sandboxed code sets its own limit. The metric tests keep torch's own count: Inception's features
    differ in the last float bits between thread counts, and they pin features across batch sizes.
    """
    torch.set_num_threads(TORCH_THREADS if item.path.is_relative_to(INCEPTION_TESTS) else 1)
