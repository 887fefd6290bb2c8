"""setup.sh's last step, lock_source.sh: the autograder's files become unreadable to the user student code
runs as (nobody, uid 65534), which matters where the sandbox cannot hide them (no namespaces), and
grading still works on the locked tree."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.instructor.gradescope import ROOT_ENV, SETUP_SH, build_gradescope_zip

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
SECRETS = ("solution/diffusion_hw/schedules.py", "grader/rubric.toml", "grader/grading-salt",
           "grader/checks/q_sample.py")


@pytest.fixture
def open_copy(tmp_path_factory):
    """The unpacked autograder zip, in a folder everyone may enter (as /autograder/source is before setup.sh
    locks it), removed afterwards."""
    archive = build_gradescope_zip(tmp_path_factory.mktemp("dist") / "gradescope.zip")
    parent = Path(tempfile.mkdtemp(prefix="autograder-"))
    parent.chmod(0o755)
    source = parent / "source"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(source)
    for directory, _, files in os.walk(source):  # what an unzip under umask 022 gives
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(Path(directory) / name, 0o755 if name.endswith(".sh") or name == "run_autograder" else 0o644)
    yield source
    shutil.rmtree(parent)


def readable_by_nobody(path: Path) -> bool:
    return subprocess.run(["cat", str(path)], user=NOBODY, group=NOBODY, extra_groups=[],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def lock(source: Path) -> None:
    done = subprocess.run(["bash", str(source / "lock_source.sh"), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_setup_sh_locks_the_source_as_its_last_step():
    lines = [line for line in SETUP_SH.strip().splitlines() if line and not line.startswith("#")]
    assert lines[-1] == "bash /autograder/source/lock_source.sh /autograder/source"


def test_after_the_lock_the_sandbox_user_cannot_read_the_solution_or_the_hidden_checks(open_copy):
    for name in SECRETS:
        assert (open_copy / name).is_file(), name
    as_root = os.geteuid() == 0  # as on Gradescope: root can check it as the sandbox's user
    if as_root:
        for name in SECRETS:
            assert readable_by_nobody(open_copy / name), f"{name}: the control case must be readable before the lock"
    lock(open_copy)
    for directory, dirnames, files in os.walk(open_copy):
        for name in dirnames + files:
            info = os.lstat(Path(directory) / name)
            assert info.st_mode & 0o077 == 0, f"{Path(directory) / name} is {stat.filemode(info.st_mode)}"
            assert info.st_uid == 0 or not as_root, f"{Path(directory) / name} is not root's"
    if as_root:
        for name in SECRETS:
            assert not readable_by_nobody(open_copy / name), name


@pytest.mark.slow
def test_grading_works_on_the_locked_source(open_copy, tmp_path):
    """run_autograder as root on the locked tree: the sandbox copies what its user needs world-readable."""
    lock(open_copy)
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "source").symlink_to(open_copy)
    schedules = (ROOT / "solution" / "diffusion_hw" / "schedules.py").read_text(encoding="utf-8")
    nbformat.write(new_notebook(cells=[new_code_cell("# diffusion_hw/schedules.py\n" + schedules)]),
                   str(root / "submission" / "homework.ipynb"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({ROOT_ENV: str(root), "AUTOGRADER_PYTHON": sys.executable})
    done = subprocess.run([str(open_copy / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] > 0, results["output"]
    assert "could not be graded" not in results["output"] and "failed" not in results["output"].splitlines()[0]
