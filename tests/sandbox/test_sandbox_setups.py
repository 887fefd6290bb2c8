"""The sandbox holds in every supported set-up: root, a non-root user, either confinement kind (so
also without bubblewrap), and refuses to start as root when workers could not drop to uid 65534
(a runtime other users cannot read). In none of them can student code hold a capability, mount,
remount a read-only bind writable, write outside its call directory, read a staff-only file,
create a device node, an anonymous memory file, a netfilter socket or a new namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.sandbox import HERE, REPOSITORY, kind_or_skip, make_submission_tree

AS_ROOT = os.geteuid() == 0
OTHER_UID = 1000  # the non-root user the root test run switches to (setpriv needs no passwd entry)
KINDS = ("bubblewrap", "unshare")


def as_user(command: list[str], home: Path, uid: int | None) -> subprocess.CompletedProcess:
    """Run `command` as `uid` (None: as this process's user), with HOME and TMPDIR in `home`."""
    env = dict(os.environ, HOME=str(home), TMPDIR=str(home), PYTHONPATH=str(REPOSITORY))
    env.pop("GRADER_SANDBOX_CONFINEMENT", None)
    if uid is not None:
        command = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=home)


@pytest.fixture
def shared_home():
    """A scratch folder any user can enter, owned by OTHER_UID when this run is root."""
    home = Path(tempfile.mkdtemp(prefix="grader-setup-", dir="/tmp"))
    home.chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def checkout_enterable():
    """The checkout as a non-root instructor's own: other users may pass through the folders above it.

    A clone in a folder only root may enter (`mktemp -d` makes it 0700) would stop OTHER_UID from
    reading the grader at all, which is the test machine's set-up, not one the grader supports for a
    non-root user (who owns their checkout). Those folders get o+x (enter, not list) for the test and
    their modes back after it."""
    opened = []
    for folder in [*reversed(REPOSITORY.resolve().parents), REPOSITORY.resolve()] if AS_ROOT else []:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod((mode & 0o7777) | 0o001)
            opened.append((folder, mode & 0o7777))
    yield
    for folder, mode in reversed(opened):
        folder.chmod(mode)


def _chown_tree(root: Path, uid: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.lchown(path, uid, uid)


def _users() -> list[int | None]:
    return [None, OTHER_UID] if AS_ROOT and shutil.which("setpriv") else [None]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("uid", _users(), ids=lambda uid: "this-user" if uid is None else f"uid-{uid}")
@pytest.mark.slow
def test_no_escape_works_in_this_set_up(kind, uid, shared_home, checkout_enterable):
    kind_or_skip(kind)
    make_submission_tree(shared_home)
    if uid is not None:
        _chown_tree(shared_home, uid)
        (shared_home / "secret").chmod(0o700)  # staff-only for everyone but its owner... who is not the worker
    done = as_user([sys.executable, str(HERE / "setup_check.py"), "escapes", kind, str(shared_home)], shared_home, uid)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "ok", report["message"]
    assert report["flags"] and not {name for name, worked in report["flags"].items() if worked}, report
    assert ("uid 65534" in report["detail"]) == (report["uid"] == 0), report["detail"]


def test_the_escape_test_finds_escapes_where_nothing_confines_the_code(shared_home, checkout_enterable):
    uid = OTHER_UID if AS_ROOT else None
    if AS_ROOT and not shutil.which("setpriv"):
        pytest.skip("setpriv is needed to try escapes as a non-root user")
    if uid is not None:
        _chown_tree(shared_home, uid)
    done = as_user([sys.executable, str(HERE / "setup_check.py"), "unconfined"], shared_home, uid)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])["escapes"]
    assert any("reads a staff-only path" in item for item in found), found
    assert any("memfd_create" in item for item in found), found


@pytest.mark.skipif(not AS_ROOT, reason="the refusal concerns a grader running as root")
@pytest.mark.slow
def test_as_root_with_a_runtime_others_cannot_read_grading_refuses_in_one_line(tmp_path):
    runtime = tmp_path / "runtime"
    old_umask = os.umask(0o077)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(runtime)], check=True, timeout=120)
    finally:
        os.umask(old_umask)
    site = next(runtime.glob("lib/python3*/site-packages"))
    (site / "main-runtime.pth").write_text("\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n")
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    env.pop("GRADER_SANDBOX_CONFINEMENT", None)
    done = subprocess.run([str(runtime / "bin" / "python"), "-m", "grader", "solution", "--quiet"], cwd=REPOSITORY,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""  # nothing was graded
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not be switched to the unprivileged uid 65534" in lines[0]
    assert f"chmod -R o+rX {runtime}" in lines[0]
