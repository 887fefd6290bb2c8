"""From the unpacked handout, a notebook is graded inside the handout's clean copy of the starter
(grader/pristine_starter/), never inside the diffusion_hw/ the student has been editing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.errors import GraderError
from grader.intake.notebook import extract_notebook
from grader.intake.submission import MAX_BYTES, find_package

ROOT = Path(__file__).resolve().parents[2]
SOLUTION_PACKAGE = ROOT / "solution" / "diffusion_hw"
PRISTINE = "grader/pristine_starter/diffusion_hw/"


def test_the_handout_ships_a_clean_copy_of_its_starter_beside_the_grader(handout_zip):
    with zipfile.ZipFile(handout_zip) as archive:
        names = archive.namelist()
        starter = {n[len("diffusion_hw/"):]: archive.read(n) for n in names if n.startswith("diffusion_hw/")}
        pristine = {n[len(PRISTINE):]: archive.read(n) for n in names if n.startswith(PRISTINE)}
    assert "__init__.py" in starter and pristine == starter


def test_a_whole_unpacked_handout_handed_in_has_one_package(unpack):
    folder = unpack("student-whole-handout")
    assert (folder / PRISTINE / "__init__.py").is_file()
    assert find_package(folder) == folder


def test_without_a_clean_starter_the_error_says_what_to_do_in_the_repository_and_in_the_handout(tmp_path):
    notebook = tmp_path / "homework.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("# diffusion_hw/schedules.py\nx = 1")]), str(notebook))
    with pytest.raises(GraderError) as refused:
        extract_notebook(notebook, tmp_path / "out", tmp_path / "no-starter" / "diffusion_hw", MAX_BYTES)
    assert "python3 tasks.py starter" in str(refused.value)
    assert "unpack handout.zip again" in str(refused.value)


@pytest.mark.slow
def test_a_notebook_with_only_schedules_is_graded_from_the_handout_over_the_clean_starter(unpack):
    folder = unpack("student-notebook")
    # The student has been working in the handout: the solved files there must not stand in for the
    # files the notebook leaves out.
    for name in ("gaussian_diffusion.py", "views.py", "illusions.py"):
        (folder / "diffusion_hw" / name).write_text((SOLUTION_PACKAGE / name).read_text())
    pristine_before = {p.name: p.read_bytes() for p in (folder / PRISTINE).glob("*.py")}
    schedules = (SOLUTION_PACKAGE / "schedules.py").read_text()
    notebook = folder / "homework.ipynb"
    cells = [new_markdown_cell("# my homework"), new_code_cell(f"%%writefile diffusion_hw/schedules.py\n{schedules}")]
    nbformat.write(new_notebook(cells=cells), str(notebook))

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRADER_DEBUG")}
    grade = [sys.executable, "-m", "grader", "homework.ipynb", "--public-only", "--out", "results/notebook"]
    done = subprocess.run(grade, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((folder / "results" / "notebook" / "results.json").read_text())

    assert results["tests"] and all(t["visibility"] == "visible" for t in results["tests"])
    by_function: dict[str, float] = {}
    for test in results["tests"]:
        function = test["extra_data"]["function"]
        by_function[function] = by_function.get(function, 0) + test["score"]
    assert by_function["linear_beta_schedule"] > 0, results["output"]
    assert by_function["q_sample"] == 0 and by_function["fused_noise_estimate"] == 0, "the edited starter leaked in"
    assert ("Hand-in: the notebook has no cell for diffusion_hw/gaussian_diffusion.py, diffusion_hw/illusions.py, "
            "diffusion_hw/views.py; the starter's copies were graded") in results["output"]
    assert {p.name: p.read_bytes() for p in (folder / PRISTINE).glob("*.py")} == pristine_before
