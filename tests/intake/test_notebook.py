"""A notebook handed in: its marked cells become diffusion_hw/ files over the starter; bad marks are refused clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.errors import SubmissionError
from grader.intake.notebook import extract_notebook, todo_files
from grader.intake.submission import MAX_BYTES, open_submission

ROOT = Path(__file__).resolve().parents[2]
SOLUTION_PACKAGE = ROOT / "solution" / "diffusion_hw"
STARTER_PACKAGE = ROOT / "starter" / "diffusion_hw"


def solved_cells(magic_for: str = "diffusion_hw/views.py") -> list:
    """One marked cell per TODO file holding the solution's code; `magic_for` uses %%writefile."""
    cells = [new_markdown_cell("# my homework"), new_code_cell("import torch\nprint('scratch work')")]
    for name in todo_files(STARTER_PACKAGE):
        code = (SOLUTION_PACKAGE / Path(name).relative_to("diffusion_hw")).read_text()
        marker = f"%%writefile {name}" if name == magic_for else f"# {name}"
        cells.append(new_code_cell(f"{marker}\n{code}"))
    return cells


def write(tmp_path: Path, cells: list, name: str = "homework.ipynb") -> Path:
    path = tmp_path / name
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


def test_todo_files_are_the_files_with_stubs():
    assert todo_files(STARTER_PACKAGE) == [
        "diffusion_hw/gaussian_diffusion.py", "diffusion_hw/illusions.py",
        "diffusion_hw/schedules.py", "diffusion_hw/views.py",
    ]


def test_marked_cells_replace_the_starter_files(tmp_path):
    notebook = write(tmp_path, solved_cells())
    with open_submission(notebook) as opened:
        package = opened.root / "diffusion_hw"
        assert opened.name == "homework"
        for name in todo_files(STARTER_PACKAGE):
            relative = Path(name).relative_to("diffusion_hw")
            expected = (SOLUTION_PACKAGE / relative).read_text()
            if name != "diffusion_hw/views.py":  # a comment marker stays in the file; %%writefile does not
                expected = f"# {name}\n{expected}"
            assert (package / relative).read_text() == expected, name
        assert (package / "unet.py").read_text() == (STARTER_PACKAGE / "unet.py").read_text()


def test_writefile_marker_drops_the_magic_line_and_comment_marker_keeps_the_comment(tmp_path):
    cells = solved_cells()
    views = next(c for c in cells if c.source.startswith("%%writefile"))
    views.source = "\n" + views.source  # a blank first line is fine
    target = tmp_path / "out"
    taken = extract_notebook(write(tmp_path, cells), target, STARTER_PACKAGE, MAX_BYTES)
    assert "diffusion_hw/views.py" in taken
    assert not (target / "views.py").read_text().startswith("%%")
    assert (target / "schedules.py").read_text().startswith("# diffusion_hw/schedules.py\n")


def test_a_todo_file_without_a_cell_comes_from_the_starter_and_is_named(tmp_path):
    from grader.intake.notebook import missing_todo_files

    cells = [c for c in solved_cells() if "diffusion_hw/schedules.py" not in c.source.splitlines()[0]]
    target = tmp_path / "out"
    taken = extract_notebook(write(tmp_path, cells), target, STARTER_PACKAGE, MAX_BYTES)
    assert missing_todo_files(taken, STARTER_PACKAGE) == ["diffusion_hw/schedules.py"]
    assert (target / "schedules.py").read_bytes() == (STARTER_PACKAGE / "schedules.py").read_bytes()


def test_a_notebook_with_no_marked_cell_is_refused_saying_how_to_mark_one(tmp_path):
    notebook = write(tmp_path, [new_code_cell("print('hello')")])
    with pytest.raises(SubmissionError,
                       match=r"no cell of the notebook is marked as a file of diffusion_hw/.*# diffusion_hw/"):
        extract_notebook(notebook, tmp_path / "out", STARTER_PACKAGE, MAX_BYTES)


def test_a_duplicated_marked_cell_is_refused_naming_both_cells(tmp_path):
    cells = solved_cells()
    cells.append(new_code_cell("# diffusion_hw/schedules.py\nprint('older attempt')"))
    first = 1 + next(i for i, c in enumerate(cells) if c.source.startswith("# diffusion_hw/schedules.py"))
    with pytest.raises(SubmissionError,
                       match=rf"diffusion_hw/schedules.py is marked in 2 cells \(cells {first}, {len(cells)}\)"):
        extract_notebook(write(tmp_path, cells), tmp_path / "out", STARTER_PACKAGE, MAX_BYTES)


def test_a_cell_marked_with_an_unknown_file_is_refused(tmp_path):
    cells = solved_cells() + [new_code_cell("# diffusion_hw/secrets.py\nx = 1")]
    with pytest.raises(SubmissionError, match="diffusion_hw/secrets.py, which is not a file of the package"):
        extract_notebook(write(tmp_path, cells), tmp_path / "out", STARTER_PACKAGE, MAX_BYTES)


def test_a_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{ not json")
    with pytest.raises(SubmissionError, match="not a readable notebook"):
        extract_notebook(path, tmp_path / "out", STARTER_PACKAGE, MAX_BYTES)


def _grade(*args: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = Path(args[args.index("--out") + 1])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "grader", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    return done, json.loads((out / "results.json").read_text())


def test_grade_scores_a_refused_notebook_0_and_says_why(tmp_path):
    done, results = _grade(str(write(tmp_path, [new_code_cell("x = 1")])), "--public-only", "--quiet", "--out",
                           str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert results["score"] == 0
    assert "no cell of the notebook is marked as a file of diffusion_hw/" in results["output"]


@pytest.mark.slow
def test_a_notebook_with_only_the_schedules_cell_earns_the_schedule_items_and_names_the_rest(tmp_path):
    cells = [c for c in solved_cells() if "diffusion_hw/schedules.py" in c.source.splitlines()[0]]
    done, results = _grade(str(write(tmp_path, cells)), "--public-only", "--quiet", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    by_item: dict[str, float] = {}
    for test in results["tests"]:
        by_item[test["extra_data"]["function"]] = by_item.get(test["extra_data"]["function"], 0) + test["score"]
    assert by_item["linear_beta_schedule"] > 0 and by_item["compute_diffusion_buffers"] > 0
    assert by_item["q_sample"] == 0 and by_item["fused_noise_estimate"] == 0
    assert "Hand-in: the notebook has no cell for diffusion_hw/gaussian_diffusion.py" in results["output"]


@pytest.mark.slow
def test_loose_todo_files_without_their_folder_are_graded_over_the_starter(tmp_path):
    hand_in = tmp_path / "dragged"
    hand_in.mkdir()
    for name in ("schedules.py", "gaussian_diffusion.py", "views.py", "illusions.py"):
        (hand_in / name).write_text((ROOT / "solution" / "diffusion_hw" / name).read_text())
    done, results = _grade(str(hand_in), "--public-only", "--quiet", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) > 0
    assert "handed in without their diffusion_hw/ folder" in results["output"]


# A solved notebook graded to full marks, end to end: tests/instructor/test_gradescope_package.py.
