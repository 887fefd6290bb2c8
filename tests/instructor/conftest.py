"""The handout (of the default profile and of every other assignment profile), built once per test session,
and fresh unpacked copies of it."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from grader.instructor.handout import build_handout
from grader.rubric import DEFAULT_PROFILE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def handout_zip(tmp_path_factory) -> Path:
    return build_handout(tmp_path_factory.mktemp("dist") / "handout.zip")


@pytest.fixture(scope="session")
def profile_handout(handout_zip, tmp_path_factory):
    """profile_handout(name) -> the handout.zip of that assignment profile (built once per session)."""
    built = {DEFAULT_PROFILE: handout_zip}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = build_handout(tmp_path_factory.mktemp(f"dist-{name}") / "handout.zip", assignment=name)
        return built[name]

    return get


@pytest.fixture(scope="session")
def unpack(profile_handout, tmp_path_factory):
    """unpack(name, with_solution=False, assignment=None) -> a fresh folder holding the unpacked handout (of
    that profile); with_solution copies solution/diffusion_hw over the starter (the starter with every TODO
    body filled in)."""

    def make(name: str, with_solution: bool = False, assignment: str | None = None) -> Path:
        folder = tmp_path_factory.mktemp(name)
        with zipfile.ZipFile(profile_handout(assignment or DEFAULT_PROFILE)) as archive:
            archive.extractall(folder)
        if with_solution:
            shutil.rmtree(folder / "diffusion_hw")
            shutil.copytree(ROOT / "solution" / "diffusion_hw", folder / "diffusion_hw",
                            ignore=shutil.ignore_patterns("__pycache__"))
        return folder

    return make
