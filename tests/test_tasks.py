"""`python3 tasks.py grade ...` is `grade ...`: arguments pass through unchanged, exit status too. `tasks.py lint`
fails on what ruff finds, and `tasks.py test` lints first and stops there when the lint fails."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from invoke import MockContext, Result

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


def _tasks_module():
    spec = importlib.util.spec_from_file_location("project_tasks", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["project_tasks"] = module  # Collection.from_module looks itself up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["project_tasks"]
    return module


def test_tasks_lint_fails_on_a_line_over_120_columns_and_passes_a_clean_file(tmp_path):
    clean, long = tmp_path / "clean.py", tmp_path / "long.py"
    clean.write_text("GREETING = 'hello'\n")
    long.write_text(f"GREETING = '{'hello ' * 20}'\n")
    assert tasks("lint", "--paths", str(clean)).returncode == 0
    done = tasks("lint", "--paths", str(long))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "E501" in done.stdout and "ruff found the problems listed above" in done.stderr


RUFF = re.compile(r".* -m ruff check ")
PYTEST = re.compile(r".* -m pytest ")


@pytest.mark.parametrize("fast", [False, True])
def test_tasks_test_fails_without_running_pytest_when_the_lint_fails(fast):
    context = MockContext(run={RUFF: Result(exited=1)})  # running pytest would raise NotImplementedError
    with pytest.raises(SystemExit) as stopped:
        _tasks_module().test.body(context, fast=fast)
    assert stopped.value.code not in (0, None)
    [command] = [call.args[0] for call in context.run.call_args_list]
    assert RUFF.match(command)


def test_tasks_test_runs_pytest_after_a_clean_lint_and_exits_with_its_status():
    context = MockContext(run={RUFF: Result(exited=0), PYTEST: Result(exited=3)})
    with pytest.raises(SystemExit) as stopped:
        _tasks_module().test.body(context, args="-k q_sample")
    assert stopped.value.code == 3
    commands = [call.args[0] for call in context.run.call_args_list]
    assert len(commands) == 2 and RUFF.match(commands[0]) and commands[1].endswith("-m pytest -k q_sample")
