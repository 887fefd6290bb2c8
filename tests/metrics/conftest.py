"""Fixtures for the metric tests: synthetic images (tests/support/metric_images.py); the few tests that need real
faces read them from the course data under the data root (tests/support/course_data.py: $DIFFUSION_HW_DATA, as
CI sets it), and fail when it is missing.

Inception runs at ~5 images/s on 2 CPU cores, so the sets are tiny (16 images), their features are
computed once per session, and the reference set's statistics come from a session-wide cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support.metric_images import BLOB_SET_SIZE, colour_blobs, write_png_folder


@pytest.fixture(autouse=True)
def isolated_fid_cache(tmp_path, monkeypatch):
    """No test reads or writes the user's ~/.cache."""
    monkeypatch.setenv("DIFFUSION_HW_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "fid"


@pytest.fixture(scope="session")
def blobs_a() -> torch.Tensor:
    return colour_blobs(BLOB_SET_SIZE, seed=1)


@pytest.fixture(scope="session")
def blobs_b() -> torch.Tensor:
    return colour_blobs(BLOB_SET_SIZE, seed=2, offset=0.3)


@pytest.fixture(scope="session")
def blob_folders(tmp_path_factory, blobs_a, blobs_b) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("blobs")
    return write_png_folder(blobs_a, root / "a"), write_png_folder(blobs_b, root / "b")


@pytest.fixture(scope="session")
def session_fid_cache(tmp_path_factory) -> Path:
    """One cache shared by the session's FID tests, so the reference set `b` is embedded only once."""
    return tmp_path_factory.mktemp("fid-cache")


@pytest.fixture(scope="session")
def blob_features(blobs_a, blob_folders, session_fid_cache) -> tuple[np.ndarray, np.ndarray]:
    """Features of set a (from the tensor) and of set b (from its PNG folder, via the reference cache)."""
    from grader.metrics.fid import reference_stats
    from grader.metrics.inception import inception_features

    return inception_features(blobs_a), reference_stats(blob_folders[1], cache_dir=session_fid_cache).features


@pytest.fixture(scope="session")
def folder_fid_result(blob_folders, session_fid_cache):
    """compute_fid on the two PNG folders (the reference statistics of b come from the shared cache)."""
    from grader.metrics.fid import compute_fid

    return compute_fid(*blob_folders, cache_dir=session_fid_cache)
