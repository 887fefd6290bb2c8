"""The handout, built once per test session, and fresh unpacked copies of it."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from grader.instructor.handout import build_handout

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def handout_zip(tmp_path_factory) -> Path:
    return build_handout(tmp_path_factory.mktemp("dist") / "handout.zip")


@pytest.fixture(scope="session")
def unpack(handout_zip, tmp_path_factory):
    """unpack(name, with_solution=False) -> a fresh folder holding the unpacked handout; with_solution
    copies solution/diffusion_hw over the starter (the starter with every TODO body filled in)."""

    def make(name: str, with_solution: bool = False) -> Path:
        folder = tmp_path_factory.mktemp(name)
        with zipfile.ZipFile(handout_zip) as archive:
            archive.extractall(folder)
        if with_solution:
            shutil.rmtree(folder / "diffusion_hw")
            shutil.copytree(ROOT / "solution" / "diffusion_hw", folder / "diffusion_hw",
                            ignore=shutil.ignore_patterns("__pycache__"))
        return folder

    return make
