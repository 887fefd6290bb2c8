"""The command line: one-line reasons and a non-zero status only when the grader itself cannot run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.cli import main
from tests.support.grading import run_grade

ROOT = Path(__file__).resolve().parents[1]


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse
        return int(exc.code)


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["/no/such/submission"], "does not exist"),
        ([], "the following arguments are required: submission"),
        (["solution", "--bogus"], "unrecognized arguments: --bogus"),
        (["batch", "/tmp"], "the following arguments are required: --out"),
        (["batch", "/no/such/folder", "--out", "/tmp/x"], "is not a folder of submissions"),
        (["batch", "/tmp", "--out", "/tmp/x", "--jobs", "0"], "--jobs must be at least 1"),
        (["solution", "--rubric", "/no/such/rubric.toml"], "rubric not found"),
        (["batch", "/tmp", "--out", "/tmp/x", "--roster", "/no/such/roster.csv"],
         "the roster /no/such/roster.csv cannot be read"),
    ],
)
def test_the_grader_refuses_bad_input_with_one_line(capsys, argv, reason):
    assert run_main(argv) == 2
    err = capsys.readouterr().err
    assert reason in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_rejected_submission_still_completes_grading_with_zero(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 definitely not a zip")
    run = run_grade(str(tmp_path / "bad.zip"), "--out", str(tmp_path / "out"), "--public-only")
    assert run.returncode == 0, run.stderr
    assert run.results["score"] == 0
    assert "could not be graded" in run.results["output"]
    assert all(t["status"] == "failed" and "not run" in t["output"] for t in run.results["tests"])


def test_quiet_on_a_rejected_hand_in_prints_the_total_and_the_reason(tmp_path):
    (tmp_path / "essay.txt").write_text("my homework is in the attached zip")
    run = run_grade(str(tmp_path / "essay.txt"), "--public-only", "--quiet")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines() == [run.stdout.strip()] and "essay: 0 /" in run.stdout
    assert run.stderr.strip() == ("The submission could not be graded: essay.txt is not a .zip archive: "
                                  "hand in a zip of the folder holding diffusion_hw/")


@pytest.mark.slow
def test_quiet_on_a_package_that_does_not_import_prints_the_total_and_the_file_and_line(tmp_path):
    package = tmp_path / "broken" / "diffusion_hw"
    shutil.copytree(ROOT / "starter" / "diffusion_hw", package, ignore=shutil.ignore_patterns("__pycache__"))
    with (package / "schedules.py").open("a") as schedules:
        schedules.write("\ndef unfinished(:\n")
    run = run_grade(str(package.parent), "--public-only", "--quiet")
    assert run.returncode == 0, run.stderr
    assert "broken: 0 /" in run.stdout
    [reason] = run.stderr.strip().splitlines()
    assert reason.startswith("The package does not import: SyntaxError in diffusion_hw/schedules.py line ")


def test_grade_assignments_prints_the_profile_names_one_per_line(capsys):
    from grader.rubric import DEFAULT_PROFILE, profile_names

    assert run_main(["assignments"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == profile_names() and out.splitlines()[0] == DEFAULT_PROFILE


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["solution", "--assignment", "no-such-homework"], "no assignment profile 'no-such-homework'"),
        (["solution", "--assignment"], "expected one argument"),
        (["solution", "--assignment", "cosine-cats", "--rubric", "grader/rubric.toml"], "both choose the rubric"),
    ],
)
def test_a_bad_assignment_is_refused_with_one_line(capsys, argv, reason):
    assert run_main(argv) == 2
    err = capsys.readouterr().err
    assert reason in err and len(err.strip().splitlines()) == 1, err


def test_grade_with_an_assignment_grades_that_profiles_checks_only():
    run = run_grade("solution", "--assignment", "image-fusion", "--public-only", "--quiet")
    assert run.returncode == 0, run.stderr
    from grader.rubric import load_profile

    public = sum(c.points for c in load_profile("image-fusion").checks(public_only=True))
    assert run.stdout.strip().startswith(f"solution: {public:g} / {public:g}")
