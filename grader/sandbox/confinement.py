"""Which confinement works on this machine, and the launcher command for each kind.

  bubblewrap  `bwrap` builds the view of filesystem_view.py in new mount/PID/network/IPC/UTS
              namespaces; preferred.
  unshare     util-linux `unshare` makes the same namespaces and the zygote builds the same view
              itself (bind mounts + pivot_root); for machines without bubblewrap (needs root, or
              unprivileged user namespaces).
  none        no confinement: student code can read every file this user can and reach the network.
              Only time, memory and process limits apply. `Confinement.detail` says so plainly.
              As root, workers still switch to uid 65534; if they cannot, the grader refuses to fall
              back to running student code as root unless "none" was asked for by name
              (`refusal_to_run_as_root`).

Inside both confined kinds each worker additionally gets its own PID, mount and IPC namespaces, a
fresh /tmp, and (when the grader runs as root) uid 65534; see zygote.py.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .filesystem_view import MountOp, build_view, write_etc

Kind = Literal["bubblewrap", "unshare", "none"]
KINDS: tuple[str, ...] = ("bubblewrap", "unshare", "none")
UNPRIVILEGED_UID = 65534
# The fork server's capabilities under bubblewrap: mounts and namespaces for each worker, switching
# it to UNPRIVILEGED_UID and emptying its capability sets, handing it its directory, signalling it;
# CAP_SETFCAP lets a worker map uid 0 into its child user namespace (the user-namespace kinds).
FORK_SERVER_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_CHOWN", "CAP_KILL",
                            "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETFCAP")
ZYGOTE_SOURCE = Path(__file__).with_name("zygote.py")


@dataclass(frozen=True)
class Confinement:
    kind: Kind
    detail: str


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def unshare_path() -> str | None:
    return shutil.which("unshare")


def launcher_prefix(kind: str, ops: list[MountOp], new_root: Path) -> tuple[list[str], dict | None]:
    """(command prefix, root plan for the zygote to build itself) for a confinement kind."""
    if kind == "bubblewrap":
        args = [bwrap_path() or "bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
        if os.geteuid() != 0:
            args += ["--unshare-user", "--uid", "0", "--gid", "0"]
        args += ["--cap-drop", "ALL"]
        for capability in FORK_SERVER_CAPABILITIES:  # what the zygote needs to confine workers, who drop them all
            args += ["--cap-add", capability]
        for op in ops:
            if op.kind in ("ro-bind", "bind", "dev-bind"):
                args += [f"--{op.kind}", op.src, op.dst]
            elif op.kind == "tmpfs":
                if op.mode:
                    args += ["--perms", op.mode]
                if op.size:
                    args += ["--size", str(op.size)]
                args += ["--tmpfs", op.dst]
            elif op.kind == "dir":
                args += ["--perms", op.mode or "0755", "--dir", op.dst]
            elif op.kind == "symlink":
                args += ["--symlink", op.src, op.dst]
            elif op.kind in ("proc", "dev"):
                args += [f"--{op.kind}", op.dst]
            else:
                raise ValueError(op.kind)
        args += ["--remount-ro", "/", "--chdir", "/sandbox", "--"]
        return args, None
    if kind == "unshare":
        args = [unshare_path() or "unshare", "--mount", "--net", "--pid", "--ipc", "--uts", "--fork",
                "--kill-child", "--propagation", "private"]
        if os.geteuid() != 0:
            args += ["--user", "--map-root-user"]
        return args + ["--"], {"new_root": str(new_root), "mounts": [op.as_dict() for op in ops]}
    return [], None


def zygote_environment(threads: int, device: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "XDG_CACHE_HOME": "/tmp/.cache",
        "TORCH_HOME": "/tmp/.torch",
        "MPLCONFIGDIR": "/tmp/.matplotlib",
        "MPLBACKEND": "Agg",  # no display in the sandbox; preloaded matplotlib must not look for one
    }
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                 "VECLIB_MAXIMUM_THREADS"):
        env[name] = str(threads)  # before torch/numpy load: their thread pools size themselves at start
    if device.startswith("cuda"):
        for name in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
            if name in os.environ:
                env[name] = os.environ[name]
        env.setdefault("CUDA_MODULE_LOADING", "LAZY")
    return env


# Imported once by the fork server, so that each worker (a fork of it) finds them in memory instead of
# importing them again for every call. Only third-party modules: the student's package is always
# imported fresh, in the worker. A module missing from the runtime is skipped.
PRELOAD = (
    "numpy",
    "PIL.Image",
    "torchvision",
    "torchvision.utils",
    "matplotlib",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "matplotlib.pyplot",
)


def zygote_config(*, mode: str, kind: str, root_plan: dict | None, submission: str, probes: str,
                  probes_name: str, io_dir: str, must_read: list[str], threads: int, memory_bytes: int,
                  max_processes: int, max_file_bytes: int, tmp_bytes: int, device: str,
                  package: str, staff_paths: list[str] | None = None) -> dict:
    return {
        "mode": mode,
        "kind": kind,
        "root_plan": root_plan,
        "submission": submission,
        "probes": probes,
        "probes_name": probes_name,
        "io_dir": io_dir,
        "call_mount": "/sandbox/call",
        "isolate_workers": kind != "none",
        "worker_uid": UNPRIVILEGED_UID if os.geteuid() == 0 else None,
        "must_read": must_read,
        "threads": threads,
        "memory_bytes": memory_bytes,
        "max_processes": max_processes,
        "max_file_bytes": max_file_bytes,
        "tmp_bytes": tmp_bytes,  # /tmp and /dev/shm together, per call
        "call_bytes": max_file_bytes,  # the call's directory (a tmpfs in the confined kinds)
        "tmpfs_budget": tmp_bytes + (max_file_bytes if kind != "none" else 0),
        "device": device,
        "package": package,
        "preload": list(PRELOAD),
        # files student code must not read (the escape test tries): the grader's and the solution's
        "staff_paths": staff_paths if staff_paths is not None else staff_only_files(),
    }


def staff_only_files() -> list[str]:
    """Files of the grading repository that exist on the host and must stay unreadable inside."""
    repository = ZYGOTE_SOURCE.resolve().parents[2]
    candidates = [repository / "grader" / "__init__.py", repository / "grader" / "rubric.toml",
                  repository / "solution" / "diffusion_hw" / "__init__.py"]
    return [str(path) for path in candidates if path.is_file()]


def refusal_to_run_as_root(kind: str, requested: str | None, worker_uid: int | None, euid: int) -> str | None:
    """Why the sandbox must not start (None: it may), for a fallback that would make student code root.

    Falling back to "none" is allowed (reported as NOT CONFINED), but not when, in addition, the
    workers could not drop to an unprivileged uid and the grader runs as root: student code would
    then run with every right of the grader. An instructor may still choose that by asking for
    GRADER_SANDBOX_CONFINEMENT=none by name.
    """
    if euid != 0 or worker_uid is not None:
        return None
    if kind != "none":
        return (f"student code could not be switched to the unprivileged uid {UNPRIVILEGED_UID} inside the sandbox "
                "(usually: the Python runtime, a virtualenv made under umask 077, is not readable by other users), "
                f"and it never runs as root; make the runtime readable (chmod -R o+rX {sys.prefix}) or recreate it "
                "with umask 022, then grade again")
    if requested == "none":
        return None
    return ("no confinement works here (neither bubblewrap nor unshare) and student code could not be switched "
            f"to the unprivileged uid {UNPRIVILEGED_UID}, so it would run as root with all of the grader's rights; "
            "refusing. Install bubblewrap (apt-get install -y bubblewrap), or run the grader where user "
            "namespaces are allowed; to accept running student code as root anyway, set "
            "GRADER_SANDBOX_CONFINEMENT=none.")


def describe(kind: str, isolation: dict, reasons: list[str] | None = None) -> str:
    """A plain sentence on what student code can and cannot do under this confinement."""
    uid = isolation.get("uid")
    who = f"as uid {uid}" if uid is not None else f"as the grader's own user (uid {os.geteuid()})"
    per_call = []
    if isolation.get("pid_ns"):
        per_call.append("its own PID namespace (every process it starts ends with the call)")
    if isolation.get("mount_ns"):
        per_call.append("a fresh private /tmp")
    reduced = []
    if uid is None:
        reduced.append("it runs " + who + ", so the process limit (RLIMIT_NPROC) "
                       + ("is not enforced for root" if os.geteuid() == 0 else "counts all of that user's processes"))
    if kind != "none" and not isolation.get("pid_ns"):
        reduced.append("processes it starts are ended by killing the process group only")
    notes = isolation.get("notes") or []
    if kind == "none":
        why = "; ".join(reasons or []) or "no confinement was requested"
        return ("NOT CONFINED: student code runs " + who + " with read access to every file that user can "
                "read (the grader, the solution, other submissions) and with network access; only the "
                "time, memory and process limits apply, and each call is still a fresh process. "
                f"Why: {why}. To confine it, install bubblewrap (apt-get install -y bubblewrap)"
                + (" or util-linux's unshare." if os.geteuid() == 0 else ", or run the grader as root."))
    tool = ("bubblewrap (bwrap)" if kind == "bubblewrap"
            else "unshare (util-linux) and the fork server's own bind mounts")
    text = (f"confined by {tool}: student code runs {who}, with no network (own network namespace), seeing "
            "only the submission (read-only), the Python runtime and system libraries (read-only), the "
            "probes file and its own call directory; the grader, the solution and other submissions are "
            "not visible. Each call gets " + (", ".join(per_call) or "a fresh process") + ".")
    if reduced:
        text += " Reduced: " + "; ".join(reduced) + "."
        if notes:
            text += " (" + "; ".join(notes[-2:]) + ")"
    return text


def run_self_test(kind: str, timeout_s: float = 60.0) -> tuple[bool, str, dict]:
    """Start the zygote in self-test mode under `kind`; (works, reason, isolation it reported)."""
    if kind == "bubblewrap" and not bwrap_path():
        return False, "bubblewrap (bwrap) is not installed", {}
    if kind == "unshare" and not unshare_path():
        return False, "unshare (util-linux) is not installed", {}
    if not sys.platform.startswith("linux") and kind != "none":
        return False, f"{kind} needs Linux (this is {sys.platform})", {}
    with tempfile.TemporaryDirectory(prefix="grader-sandbox-selftest-") as scratch:
        work = Path(scratch)
        work.chmod(0o711)
        (work / "submission").mkdir(mode=0o755)
        (work / "io").mkdir(mode=0o711)
        probes = work / "probes.py"
        probes.write_text("PROBES = {}\n")
        probes.chmod(0o644)
        zygote = work / "zygote.py"
        shutil.copyfile(ZYGOTE_SOURCE, zygote)
        zygote.chmod(0o644)
        write_etc(work / "etc")
        ops = build_view(submission=work / "submission", probes=probes, zygote=zygote, io_dir=work / "io",
                         etc_dir=work / "etc", device="cpu", tmp_bytes=16 << 20)
        prefix, plan = launcher_prefix(kind, ops, work / "root")
        inside = kind != "none"
        cfg = zygote_config(mode="self-test", kind=kind, root_plan=plan,
                            submission="/submission" if inside else str(work / "submission"),
                            probes="/sandbox/probes.py" if inside else str(probes), probes_name="probes.py",
                            io_dir="/sandbox/io" if inside else str(work / "io"),
                            must_read=[os.path.realpath(sys.executable)] + ([] if inside else [str(probes)]),
                            threads=1, memory_bytes=1 << 30, max_processes=64, max_file_bytes=1 << 20,
                            tmp_bytes=16 << 20, device="cpu", package="diffusion_hw")
        script = "/sandbox/zygote.py" if kind == "bubblewrap" else str(zygote)
        command = prefix + [sys.executable, "-I", "-B", script, json.dumps(cfg)]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s, env=zygote_environment(1, "cpu"),
                                  cwd=scratch, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"{kind} could not start: {exc}", {}
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace").strip().splitlines()
            return False, f"{kind} failed (exit {done.returncode}): {' | '.join(stderr[-3:])}", {}
        try:
            isolation = json.loads(done.stdout.decode().strip().splitlines()[-1])["isolation"]
        except (ValueError, IndexError, KeyError):
            return False, f"{kind} self-test printed no result", {}
    if kind == "none":
        return True, "", isolation
    if not isolation.get("mount_ns"):
        notes = "; ".join(isolation.get("notes", []))
        return False, f"{kind} works but workers cannot get their own mount namespace: " + notes, isolation
    if isolation.get("escapes"):
        return False, f"{kind} does not hold here: student code " + "; ".join(isolation["escapes"]), isolation
    if [name for name in isolation.get("network_interfaces", []) if name != "lo"]:
        return False, f"{kind} did not isolate the network", isolation
    return True, "", isolation


@functools.lru_cache(maxsize=None)
def check_confinement(kind: str) -> tuple[bool, str, str]:
    """(works, reason it does not, description) for one kind; cached for the life of the process."""
    if kind not in KINDS:
        raise ValueError(f"unknown confinement kind {kind!r}; expected one of {KINDS}")
    works, reason, isolation = run_self_test(kind)
    return works, reason, describe(kind, isolation) if works else ""


@functools.lru_cache(maxsize=None)
def detect_confinement() -> Confinement:
    """The strongest confinement that works here: bubblewrap, then unshare, then none."""
    reasons = []
    for kind in ("bubblewrap", "unshare"):
        works, reason, detail = check_confinement(kind)
        if works:
            return Confinement(kind, detail)  # type: ignore[arg-type]
        reasons.append(reason)
    _, _, isolation = run_self_test("none")
    return Confinement("none", describe("none", isolation, reasons))
