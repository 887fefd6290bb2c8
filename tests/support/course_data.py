"""The course data a few tests read (real anime faces), found the way CI finds it.

.ci/run exports DIFFUSION_HW_DATA=<checkout>/../shared/data when the variable is unset and that folder
exists; course_data_root() reads the same variable with the same fallback, so that pytest run by hand
beside the course data finds it too, and anywhere else the variable says where it is. The images are
never copied into the repository: tests copy the few they need to a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from diffusion_hw_data.errors import DatasetError
from diffusion_hw_data.root import DATA_ROOT_ENV, DataRoot, locate_dataset, resolve_data_root

ROOT = Path(__file__).resolve().parents[2]
BESIDE_THE_CHECKOUT = ROOT.parent / "shared" / "data"  # where .ci/run points DIFFUSION_HW_DATA when it is unset
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def course_data_root() -> DataRoot:
    """$DIFFUSION_HW_DATA when set; else the course data beside the checkout, as .ci/run sets it; else the default."""
    if not os.environ.get(DATA_ROOT_ENV) and BESIDE_THE_CHECKOUT.is_dir():
        return DataRoot(BESIDE_THE_CHECKOUT.resolve(), f"{DATA_ROOT_ENV} as .ci/run sets it")
    return resolve_data_root()


def course_dataset(name: str) -> Path:
    """The folder of the named dataset under course_data_root(); the test fails (it does not skip) when
    it is missing, with the data root's message saying what to put where."""
    try:
        return locate_dataset(name, course_data_root())
    except DatasetError as exc:
        pytest.fail(f"this test needs the course data: {exc}")


def course_images(name: str, at_least: int) -> list[Path]:
    """The image files of the named dataset, sorted by name; the test fails when there are fewer than `at_least`."""
    folder = course_dataset(name)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < at_least:
        pytest.fail(f"{folder} holds {len(files)} images; this test needs at least {at_least}")
    return files
