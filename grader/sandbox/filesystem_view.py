"""The filesystem that student code sees: a list of mounts both confinement kinds build.

Visible (all read-only unless noted):
  /submission            the student's submission
  /sandbox/probes.py     the probes file (public; no reference answers)
  /sandbox/zygote.py     the fork server (public)
  /sandbox/io            per-call directories (read-write; each worker sees only its own, as /sandbox/call)
  the Python runtime     sys.prefix, sys.base_prefix (the venv and the interpreter it points at)
  /usr, /lib*, /bin      system libraries; /etc holds only the loader's cache and a tiny passwd
  /proc, /dev            a fresh proc and a minimal /dev (plus /dev/nvidia* for CUDA)
  /tmp                   a private tmpfs (read-write; a fresh one for every call)
Everything else (the grader package, solution/, tests/, sibling submissions, $HOME) is absent.
Paths of the grading repository that happen to lie inside a visible tree are covered by an empty
tmpfs.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

SUBMISSION = "/submission"
SANDBOX_DIR = "/sandbox"
PROBES = "/sandbox/probes.py"
ZYGOTE = "/sandbox/zygote.py"
IO_DIR = "/sandbox/io"
CALL_DIR = "/sandbox/call"

_SYSTEM_TREES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/nsswitch.conf", "/etc/localtime")
# The grading repository: grader/sandbox/ -> grader/ -> repository root.
_GRADER_PACKAGE = Path(__file__).resolve().parents[1]
_REPOSITORY = _GRADER_PACKAGE.parent


@dataclass(frozen=True)
class MountOp:
    """One step of building the view. kind: ro-bind | bind | dev-bind | tmpfs | dir | symlink | proc | dev."""

    kind: str
    dst: str
    src: str | None = None
    size: int | None = None
    mode: str | None = None

    def as_dict(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if value is not None}


def runtime_trees() -> list[str]:
    """Directories the interpreter, its standard library and its site-packages live in (any
    site-packages folder on sys.path), plus the LD_LIBRARY_PATH entries (CUDA machines) that are not
    inside the grading repository."""
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    libraries = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
    candidates += [p for p in libraries if not _inside(os.path.realpath(p), str(_REPOSITORY))]
    # site-packages that a .pth file or a wrapper added from elsewhere (another virtualenv's, say)
    candidates += [p for p in sys.path if p and os.path.basename(p.rstrip("/")) in ("site-packages", "dist-packages")]
    trees: list[str] = []
    for candidate in candidates:
        for path in (os.path.abspath(candidate), os.path.realpath(candidate)):
            if os.path.isdir(path) and path not in trees and path != "/":
                trees.append(path)
    return _outermost(trees)


def _outermost(paths: list[str]) -> list[str]:
    """Drop paths that lie inside another path of the list."""
    kept = []
    for path in sorted(set(paths), key=len):
        if not any(_inside(path, outer) for outer in kept):
            kept.append(path)
    return kept


def _inside(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def _depth(path: str) -> int:
    return len([part for part in path.split("/") if part])


def build_view(
    *,
    submission: Path,
    probes: Path,
    zygote: Path,
    io_dir: Path,
    etc_dir: Path,
    device: str,
    tmp_bytes: int,
) -> list[MountOp]:
    """The mounts, in order, that make up the sandbox's filesystem."""
    ops: list[MountOp] = []
    for tree in _SYSTEM_TREES:
        if os.path.islink(tree):
            ops.append(MountOp("symlink", tree, src=os.readlink(tree)))
        elif os.path.isdir(tree):
            ops.append(MountOp("ro-bind", tree, src=tree))
    for etc_file in _ETC_FILES:
        if os.path.exists(etc_file):
            ops.append(MountOp("ro-bind", etc_file, src=os.path.realpath(etc_file)))
    for name in ("passwd", "group", "hosts"):
        ops.append(MountOp("ro-bind", f"/etc/{name}", src=str(etc_dir / name)))

    system = [op.dst for op in ops if op.kind == "ro-bind"]
    trees = [tree for tree in runtime_trees() if not any(_inside(tree, s) for s in system)]
    # Repository paths (grader/, solution/, other submissions beside this one) inside a visible tree
    # get an empty tmpfs on top; runtime trees deeper than such a mask are bound again after it.
    hidden = {str(_GRADER_PACKAGE), str(_REPOSITORY), str(submission.parent)}
    masks = [h for h in hidden if h != "/" and any(_inside(h, t) and h != t for t in trees + system)]
    layered = [MountOp("ro-bind", tree, src=tree) for tree in trees]
    layered += [MountOp("tmpfs", mask, size=4096, mode="0755") for mask in _outermost(masks)]
    # the private /tmp goes first, so that a runtime under /tmp (a clone in /tmp/x with its .venv)
    # is bound on top of it instead of being hidden by it
    ops.append(MountOp("tmpfs", "/tmp", size=tmp_bytes, mode="1777"))
    ops += sorted(layered, key=lambda op: (_depth(op.dst), op.kind != "tmpfs"))

    ops += [
        MountOp("proc", "/proc"),
        MountOp("dev", "/dev"),
        MountOp("dir", SANDBOX_DIR),
        MountOp("ro-bind", SUBMISSION, src=str(submission)),
        MountOp("ro-bind", PROBES, src=str(probes)),
        MountOp("ro-bind", ZYGOTE, src=str(zygote)),
        MountOp("bind", IO_DIR, src=str(io_dir)),
        MountOp("dir", CALL_DIR),
    ]
    if os.path.isdir("/sys/devices/system/cpu") and not device.startswith("cuda"):
        ops.append(MountOp("ro-bind", "/sys/devices/system/cpu", src="/sys/devices/system/cpu"))
    if device.startswith("cuda"):
        ops.append(MountOp("ro-bind", "/sys", src="/sys"))
        for name in sorted(os.listdir("/dev")):
            if name.startswith("nvidia"):
                ops.append(MountOp("dev-bind", f"/dev/{name}", src=f"/dev/{name}"))
    return _with_parent_directories(ops)


def _with_parent_directories(ops: list[MountOp]) -> list[MountOp]:
    """Create every parent of a mount point first, mode 0755: bubblewrap would otherwise make
    them 0700 (copying /root's mode, say) and the unprivileged worker could not pass through."""
    covered = [op.dst for op in ops if op.kind in ("ro-bind", "bind", "dev-bind", "symlink", "proc", "dev")]
    parents: set[str] = set()
    for op in ops:
        parts = [part for part in op.dst.split("/") if part]
        for end in range(1, len(parts)):
            parent = "/" + "/".join(parts[:end])
            if not any(_inside(parent, tree) for tree in covered):
                parents.add(parent)
    made = [MountOp("dir", parent, mode="0755") for parent in sorted(parents, key=_depth)]
    return made + [MountOp(op.kind, op.dst, op.src, op.size, op.mode or "0755") if op.kind == "dir" else op
                   for op in ops]


def hidden_repository_paths() -> list[str]:
    """Paths of the grading repository; tests check that none of them is readable inside."""
    return [str(_GRADER_PACKAGE), str(_REPOSITORY)]


def write_etc(etc_dir: Path) -> None:
    """A passwd/group/hosts that name only root and nobody (some libraries look the user up)."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "passwd": "root:x:0:0:root:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/bin/sh\n",
        "group": "root:x:0:\nnogroup:x:65534:\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
    }
    for name, text in files.items():
        (etc_dir / name).write_text(text)
        (etc_dir / name).chmod(0o644)
