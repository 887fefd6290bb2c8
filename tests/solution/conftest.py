"""Shared set-up for the reference package's tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    # the networks here are tiny: a second intra-op thread only adds synchronisation, and on a busy
    # 2-core machine a spinning OpenMP thread makes each small conv 10-100x slower
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
