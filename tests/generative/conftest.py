"""Fixtures shared by the generative tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.generative import train_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A Trainer checkpoint of a 16 x 16 grey model, trained for 2 steps by the reference package."""
    return train_tiny_checkpoint(tmp_path_factory.mktemp("checkpoint"))
