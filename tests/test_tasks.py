"""`python3 tasks.py grade ...` is `grade ...`: arguments pass through unchanged, exit status too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tasks(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tasks.py"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_tasks_grade_passes_paths_with_spaces_and_out_through_unchanged(tmp_path):
    hand_in = tmp_path / "First Last_123"
    shutil.copytree(ROOT / "solution" / "diffusion_hw", hand_in / "diffusion_hw",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "out dir" / "First Last_123"
    done = tasks("grade", str(hand_in), "--public-only", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("First Last_123: ") and (out / "results.json").is_file()


def test_tasks_grade_without_a_submission_exits_2_like_grade():
    done = tasks("grade")
    assert done.returncode == 2
    assert "required: submission" in done.stderr


def test_tasks_grade_passes_quotes_dollars_and_spaces_through_unexpanded():
    odd = "/no/such/it's a \"hand-in\" $HOME `id`"
    done = tasks("grade", odd, "--out", "/no/such/out dir")
    assert done.returncode == 2  # the README: 2 when the grader cannot run, with a one-line reason
    assert done.stderr.strip() == f"grade: submission {odd} does not exist"


@pytest.mark.parametrize("arguments", [["batch"], ["batch", "somewhere"], ["calibrate"]])
def test_tasks_grade_subcommands_without_their_arguments_exit_2_with_one_line(arguments):
    done = tasks("grade", *arguments)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "required" in done.stderr, done.stderr


def test_tasks_grade_help_lists_every_subcommand():
    done = tasks("grade", "--help")
    assert done.returncode == 0, done.stderr
    usage = done.stdout.split("\n\n", 1)[0]
    for form in ("grade SUBMISSION", "grade batch DIR --out OUT", "grade calibrate DATASET"):
        assert form in usage, done.stdout
    batch = tasks("grade", "batch", "--help")
    assert batch.returncode == 0 and "--roster" in batch.stdout and "Ctrl-C" in batch.stdout
