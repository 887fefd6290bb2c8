"""dist/gradescope.zip: run_autograder grades /autograder/submission into a valid results.json."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.instructor.gradescope import ROOT_ENV, build_gradescope_zip
from grader.intake.notebook import todo_files
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parents[2]
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def gradescope_spec_errors(results: dict) -> list[str]:
    """What in `results` breaks Gradescope's results.json specification
    (https://gradescope-autograders.readthedocs.io/en/latest/specs/#output-format)."""
    errors = []
    number = (int, float)

    def expect(where: str, value, kinds, allowed=None):
        if isinstance(value, bool) or not isinstance(value, kinds):
            errors.append(f"{where} is {type(value).__name__}, not {kinds}")
        elif allowed is not None and value not in allowed:
            errors.append(f"{where} is {value!r}, not one of {sorted(allowed)}")

    if not isinstance(results, dict):
        return ["results.json is not an object"]
    if "score" not in results and not results.get("tests"):
        errors.append("neither score nor tests")
    for key, kinds in (("score", number), ("execution_time", number), ("output", str)):
        if key in results:
            expect(key, results[key], kinds)
    for key in ("visibility", "stdout_visibility"):
        if key in results:
            expect(key, results[key], str, VISIBILITIES)
    expect("tests", results.get("tests", []), list)
    for index, test in enumerate(results.get("tests", []) if isinstance(results.get("tests"), list) else []):
        where = f"tests[{index}]"
        if not isinstance(test, dict):
            errors.append(f"{where} is not an object")
            continue
        for key in ("name", "score", "max_score", "status", "output", "visibility", "tags"):
            if key not in test:
                errors.append(f"{where} has no {key}")
        expect(f"{where}.name", test.get("name"), str)
        expect(f"{where}.score", test.get("score"), number)
        expect(f"{where}.max_score", test.get("max_score"), number)
        expect(f"{where}.status", test.get("status"), str, {"passed", "failed"})
        expect(f"{where}.output", test.get("output"), str)
        expect(f"{where}.visibility", test.get("visibility"), str, VISIBILITIES)
        expect(f"{where}.tags", test.get("tags"), list)
        if isinstance(test.get("tags"), list) and not all(isinstance(t, str) for t in test["tags"]):
            errors.append(f"{where}.tags holds something other than strings")
        scored = isinstance(test.get("score"), number) and isinstance(test.get("max_score"), number)
        if scored and test["score"] > test["max_score"]:
            errors.append(f"{where}.score exceeds its max_score")
    if isinstance(results.get("tests"), list) and results["tests"] and isinstance(results.get("score"), number):
        total = sum(t.get("score", 0) for t in results["tests"] if isinstance(t, dict))
        if abs(total - results["score"]) > 1e-6:
            errors.append(f"score {results['score']} is not the sum of the tests' scores {total}")
    return errors


def test_the_spec_validator_rejects_what_gradescope_rejects():
    good = {"score": 1, "execution_time": 0.5, "output": "", "tests": [
        {"name": "a", "score": 1, "max_score": 1, "status": "passed", "output": "", "visibility": "visible",
         "tags": []}]}
    assert gradescope_spec_errors(good) == []
    bad = json.loads(json.dumps(good))
    bad["tests"][0].update(status="ok", visibility="secret", score=2)
    del bad["tests"][0]["tags"]
    errors = gradescope_spec_errors(bad)
    assert len(errors) >= 4, errors


@pytest.fixture(scope="module")
def autograder_source(tmp_path_factory) -> Path:
    archive = build_gradescope_zip(tmp_path_factory.mktemp("dist") / "gradescope.zip")
    source = tmp_path_factory.mktemp("unpacked") / "source"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(source)
        modes = {info.filename: info.external_attr >> 16 for info in zf.infolist()}
    for name in ("run_autograder", "setup.sh"):
        assert modes[name] & stat.S_IXUSR, f"{name} is not executable in the zip"
        (source / name).chmod(0o755)  # zipfile does not restore modes; Gradescope's unzip does
    return source


def fake_autograder(tmp_path: Path, source: Path) -> Path:
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "source").symlink_to(source)
    return root


def run_autograder(root: Path) -> tuple[subprocess.CompletedProcess, dict]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({ROOT_ENV: str(root), "AUTOGRADER_PYTHON": sys.executable})
    done = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900)
    return done, json.loads((root / "results" / "results.json").read_text())


def test_the_zip_holds_setup_run_autograder_grader_solution_and_starter(autograder_source):
    for path in ("setup.sh", "run_autograder", "requirements.txt", "grader/rubric.toml",
                 "grader/instructor/gradescope.py", "solution/diffusion_hw/schedules.py",
                 "starter/diffusion_hw/schedules.py", "diffusion_hw_data/__init__.py"):
        assert (autograder_source / path).is_file(), path
    assert "BEGIN SOLUTION" in (autograder_source / "solution/diffusion_hw/schedules.py").read_text()
    assert "BEGIN SOLUTION" not in (autograder_source / "starter/diffusion_hw/schedules.py").read_text()
    for script in ("setup.sh", "run_autograder"):
        assert subprocess.run(["bash", "-n", str(autograder_source / script)]).returncode == 0
    where = subprocess.run([sys.executable, "-c", "import grader; print(grader.__file__)"], cwd=autograder_source,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, capture_output=True,
                           text=True)
    assert Path(where.stdout.strip()).resolve().is_relative_to(autograder_source.resolve())


def test_an_empty_submission_gets_a_valid_zero_result(tmp_path, autograder_source):
    root = fake_autograder(tmp_path, autograder_source)
    done, results = run_autograder(root)
    assert done.returncode == 0, done.stderr
    assert gradescope_spec_errors(results) == []
    assert results["score"] == 0 and "could not be graded" in results["output"]


@pytest.mark.slow
def test_run_autograder_gives_a_solved_notebook_full_marks_with_valid_results_and_reports(tmp_path, autograder_source):
    """The whole path: a notebook handed in, its marked cells over the starter, every check, the reports."""
    root = fake_autograder(tmp_path, autograder_source)
    cells = []
    for name in todo_files(ROOT / "starter" / "diffusion_hw"):
        cells.append(new_code_cell(f"%%writefile {name}\n" + (ROOT / "solution" / name).read_text()))
    nbformat.write(new_notebook(cells=cells), str(root / "submission" / "homework.ipynb"))
    done, results = run_autograder(root)
    assert done.returncode == 0, done.stderr
    assert gradescope_spec_errors(results) == []
    rubric = load_rubric()
    every_point = sum(c.points for c in rubric.checks())
    assert len(results["tests"]) == len(rubric.checks()) + 1  # and the staff-only full report
    assert results["score"] == every_point, [t["name"] for t in results["tests"] if t["status"] != "passed"]
    assert {t["visibility"] for t in results["tests"]} == {"visible", rubric.hidden_visibility, "hidden"}
    assert (root / "results" / "report.md").read_text().startswith(f"# homework: {every_point:g} / {every_point:g}")
    assert (root / "results" / "report.html").is_file()


def test_students_see_nothing_of_hidden_checks_before_publication():
    from grader.instructor.gradescope import STAFF_ENTRY, student_view

    def check(item, function, score, max_score, visibility):
        return {"name": f"{item} {function}", "score": score, "max_score": max_score,
                "status": "passed" if score == max_score else "failed", "output": "", "visibility": visibility,
                "tags": [], "extra_data": {"item": item, "function": function}}

    full = {"score": 7, "output": "alice: 7 / 14\n  1.2 cosine_beta_schedule: 3 / 7\nCLIP score: not computed (set "
                                  "DIFFUSION_HW_CLIP)\nSandbox: confined by bubblewrap ...",
            "tests": [check("1.2", "cosine_beta_schedule", 3, 3, "visible"),
                      check("1.2", "cosine_beta_schedule", 0, 4, "after_published"),
                      check("2.1", "q_sample", 4, 4, "after_published")]}
    shown = student_view(full)
    assert shown["output"].splitlines()[0].startswith("Visible checks: 3 / 3")
    assert "1.2 cosine_beta_schedule: 3 / 3" in shown["output"]
    for secret in ("7 / 14", "3 / 7", "q_sample", "CLIP", "Sandbox", "bubblewrap"):
        assert secret not in shown["output"], secret
    staff = [t for t in shown["tests"] if t["name"] == STAFF_ENTRY]
    assert len(staff) == 1 and staff[0]["visibility"] == "hidden" and staff[0]["output"] == full["output"]
    assert [t["visibility"] for t in shown["tests"][:3]] == ["visible", "after_published", "after_published"]
    assert gradescope_spec_errors(shown) == []


def test_an_unconfined_run_is_provisional_for_students_and_says_why_to_staff():
    from grader.instructor.gradescope import PROVISIONAL, student_view

    shown = student_view({"score": 0, "output": "bo: 0 / 0\nSandbox: NOT CONFINED: student code runs ...", "tests": []})
    assert PROVISIONAL in shown["output"] and shown["extra_data"]["provisional"] is True
    assert "NOT CONFINED" in shown["tests"][-1]["output"] and "NOT CONFINED" not in shown["output"]
    staff = shown["tests"][-1]
    assert staff["visibility"] == "hidden" and "provisional" in staff["tags"]
    assert staff["output"].startswith("PROVISIONAL, not a final score") and "Regrade" in staff["output"]
    confined = student_view({"score": 0, "output": "bo: 0 / 0\nSandbox: confined by bubblewrap", "tests": []})
    assert "provisional" not in confined["tests"][-1]["tags"] and "provisional" not in confined["extra_data"]
