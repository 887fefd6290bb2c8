"""Hand-ins built to break the grading process itself (deep trees, odd notebooks, names that are not
text) each get a results.json that scores 0 and says why, and leave nothing behind in the temp folder."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import pytest

from grader.api import grade_submission
from grader.sandbox.cleanup import remove_tree
from tests.support.corpus import SOLUTION


@pytest.fixture(autouse=True)
def removes_its_trees(tmp_path):
    """pytest removes old tmp_path folders with shutil.rmtree, which a deep tree breaks: never leave one."""
    yield
    remove_tree(tmp_path)


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """The temp folder grading uses, to prove it is left empty."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def grade_rejected(handed_in: Path, out: Path) -> dict:
    report = grade_submission(handed_in, out=out, public_only=True)
    assert report.rejected and report.score == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["score"] == 0 and (out / "report.md").is_file() and (out / "report.html").is_file()
    return results


def make_deep(folder: Path, depth: int, leaf: str = "x.py", size: int = 0) -> None:
    """`depth` nested folders under `folder` and a file `leaf` of `size` bytes (sparse) at the bottom,
    made relative to an fd (the path is too long for the kernel)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            deeper = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = deeper
        file = os.open(leaf, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.ftruncate(file, size)
        os.close(file)
    finally:
        os.close(fd)


def solution_package(folder: Path) -> Path:
    shutil.copytree(SOLUTION / "diffusion_hw", folder / "diffusion_hw", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


# ---------------------------------------------------------------------------- deep trees


def test_a_zip_of_1100_nested_folders_is_refused_with_a_reason(tmp_path, private_tmp):
    archive = tmp_path / "deep.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handin/diffusion_hw/__init__.py", "")
        zf.writestr("handin/" + "d/" * 1100 + "x.py", "")
    results = grade_rejected(archive, tmp_path / "out")
    assert "folders deep" in results["output"]
    assert os.listdir(private_tmp) == []


def test_a_package_folder_1100_deep_is_refused_with_a_reason(tmp_path, private_tmp):
    handed_in = solution_package(tmp_path / "handin")
    make_deep(handed_in / "diffusion_hw", 1100)
    results = grade_rejected(handed_in, tmp_path / "out")
    assert "nested more than" in results["output"]
    assert os.listdir(private_tmp) == []


def test_remove_tree_removes_1500_nested_folders_a_big_file_links_and_locked_folders(tmp_path):
    victim = tmp_path / "outside.txt"
    victim.write_text("keep me")
    root = tmp_path / "call"
    root.mkdir()
    make_deep(root, 1500, leaf="big", size=200 << 20)
    deepest = root.joinpath(*["d"] * 20)
    os.symlink(victim, deepest / "link-to-a-file")
    os.symlink(tmp_path, deepest / "link-to-a-folder")
    (deepest / "locked").mkdir()
    (deepest / "locked" / "inner").mkdir()
    (deepest / "locked" / "inner").chmod(0)
    (deepest / "locked").chmod(0)
    with pytest.raises(RecursionError):
        shutil.rmtree(root, ignore_errors=True)  # what the grader used: ignore_errors does not cover this
    assert remove_tree(root)
    assert not root.exists() and victim.read_text() == "keep me"
    assert remove_tree(root) and remove_tree(tmp_path / "never-existed")


def test_remove_tree_removes_a_single_file_or_link_where_a_folder_was_expected(tmp_path):
    (tmp_path / "file").write_text("x")
    os.symlink(tmp_path, tmp_path / "link")
    assert remove_tree(tmp_path / "file") and remove_tree(tmp_path / "link")
    assert sorted(os.listdir(tmp_path)) == []


# ---------------------------------------------------------------------------- notebooks


def notebook(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "homework.ipynb"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_notebook_10000_deep_is_refused_with_a_reason(tmp_path, private_tmp):
    results = grade_rejected(notebook(tmp_path, '{"cells": ' + "[" * 10_000 + "]" * 10_000 + "}"), tmp_path / "out")
    assert "not a readable notebook" in results["output"]
    assert os.listdir(private_tmp) == []


def test_a_notebook_whose_cell_source_is_an_int_is_refused_with_a_reason(tmp_path, private_tmp):
    cells = [{"cell_type": "code", "source": ["# diffusion_hw/schedules.py\n", 7]}]
    results = grade_rejected(notebook(tmp_path, json.dumps({"cells": cells})), tmp_path / "out")
    assert "source that is not text" in results["output"]


def test_a_notebook_with_lone_surrogates_in_a_cell_is_refused_with_a_reason(tmp_path, private_tmp):
    from grader.intake.notebook import todo_files

    marked = todo_files(Path(__file__).resolve().parents[2] / "starter" / "diffusion_hw")
    cells = [{"cell_type": "code", "source": f"# {name}\nx = '\\ud800'\n"} for name in marked]
    text = json.dumps({"cells": cells}).replace("\\\\ud800", "\\ud800")  # the escape itself, as JSON holds it
    results = grade_rejected(notebook(tmp_path, text), tmp_path / "out")
    assert "not valid text" in results["output"]
    assert os.listdir(private_tmp) == []


# ---------------------------------------------------------------------------- names that are not text


def test_a_hand_in_whose_name_is_not_utf8_gets_a_readable_report(tmp_path, private_tmp):
    name = os.fsdecode(b"caf\xe9-\xff")  # a Latin-1 name: the string holds lone surrogates
    handed_in = tmp_path / name
    (handed_in / "nothing-here").mkdir(parents=True)
    results = grade_rejected(handed_in, tmp_path / "out")
    assert "\ufffd" in results["output"]
    assert "\ufffd" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
