"""What confined student code can reach: files, the network, processes. Run for each kind that works
here; a kind that does not work is skipped with its reason (or fails, if GRADER_SANDBOX_REQUIRE names it)."""

from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from grader.sandbox import Sandbox, check_confinement, detect_confinement
from tests.support.sandbox import PROBES, REPOSITORY, TEST_LIMITS, kind_or_skip, make_submission_tree

AS_ROOT = sys.platform.startswith("linux") and os.geteuid() == 0


@pytest.fixture(scope="module", params=["bubblewrap", "unshare"])
def confined(request, open_sandbox):
    kind_or_skip(request.param)
    return open_sandbox(request.param)


def _flags(result, prefix: str, count: int) -> list[int]:
    assert result.status == "ok", result.message
    return [int(result.outputs[f"{prefix}_{index}"].item()) for index in range(count)]


def test_confinement_reports_its_kind(confined):
    sb, _ = confined
    assert sb.confinement.kind == sb._kind
    assert "confined by" in sb.confinement.detail
    if AS_ROOT:
        assert "uid 65534" in sb.confinement.detail and "Reduced" not in sb.confinement.detail


def test_workers_run_as_pid_1_of_their_own_namespace_without_network(confined):
    sb, _ = confined
    result = sb.call("whoami")
    assert result.ok, result.message
    assert result.outputs["pid"].item() == 1
    assert result.outputs["visible_pids"].item() == 1
    assert result.outputs["only_loopback"].item() is True
    if AS_ROOT:
        assert result.outputs["uid"].item() == 65534


def test_student_cannot_read_the_solution_the_grader_or_other_submissions(confined):
    sb, root = confined
    secrets_ = [
        REPOSITORY / "solution",
        REPOSITORY / "solution" / "diffusion_hw" / "__init__.py",
        REPOSITORY / "grader",
        REPOSITORY / "grader" / "sandbox" / "sandbox.py",
        REPOSITORY / "tests" / "sandbox" / "conftest.py",
        REPOSITORY,
        root / "secret" / "answers.txt",
        root / "bob" / "diffusion_hw" / "__init__.py",
        root,
        Path("/etc/shadow"),
        Path("/submission/diffusion_hw/stolen_helpers.py"),  # symlink to solution/diffusion_hw/helpers.py
    ]
    controls = [Path("/submission/diffusion_hw/__init__.py"), Path("/sandbox/probes.py")]
    paths = [str(path) for path in secrets_ + controls]
    # The runtime may live inside the repository (a .venv); that one entry is meant to be visible.
    prefix = Path(sys.prefix).resolve()
    runtime = {prefix.relative_to(REPOSITORY).parts[0]} if prefix.is_relative_to(REPOSITORY) else set()
    flags = _flags(sb.call("try_reads", {}, {"paths": paths, "ignore": sorted(runtime)}), "read", len(paths))
    readable = [path for path, flag in zip(paths, flags[: len(secrets_)]) if flag]
    assert readable == [], f"student code could read {readable}"
    assert flags[len(secrets_):] == [1, 1], "the submission and the probes file must stay readable"


def test_student_cannot_write_outside_its_call_directory(confined):
    sb, root = confined
    token = secrets.token_hex(6)
    host_targets = [
        REPOSITORY / f"pwned-{token}.txt",
        REPOSITORY / "grader" / "sandbox" / f"pwned-{token}.py",
        root / f"pwned-{token}.txt",
        root / "alice" / "diffusion_hw" / f"pwned_{token}.py",
        Path("/tmp") / f"pwned-{token}.txt",  # the sandbox's /tmp is private: may succeed, must not persist
    ]
    inside_only = [f"/submission/diffusion_hw/pwned_{token}.py", f"/usr/pwned-{token}", f"/sandbox/pwned-{token}"]
    control = [f"./ok-{token}.txt"]
    paths = [str(path) for path in host_targets] + inside_only + control
    flags = _flags(sb.call("try_writes", {}, {"paths": paths}), "wrote", len(paths))
    persisted = [str(path) for path in host_targets if path.exists()]
    assert persisted == [], f"student code wrote {persisted}"
    assert flags[: len(host_targets) - 1] == [0] * (len(host_targets) - 1)
    assert flags[len(host_targets): -1] == [0] * len(inside_only)
    assert flags[-1] == 1, "the call's own directory must stay writable"


class Listener:
    """A TCP server on the host's 127.0.0.1 that records whatever connects to it."""

    def __init__(self) -> None:
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.accepted: list[bytes] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            connection.settimeout(2)
            try:
                self.accepted.append(connection.recv(100))
            except OSError:
                self.accepted.append(b"")
            connection.close()

    def __enter__(self) -> "Listener":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.server.close()


def test_student_cannot_reach_the_network(confined):
    sb, _ = confined
    with Listener() as listener:
        result = sb.call("try_connect", {}, {"host": "127.0.0.1", "port": listener.port})
    assert result.ok, result.message
    assert result.outputs["connected"].item() == 0
    assert listener.accepted == []


def _processes_of_uid(uid: int, below: int) -> list[int]:
    """Processes of `uid` that descend from process `below` (other gradings may run beside this one)."""
    parents, uids = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as status:
                    for line in status:
                        if line.startswith("PPid:"):
                            parents[int(entry)] = int(line.split()[1])
                        elif line.startswith("Uid:"):
                            uids[int(entry)] = int(line.split()[1])
            except OSError:
                pass

    def descends(pid: int) -> bool:
        for _ in range(64):
            pid = parents.get(pid, 0)
            if pid == below:
                return True
            if pid <= 1:
                return False
        return False

    return [pid for pid, owner in uids.items() if owner == uid and descends(pid)]


def test_fork_bomb_is_contained_and_leaves_nothing_behind(confined):
    sb, _ = confined
    # Bounded by count (100 forks at most, children sleep): harmless even if every limit failed.
    result = sb.call("fork_bomb", {}, {"attempts": 100, "child_seconds": 30})
    assert result.status in ("ok", "error", "timeout"), result.message
    if AS_ROOT:
        assert result.ok and result.outputs["started"].item() < TEST_LIMITS.max_processes
        deadline = time.monotonic() + 30
        while _processes_of_uid(65534, sb.fork_server_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_of_uid(65534, sb.fork_server_pid) == [], "processes from the call survived it"
    assert sb.call("double", {"x": torch.ones(1)}).ok


def test_killing_every_visible_process_hurts_nothing_outside_the_call(confined):
    sb, _ = confined
    server = sb.fork_server_pid
    result = sb.call("kill_everything")
    assert result.ok, result.message
    assert result.outputs["found_victims"].item() == 0
    assert sb.fork_server_pid == server and sb.restarts == 0
    assert sb.call("double", {"x": torch.ones(1)}).ok


def test_a_confined_kind_is_available_on_linux_as_root():
    if not AS_ROOT:
        pytest.skip("only promised on Linux as root (CI and the GPU machine)")
    assert detect_confinement().kind in ("bubblewrap", "unshare"), detect_confinement().detail


def test_detection_prefers_bubblewrap_then_unshare():
    kinds = [kind for kind in ("bubblewrap", "unshare") if check_confinement(kind)[0]]
    expected = kinds[0] if kinds else "none"
    assert detect_confinement().kind == expected


@pytest.mark.slow
def test_unconfined_sandbox_says_so_and_the_checks_above_would_notice(tmp_path):
    """Under kind "none" the same probes read the secret and reach the listener: the confinement
    tests can fail, they do not pass vacuously."""
    alice = make_submission_tree(tmp_path)
    with Sandbox(alice, limits=TEST_LIMITS, probes_module=PROBES, confinement="none") as sb:
        assert sb.confinement.kind == "none"
        assert sb.confinement.detail.startswith("NOT CONFINED")
        secret = str(tmp_path / "secret" / "answers.txt")
        assert _flags(sb.call("try_reads", {}, {"paths": [secret]}), "read", 1) == [1]
        with Listener() as listener:
            result = sb.call("try_connect", {}, {"host": "127.0.0.1", "port": listener.port})
        assert result.ok and result.outputs["connected"].item() == 1
        assert listener.accepted == [b"hello from the sandbox"]
        # fresh processes and limits still hold
        assert sb.call("set_state").ok
        assert sb.call("get_state").outputs["counter"].item() == 0
        assert sb.call("loop_forever").status == "timeout"
        assert sb.call("double", {"x": torch.ones(1)}).ok


@pytest.mark.parametrize(
    ("kind", "requested", "worker_uid", "euid", "refused"),
    [
        ("none", None, None, 0, True),  # fell back to none, as root, and could not drop to nobody
        ("none", "none", None, 0, False),  # asked for by name: the instructor's choice
        ("none", None, 65534, 0, False),  # unconfined, but not root
        ("none", None, None, 1000, False),  # the grader's own unprivileged user: no escalation
        ("bubblewrap", None, None, 0, True),  # confined, but workers would be root: never
        ("bubblewrap", "bubblewrap", None, 0, True),
        ("unshare", None, 65534, 0, False),
        ("bubblewrap", None, None, 1000, False),  # the grader's own user, in a user namespace
    ],
)
def test_refusal_to_run_student_code_as_root(kind, requested, worker_uid, euid, refused):
    from grader.sandbox.confinement import refusal_to_run_as_root

    reason = refusal_to_run_as_root(kind, requested, worker_uid, euid)
    assert (reason is not None) == refused
    if refused and kind == "none":
        assert "GRADER_SANDBOX_CONFINEMENT=none" in reason and "bubblewrap" in reason
    elif refused:  # confined kinds: no way to accept it, only to fix the runtime
        assert "never runs as root" in reason and "chmod -R o+rX" in reason


@pytest.mark.slow
def test_a_fallback_that_would_run_student_code_as_root_refuses_to_start(tmp_path, monkeypatch):
    """Simulate a machine where no confinement works and the uid switch fails: the sandbox must not
    start (as root), unless "none" is asked for by name; as another user it starts, reported."""
    import grader.sandbox.sandbox as sandbox_module
    from grader.sandbox import Confinement, SandboxError

    real_config = sandbox_module.zygote_config
    monkeypatch.setattr(sandbox_module, "detect_confinement", lambda: Confinement("none", "NOT CONFINED (simulated)"))
    monkeypatch.setattr(sandbox_module, "zygote_config", lambda **kw: dict(real_config(**kw), worker_uid=None))
    monkeypatch.delenv("GRADER_SANDBOX_CONFINEMENT", raising=False)
    alice = make_submission_tree(tmp_path)
    if AS_ROOT:
        with pytest.raises(SandboxError, match="GRADER_SANDBOX_CONFINEMENT=none"):
            Sandbox(alice, limits=TEST_LIMITS, probes_module=PROBES).open()
    else:
        with Sandbox(alice, limits=TEST_LIMITS, probes_module=PROBES) as sb:
            assert sb.confinement.kind == "none"
    with Sandbox(alice, limits=TEST_LIMITS, probes_module=PROBES, confinement="none") as sb:
        assert sb.confinement.detail.startswith("NOT CONFINED")
        assert f"uid {os.geteuid()}" in sb.confinement.detail
