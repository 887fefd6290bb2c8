#!/usr/bin/env python3
"""Project tasks: `python3 tasks.py TASK [ARGS]`, or `invoke TASK [ARGS]` inside the virtualenv.

The first `python3 tasks.py ...` on a machine creates `.venv/` and installs requirements.txt into it
(again whenever a requirements file changes), then runs the task with the virtualenv's Python.
`python3 tasks.py --list` lists the tasks.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
REQUIREMENT_FILES = ("requirements.txt", "requirements-nodeps.txt", "pyproject.toml")
STAMP = VENV / ".requirements.sha256"


# ---------------------------------------------------------------------------- bootstrap


def _requirements_digest() -> str:
    digest = hashlib.sha256()
    for name in REQUIREMENT_FILES:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _pip(*args: str) -> None:
    cmd = [str(VENV_PYTHON), "-m", "pip", "--disable-pip-version-check", "-q", *args]
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        sys.exit(f"tasks.py: '{' '.join(cmd[2:])}' failed; fix the error above, then run the task again")


def ensure_venv() -> None:
    """Create .venv and install the requirements into it, unless that is already up to date."""
    if sys.version_info < (3, 11):
        sys.exit(f"tasks.py: Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    if not VENV_PYTHON.exists():
        print(f"tasks.py: creating {VENV.relative_to(ROOT)}/ (first run only)", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = _requirements_digest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    print("tasks.py: installing requirements into .venv/ (torch takes a minute) ...", flush=True)
    _pip("install", "-r", "requirements.txt")
    _pip("install", "--no-deps", "-r", "requirements-nodeps.txt")
    _pip("install", "--no-deps", "-e", ".")
    STAMP.write_text(digest)


def _running_in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


if __name__ == "__main__" and not _running_in_venv():
    ensure_venv()
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])


# ---------------------------------------------------------------------------- tasks

from invoke import Collection, Program, task  # noqa: E402  (importable only inside .venv)


def _python(c, args: str, **kwargs):
    return c.run(f"{sys.executable} {args}", pty=False, **kwargs)


def _ruff(c, paths: str = "."):
    """`ruff check PATHS` with the rules of pyproject.toml's [tool.ruff] (given explicitly, so a path outside
    the tree is held to the same rules); returns invoke's Result, whose .exited is ruff's exit status."""
    return _python(c, f"-m ruff check --config {ROOT / 'pyproject.toml'} {paths}", warn=True)


LINT_FAILED = ("tasks.py: ruff found the problems listed above. Wrap long lines by hand; "
               "`.venv/bin/ruff check --fix .` fixes import order and unused imports. Then run the task again.")


@task(help={"paths": "files or folders to check instead of the whole tree (space-separated)"})
def lint(c, paths="."):
    """Lint with ruff (pyproject.toml's [tool.ruff]: pycodestyle, pyflakes, import order, 120 columns).

    `test` runs this first and fails when it fails, so CI fails on a lint error too."""
    c.config.run.echo = True
    if _ruff(c, paths).exited != 0:
        sys.exit(LINT_FAILED)


@task(help={"args": "extra pytest arguments, e.g. '-k q_sample -x'",
            "fast": "leave out the tests marked slow (pytest -m 'not slow'): the edit-test loop"})
def test(c, args="", fast=False):
    """Lint (ruff), then run the whole test suite: what CI runs; fails when either fails."""
    c.config.run.echo = True
    if _ruff(c).exited != 0:
        sys.exit(LINT_FAILED)
    tier = "-m 'not slow' " if fast else ""
    result = _python(c, f"-m pytest {tier}{args}", warn=True)
    sys.exit(result.exited)


ASSIGNMENT_HELP = "an assignment profile (`python3 tasks.py grade assignments` lists them); default: the default one"


@task(help={"quiet": "print nothing but errors", "assignment": ASSIGNMENT_HELP + " (without it: every profile)"})
def starter(c, quiet=False, assignment=None):
    """Regenerate starter/ from solution/ (TODO bodies become NotImplementedError stubs): starter/diffusion_hw for
    the default profile, starter/NAME/diffusion_hw for every other (grader/assignments/)."""
    sys.path.insert(0, str(ROOT))
    from grader.instructor.starter import starter_folder, write_all_starters, write_profile_starter

    written = write_all_starters() if assignment is None else {assignment: write_profile_starter(assignment)}
    if quiet:
        return
    for name, todos in written.items():
        print(f"{starter_folder(name).relative_to(ROOT)}/ regenerated from solution/ with {len(todos)} TODOs:")
        for todo in todos:
            print(f"  TODO {todo.number:5} {todo.name:28} {todo.path}:{todo.line}")


@task(
    help={
        "steps": "training steps",
        "image_size": "digit image side in pixels",
        "out": "folder for samples, plots and the checkpoint",
    }
)
def train(c, steps=400, image_size=16, out="runs/train-digits"):
    """Short CPU training run on the built-in digits: saves samples, plots and a checkpoint."""
    _python(c, f"-m grader.instructor.reference_training --steps {steps} --image-size {image_size} --out {out}")


@task(help={"submission": "everything after `grade` goes to the `grade` command unchanged"})
def grade(c, submission=""):
    """`python3 tasks.py grade ARGS...` is `grade ARGS...` (arguments pass through untouched)."""
    _grade_passthrough([submission] if submission else [])


def _grade_passthrough(arguments: list[str]) -> None:
    """Replace this process with `python -m grader ARGUMENTS`: quoting, spaces, --out and the exit
    status are the grade command's own."""
    os.execv(sys.executable, [sys.executable, "-m", "grader", *arguments])


@task(help={"assignment": ASSIGNMENT_HELP})
def demo(c, assignment=None):
    """The main job: grade the reference solution and the blank starter, and show both reports (--assignment:
    with that profile's rubric and its starter)."""
    flag, folder = (f" --assignment {shlex.quote(assignment)}", f"demo-{assignment}-") if assignment else ("", "demo-")
    for name in ("solution", "starter"):
        print(f"\n=== grade {name}{flag} ===", flush=True)
        result = _python(c, f"-m grader {name}{flag} --out {shlex.quote(f'results/{folder}{name}')}", warn=True)
        if result.exited != 0:
            sys.exit(result.exited)


@task(help={"what": "which benchmark: 'grade', 'smoke', 'samples' or 'load'",
            "runs": "load: graded runs under load (default 3)", "per_core": "load: CPU burners per core (default 4)"})
def bench(c, what="grade", runs=3, per_core=4):
    """Benchmarks that print timings and ratios against an anchor measured in the same run."""
    extra = f" --runs {int(runs)} --per-core {int(per_core)}" if what == "load" else ""
    _python(c, f"-m grader.instructor.bench {what}{extra}")


@task(help={"out": "where to write the zip (default dist/handout.zip, with --assignment dist/handout-NAME.zip)",
            "assignment": ASSIGNMENT_HELP})
def handout(c, out=None, assignment=None):
    """Build the student zip: starter, public checks, data code, notebooks, README (no solution, no hidden check)."""
    out = out or (f"dist/handout-{assignment}.zip" if assignment else "dist/handout.zip")
    _python(c, f"-m grader.instructor.handout {out}"
            + (f" --assignment {shlex.quote(assignment)}" if assignment else ""))


@task(help={"out": "where to write the zip (default dist/gradescope.zip, with --assignment dist/gradescope-NAME.zip)",
            "assignment": ASSIGNMENT_HELP})
def gradescope(c, out=None, assignment=None):
    """Build the Gradescope autograder zip (setup.sh, run_autograder, grader, solution, starter)."""
    out = out or (f"dist/gradescope-{assignment}.zip" if assignment else "dist/gradescope.zip")
    _python(c, f"-m grader.instructor.gradescope build {out}"
            + (f" --assignment {shlex.quote(assignment)}" if assignment else ""))


@task(name="ci-gpu", help={"allow_cpu": "run even without CUDA", "out": "folder for results.json and the reports",
                           "no_smoke": "leave out the training smoke run"})
def ci_gpu(c, allow_cpu=False, out="results/ci-gpu", no_smoke=False):
    """Grade the solution fully (smoke run included) on this GPU machine; fail unless full marks (the GPU workflow)."""
    flags = (" --allow-cpu" if allow_cpu else "") + (" --no-smoke" if no_smoke else "")
    result = _python(c, f"-m grader.instructor.course_ci --out {out}{flags}", warn=True)
    sys.exit(result.exited)


namespace = Collection.from_module(sys.modules[__name__])

if __name__ == "__main__":
    if sys.argv[1:2] == ["grade"]:  # not through invoke's parser, which knows none of grade's options
        _grade_passthrough(sys.argv[2:])
    Program(namespace=namespace, binary="python3 tasks.py").run(["tasks.py", *sys.argv[1:]])
