"""The fork server that runs inside the sandbox: imports torch once, then forks one worker per call.

This file is bind-mounted alone into the sandbox (the grader package is not visible there), so it
must stay self-contained: standard library, torch, numpy and safetensors only.

Process tree for the confined kinds ("bubblewrap", "unshare"):

    grader (parent, never imports student code)
      └─ launcher: bwrap | unshare        new mount/PID/network/IPC/UTS namespaces, minimal filesystem
           └─ zygote (this file)           root inside the sandbox; imports torch, runs no torch op
                └─ worker, one per call    PID 1 of its own PID namespace, own mount and IPC
                                           namespaces, fresh /tmp, uid 65534, rlimits; imports the
                                           student package, runs one probe, writes outputs

When a worker exits, its PID namespace dies with it, so nothing a student started survives the call.

Channels:
  parent <-> zygote  length-prefixed JSON frames on the zygote's stdin/stdout (trusted both ways).
  worker  -> zygote  newline-delimited JSON on a pipe. Untrusted: the student shares the worker's
                     process and may write anything there. The parent decides a call's status from
                     the worker's exit status plus these messages, never from the student's stdout.
  tensors            safetensors files in the call's directory (inputs in, outputs out). No pickle.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import select
import signal
import socket
import stat
import struct
import sys
import time
import traceback

# ---------------------------------------------------------------------------------------------
# Linux system calls (ctypes; Python 3.11 has no os.unshare / os.setns / mount).

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217}

_libc = ctypes.CDLL(None, use_errno=True)
_SIGNATURES = {
    "mount": [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p],
    "umount2": [ctypes.c_char_p, ctypes.c_int],
    "unshare": [ctypes.c_int],
    "setns": [ctypes.c_int, ctypes.c_int],
    "prctl": [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong],
}
for _name, _argtypes in _SIGNATURES.items():
    try:
        getattr(_libc, _name).argtypes = _argtypes
    except AttributeError:  # not Linux: only the unconfined kind runs here
        pass


def _call(name: str, *args: object) -> None:
    function = getattr(_libc, name, None)
    if function is None:
        raise OSError(f"{name}() is not available on this system")
    if function(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def _checked(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    try:
        _call("mount", _b(source), _b(target), _b(fstype), flags, _b(data))
    except OSError as exc:
        raise OSError(exc.errno, f"mount {target}: {exc.strerror or exc}") from None


def unshare(flags: int) -> None:
    _call("unshare", flags)


def setns(fd: int, nstype: int) -> None:
    _call("setns", fd, nstype)


def prctl(option: int, arg: int) -> None:
    _call("prctl", option, arg, 0, 0, 0)


# ---------------------------------------------------------------------------------------------
# Building the filesystem view (kind "unshare" only; bubblewrap builds the same view itself).


def _make_mountpoint(path: str, like: str | None) -> None:
    if like is not None and not os.path.isdir(like):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.lexists(path):
            with open(path, "w"):
                pass
    else:
        os.makedirs(path, exist_ok=True)


def _remount_readonly_recursive(target: str) -> None:
    """Remount `target` and every mount below it read-only (a recursive bind keeps submounts rw)."""
    below = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            mount_point = line.split()[4].replace("\\040", " ")
            if mount_point == target or mount_point.startswith(target.rstrip("/") + "/"):
                below.append(mount_point)
    for mount_point in sorted(set(below) | {target}, key=len):
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID
        try:
            mount(None, mount_point, None, flags | MS_NODEV)
        except OSError:
            mount(None, mount_point, None, flags)  # a device bind must keep its device nodes usable


def build_root(plan: dict) -> None:
    """Construct the sandbox's root from `plan["mounts"]` and pivot into it.

    Runs as (namespace) root right after `unshare --mount --pid --net ...`, before torch is imported,
    so everything the process touches later comes from the new root's read-only binds.
    """
    new_root = plan["new_root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the host
    os.makedirs(new_root, exist_ok=True)
    mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m")
    read_only_later = []
    for op in plan["mounts"]:
        kind, src, dst = op["kind"], op.get("src"), new_root + op["dst"]
        if kind in ("ro-bind", "bind", "dev-bind"):
            _make_mountpoint(dst, src)
            mount(src, dst, None, MS_BIND | MS_REC)
            if kind == "ro-bind":
                _remount_readonly_recursive(dst)
        elif kind == "tmpfs":
            os.makedirs(dst, exist_ok=True)
            mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={op.get('mode', '0755')},size={op['size']}")
        elif kind == "dir":
            os.makedirs(dst, exist_ok=True)
            os.chmod(dst, int(op.get("mode", "0755"), 8))
        elif kind == "symlink":
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.symlink(src, dst)
        elif kind == "proc":
            os.makedirs(dst, exist_ok=True)
            mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        elif kind == "dev":
            os.makedirs(dst, exist_ok=True)
            mount("tmpfs", dst, "tmpfs", MS_NOSUID, "mode=0755,size=1m")
            for node in ("null", "zero", "full", "random", "urandom", "tty"):
                if os.path.exists("/dev/" + node):
                    with open(f"{dst}/{node}", "w"):
                        pass
                    mount("/dev/" + node, f"{dst}/{node}", None, MS_BIND)
            for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                                 ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
                os.symlink(target, f"{dst}/{name}")
            os.mkdir(f"{dst}/shm", 0o755)
            read_only_later.append(dst)  # after any dev-bind (GPU nodes) below it
        else:
            raise ValueError(f"unknown mount kind {kind!r}")
    for dst in read_only_later:
        mount(None, dst, None, MS_REMOUNT | MS_NOSUID | MS_RDONLY, "mode=0755,size=1m")
    mount(None, new_root, None, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_RDONLY, "mode=0755,size=16m")
    os.chdir(new_root)
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    if number is not None:
        _checked(_libc.syscall(number, b".", b"."), "pivot_root")  # old root is stacked on "."
        _checked(_libc.umount2(b".", MNT_DETACH), "umount old root")
    else:  # unknown architecture: move the new root over "/" and chroot (the old root stays hidden)
        mount(new_root, "/", None, 8192)  # MS_MOVE
        os.chroot(".")
    os.chdir("/")


# ---------------------------------------------------------------------------------------------
# Confining one worker (runs in the freshly forked child, as root, before any student code).


def _read_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _runtime_trees_under_tmp() -> list[str]:
    """The Python runtime's folders (prefixes, sys.path) that lie under /tmp, outermost first.

    The worker's fresh /tmp would hide them; it binds them again, read-only, on top of it."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}
    candidates.update(path for path in sys.path if path)
    trees: list[str] = []
    for path in sorted({os.path.realpath(c) for c in candidates} | candidates, key=len):
        inside_known = any(path.startswith(t + "/") or path == t for t in trees)
        if path.startswith("/tmp/") and os.path.isdir(path) and not inside_known:
            trees.append(path)
    return trees


def enter_worker_jail(cfg: dict, iso: dict, call_id: str | None) -> str:
    """Isolate this (forked) process; returns the call directory as seen from inside."""
    call_dir = os.path.join(cfg["io_dir"], call_id) if call_id else None
    if iso["mount_ns"]:
        unshare(CLONE_NEWNS | (CLONE_NEWIPC if iso["ipc_ns"] else 0))
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        if iso["pid_ns"]:
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)  # only this call's PIDs
        tmp_size, shm_size = cfg["tmp_bytes"] * 3 // 4, cfg["tmp_bytes"] // 4  # one budget for both
        runtime_in_tmp = _runtime_trees_under_tmp()
        held = [(tree, os.open(tree, os.O_PATH | os.O_DIRECTORY)) for tree in runtime_in_tmp]
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={tmp_size},nr_inodes=4096")
        for tree, fd in held:  # a runtime under /tmp (a clone in /tmp/x and its .venv) stays visible
            os.makedirs(tree, mode=0o755, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", tree, None, MS_BIND | MS_REC)
            mount(None, tree, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
            os.close(fd)
        if os.path.isdir("/dev/shm"):
            mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={shm_size},nr_inodes=1024")
        if call_dir is not None:
            call_dir = cfg["call_mount"]  # the call's own tmpfs, mounted by the zygote (prepare_call_directory)
        # Earlier and later calls' directories disappear from view.
        mount("tmpfs", cfg["io_dir"], "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "mode=0555,size=4k")
        return call_dir
    uid = iso["uid"]
    if uid is not None and call_dir is not None:
        os.chown(call_dir, uid, uid)
    return call_dir


_CALL_INPUTS = ("inputs.safetensors", "params.json")
_CALL_OUTPUTS = ("stdout.txt", "stderr.txt", "outputs.safetensors")


def prepare_call_directory(cfg: dict, iso: dict, call_id: str) -> None:
    """Mount the call's directory as a tmpfs of bounded size and inode count (it is memory, counted
    in the worker's budget), owned by the worker, with the call's inputs bound in read-only from
    the host. Whatever the code leaves there (a deep tree, a huge file) vanishes with one unmount."""
    host, target = os.path.join(cfg["io_dir"], call_id), cfg["call_mount"]
    owner = iso["uid"]
    options = f"mode=0700,size={cfg['call_bytes']},nr_inodes=256"
    if owner is not None:
        options += f",uid={owner},gid={owner}"
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for name in _CALL_INPUTS:
        source, inside = os.path.join(host, name), os.path.join(target, name)
        if os.path.isfile(source):
            os.close(os.open(inside, os.O_WRONLY | os.O_CREAT, 0o444))
            mount(source, inside, None, MS_BIND)
            mount(None, inside, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def collect_call_directory(cfg: dict, call_id: str) -> None:
    """Copy the call's outputs (regular files only, never following a link, at most the tmpfs's
    size) to the host's call directory, where the grader reads them; then unmount the tmpfs."""
    host, target = os.path.join(cfg["io_dir"], call_id), cfg["call_mount"]
    try:
        for name in _CALL_OUTPUTS:
            try:
                source = os.open(os.path.join(target, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                if not stat.S_ISREG(os.fstat(source).st_mode):
                    continue
                copy = os.open(os.path.join(host, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
                try:
                    left = cfg["call_bytes"]
                    while left > 0:
                        chunk = os.read(source, min(left, 1 << 20))
                        if not chunk:
                            break
                        os.write(copy, chunk)
                        left -= len(chunk)
                finally:
                    os.close(copy)
            finally:
                os.close(source)
    finally:
        try:
            _call("umount2", os.fsencode(target), MNT_DETACH)
        except OSError:
            pass


_MAPPING_SLACK = 256 << 20


def apply_limits_and_drop_privileges(cfg: dict, iso: dict, cpu_seconds: float | None = None) -> None:
    """rlimits, then no privilege at all: the unprivileged uid (when the grader is root), no
    capability in any set, no_new_privs, the seccomp filter. `cpu_seconds`: the call's CPU limit;
    RLIMIT_CPU is set a little above it, a backstop for when the zygote's own accounting
    (serve_call) cannot keep up."""
    import resource

    def cap(name: str, value: int) -> None:
        which = getattr(resource, name, None)
        if which is None:
            return
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            if sys.platform.startswith("linux"):
                raise

    # Memory is limited relative to what the preloaded runtime already uses: torch is large and is
    # mapped before student code runs, so an absolute cap would leave the student an unknown share.
    # tmpfs pages (/tmp, /dev/shm, the call's directory) are memory that rlimits do not see: their
    # sizes come out of the same budget, so that every kind of allocation together stays within it.
    # Shared anonymous mappings are not data but are address space: RLIMIT_AS bounds them, with
    # _MAPPING_SLACK for new mappings (libraries, thread stacks) also taken from the budget.
    memory = max(cfg["memory_bytes"] - cfg.get("tmpfs_budget", 0) - _MAPPING_SLACK, cfg["memory_bytes"] // 4)
    data_kib, size_kib = _read_status_kib("VmData"), _read_status_kib("VmSize")
    if data_kib is not None:
        cap("RLIMIT_DATA", data_kib * 1024 + memory)
    if size_kib is not None and not cfg["device"].startswith("cuda"):  # CUDA reserves terabytes of address space
        cap("RLIMIT_AS", size_kib * 1024 + memory + _MAPPING_SLACK)
    cap("RLIMIT_FSIZE", cfg["max_file_bytes"])
    cap("RLIMIT_CORE", 0)
    cap("RLIMIT_NOFILE", 1024)
    cap("RLIMIT_NPROC", cfg["max_processes"])
    if cpu_seconds is not None:
        soft = int(cpu_seconds) + 3  # SIGXCPU: scored as the student's timeout
        which = resource.RLIMIT_CPU
        hard = resource.getrlimit(which)[1]
        if hard == resource.RLIM_INFINITY or hard > soft:
            resource.setrlimit(which, (soft, soft + 2 if hard == resource.RLIM_INFINITY else min(hard, soft + 2)))
    if not sys.platform.startswith("linux"):
        return
    try:  # the out-of-memory killer takes this process before the fork server or the grader
        with open("/proc/self/oom_score_adj", "w") as adjust:
            adjust.write("1000")
    except OSError:
        pass
    if iso.get("own_user_ns"):
        enter_child_user_namespace()
    drop_capabilities(iso["uid"])
    prctl(PR_SET_NO_NEW_PRIVS, 1)  # no setuid binary can give privileges back
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
    if iso.get("seccomp", True):
        install_seccomp_filter()


# ---------------------------------------------------------------------------------------------
# Dropping privileges: a child user namespace, capabilities and securebits, a seccomp filter.

PR_CAPBSET_DROP = 24
CAP_SETPCAP = 8
PR_SET_SECUREBITS = 28
PR_SET_SECCOMP = 22
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CLONE_NEWUSER = 0x10000000
# SECBIT_NOROOT | _LOCKED, SECBIT_NO_SETUID_FIXUP_LOCKED (with the fixup on: setuid clears the
# capabilities), SECBIT_KEEP_CAPS_LOCKED (off), SECBIT_NO_CAP_AMBIENT_RAISE | _LOCKED.
SECUREBITS = 0x01 | 0x02 | 0x08 | 0x20 | 0x40 | 0x80
_CAPABILITY_VERSION_3 = 0x20080522
_CAP_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def enter_child_user_namespace() -> None:
    """Move into a new user and mount namespace, mapping uid/gid 0 to this process's own.

    For the user-namespace kinds (a grader that is not root): the worker is uid 0 of the sandbox's
    user namespace, which owns its mounts, so with any capability it could remount the read-only
    binds writable. Mounts copied into a namespace owned by a newer user namespace are locked: their
    read-only, nosuid, nodev and noexec flags can no longer be cleared, nor can they be unmounted to
    reveal what lies below."""
    unshare(CLONE_NEWUSER | CLONE_NEWNS)
    for name, text in (("setgroups", "deny"), ("uid_map", "0 0 1"), ("gid_map", "0 0 1")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)


def _last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return 40


def capability_sets() -> dict[str, int]:
    """This process's capability sets from /proc/self/status: {"CapEff": bits, ...}."""
    sets = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in _CAP_FIELDS:
                sets[name] = int(value.strip(), 16)
    return sets


def drop_capabilities(uid: int | None) -> None:
    """Leave the process with no capability in any set, unable to regain one.

    The bounding set is emptied and securebits locked (root gains nothing by exec) while the process
    still holds CAP_SETPCAP; then it switches to `uid` (when given: setuid from root clears the
    permitted and effective sets) and clears what is left with capset. Raises OSError if any
    capability survives."""
    can_setpcap = bool(capability_sets().get("CapEff", 0) & (1 << CAP_SETPCAP))
    if can_setpcap:  # without it (an ordinary user) there is nothing to lock: no_new_privs follows
        for number in range(_last_capability() + 1):
            try:
                prctl(PR_CAPBSET_DROP, number)
            except OSError as exc:
                if exc.errno != 22:  # EINVAL: a capability this kernel does not have
                    raise
        _call("prctl", PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0)
    _call("prctl", PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise OSError("could not switch to the unprivileged uid")
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable; twice (64 capability bits)
    _checked(_libc.capset(header, data), "capset")
    left = {name: bits for name, bits in capability_sets().items() if bits and (can_setpcap or name != "CapBnd")}
    if left:
        raise OSError(f"capabilities survived dropping: {left}")


# Kernel surface a worker never needs: mounts, namespaces, keyrings, BPF, io_uring, perf events,
# file handles, anonymous memory files (not counted by memory limits), device nodes, modules, ptrace.
_DENIED_SYSCALLS = {
    "x86_64": {"mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
               "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "io_uring_setup": 425,
               "io_uring_enter": 426, "io_uring_register": 427, "perf_event_open": 298, "open_by_handle_at": 304,
               "name_to_handle_at": 303, "memfd_create": 319, "memfd_secret": 447, "mknod": 133, "mknodat": 259,
               "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
               "delete_module": 176, "userfaultfd": 323, "open_tree": 428, "move_mount": 429, "fsopen": 430,
               "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "swapon": 167, "swapoff": 168,
               "reboot": 169, "acct": 163, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
               "quotactl": 179, "syslog": 103, "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173},
    "aarch64": {"mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268,
                "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280, "io_uring_setup": 425,
                "io_uring_enter": 426, "io_uring_register": 427, "perf_event_open": 241, "open_by_handle_at": 265,
                "name_to_handle_at": 264, "memfd_create": 279, "memfd_secret": 447, "mknodat": 33,
                "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
                "delete_module": 106, "userfaultfd": 282, "open_tree": 428, "move_mount": 429, "fsopen": 430,
                "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "swapon": 224,
                "swapoff": 225, "reboot": 142, "acct": 89, "ptrace": 117, "process_vm_readv": 270,
                "process_vm_writev": 271, "quotactl": 60, "syslog": 116, "sethostname": 161, "setdomainname": 162},
}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_SYSCALL_CLONE = {"x86_64": 56, "aarch64": 220}
_SYSCALL_CLONE3 = 435
_SYSCALL_SOCKET = {"x86_64": 41, "aarch64": 198}
_CLONE_NAMESPACES = 0x7E020080  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME
_AF_NETLINK = 16


def seccomp_supported() -> bool:
    return platform.machine() in _DENIED_SYSCALLS and sys.platform.startswith("linux")


def seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The classic-BPF filter as (code, jt, jf, k) instructions: another architecture's system calls
    (the i386 ABI through int 0x80, x32) kill the process; the denied calls, clone with a namespace
    flag and netlink sockets fail with EPERM; clone3 fails with ENOSYS (its flags sit in memory the
    filter cannot read, and libc then falls back to clone); everything else is allowed."""
    load_word, jump_equal, jump_set, jump_at_least, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | 1, 0x00050000 | 38
    program = [(load_word, 0, 0, 4), (jump_equal, 1, 0, _AUDIT_ARCH[machine]), (ret, 0, 0, kill),
               (load_word, 0, 0, 0)]
    if machine == "x86_64":
        program += [(jump_at_least, 0, 1, 0x40000000), (ret, 0, 0, kill)]
    for number in sorted(set(_DENIED_SYSCALLS[machine].values())):
        program += [(jump_equal, 0, 1, number), (ret, 0, 0, eperm)]
    program += [(jump_equal, 0, 1, _SYSCALL_CLONE3), (ret, 0, 0, enosys)]
    # clone: flags are the first argument (its low 32 bits hold every CLONE_NEW* flag)
    program += [(jump_equal, 0, 3, _SYSCALL_CLONE[machine]), (load_word, 0, 0, 16),
                (jump_set, 0, 1, _CLONE_NAMESPACES), (ret, 0, 0, eperm)]
    program += [(load_word, 0, 0, 0), (jump_equal, 0, 3, _SYSCALL_SOCKET[machine]), (load_word, 0, 0, 16),
                (jump_equal, 0, 1, _AF_NETLINK), (ret, 0, 0, eperm)]
    return program + [(ret, 0, 0, allow)]


def install_seccomp_filter() -> None:
    """Install seccomp_program for this machine (needs no_new_privs first). OSError if it cannot."""
    machine = platform.machine()
    if not seccomp_supported():
        raise OSError(f"no seccomp filter is defined for {machine}")

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    program = seccomp_program(machine)
    filters = (SockFilter * len(program))(*[SockFilter(*instruction) for instruction in program])
    fprog = SockFprog(len(program), filters)
    _checked(_libc.prctl(PR_SET_SECCOMP, 2, ctypes.cast(ctypes.byref(fprog), ctypes.c_void_p).value, 0, 0),
             "seccomp")


# ---------------------------------------------------------------------------------------------
# What works here: probed once at start-up, before torch is imported (forks are cheap then).


def probe_isolation(cfg: dict, own_pidns: int | None) -> dict:
    """The strongest worker isolation that works here, tried in a throwaway worker each.

    Never weaker in privilege: when the grader is root, workers run as cfg["worker_uid"] or not at
    all (the uid is None in the result, and the grader refuses to start); in the user-namespace
    kinds they enter a child user namespace. A missing seccomp filter is the only fallback, and the
    escape test (`escape_attempts`) then decides whether the sandbox holds without it."""
    want_uid = cfg["worker_uid"]
    iso = {"pid_ns": False, "mount_ns": False, "ipc_ns": False, "uid": None, "own_user_ns": False,
           "seccomp": False, "notes": []}
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        names = []
    iso["network_interfaces"] = names
    base = dict(iso, uid=want_uid, own_user_ns=bool(cfg["isolate_workers"] and want_uid is None),
                seccomp=seccomp_supported())
    if not cfg["isolate_workers"]:
        candidates = [base]
    else:
        candidates = [
            dict(base, pid_ns=True, mount_ns=True, ipc_ns=True),
            dict(base, pid_ns=True, mount_ns=True, ipc_ns=False),
            dict(base, pid_ns=False, mount_ns=True, ipc_ns=False),
        ]
    if base["seccomp"]:
        candidates += [dict(c, seccomp=False) for c in candidates]
    for candidate in candidates:
        ok, why = _try_isolation(cfg, candidate, own_pidns)
        if ok:
            candidate["notes"] = iso["notes"]
            return candidate
        iso["notes"].append(f"{_describe_isolation(candidate)}: {why}")
    return iso


def escape_attempts(cfg: dict) -> list[str]:
    """Try, as a confined worker, every way out the sandbox must close; return those that worked.

    Runs in a throwaway worker after enter_worker_jail and apply_limits_and_drop_privileges, the
    exact steps a real call takes, so a machine where any of them is not enforced is caught before
    student code runs there."""
    worked = []

    def attempt(what: str, action) -> None:
        try:
            action()
        except BaseException:  # failing is the expected outcome
            return
        worked.append(what)

    def create_file(folder: str):
        def action() -> None:
            path = os.path.join(folder, ".grader-escape-test")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            os.unlink(path)
        return action

    def read_any(path: str):
        def action() -> None:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as handle:
                    handle.read(1)
        return action

    caps = capability_sets()
    if caps.get("CapEff") or caps.get("CapPrm") or caps.get("CapAmb") or caps.get("CapInh"):
        worked.append(f"holds capabilities ({', '.join(f'{k}={v:x}' for k, v in caps.items() if v)})")
    def mount_scratch() -> None:  # on a fresh folder of the worker's own /tmp, never over anything
        target = "/tmp/.grader-escape-mount"
        os.makedirs(target, exist_ok=True)
        mount("tmpfs", target, "tmpfs", 0, "size=1m")

    attempt("mounts a tmpfs", mount_scratch)
    attempt("remounts the submission read-write", lambda: mount(None, cfg["submission"], None, MS_REMOUNT | MS_BIND))
    for folder, what in ((cfg["submission"], "the submission"), (os.path.dirname(cfg["probes"]), "the probes' folder"),
                         (os.path.dirname(os.path.realpath(sys.executable)), "the Python runtime's bin/"),
                         (sys.prefix, "the Python runtime"), ("/", "/")):
        attempt(f"writes into {what} ({folder})", create_file(folder))
    attempt("opens the probes file for writing", lambda: os.close(os.open(cfg["probes"], os.O_WRONLY | os.O_APPEND)))
    for path in cfg.get("staff_paths") or ():
        attempt(f"reads a staff-only path ({path})", read_any(path))
    attempt("creates a block device node", lambda: os.mknod("/tmp/.grader-escape-test", 0o60600, os.makedev(8, 0)))
    attempt("creates an anonymous memory file (memfd_create)", lambda: os.close(os.memfd_create("escape")))
    attempt("opens a netfilter socket", lambda: socket.socket(16, socket.SOCK_RAW, 12).close())
    # Last, and the user namespace after the others: one that works changes this throwaway process.
    for flag, name in ((0x40000000, "network"), (CLONE_NEWNS, "mount"), (CLONE_NEWUSER, "user")):
        attempt(f"creates a new {name} namespace", lambda flag=flag: unshare(flag))
    return worked


def run_escape_test(cfg: dict, iso: dict, own_pidns: int | None) -> list[str]:
    """escape_attempts in a throwaway worker confined as iso; its findings (or why it could not run)."""

    def body() -> bytes:
        try:
            enter_worker_jail(cfg, iso, None)
            apply_limits_and_drop_privileges(cfg, iso)
            found = escape_attempts(cfg)
        except BaseException as exc:
            found = [f"the escape test failed to confine itself: {type(exc).__name__}: {exc}"]
        return json.dumps(found).encode()

    try:
        data = run_in_throwaway_worker(iso, own_pidns, body)
    except OSError as exc:
        return [f"the escape test could not start: {exc}"]
    try:
        found = json.loads(data)
    except ValueError:
        return ["the escape test died without a report"]
    return [str(item) for item in found] if type(found) is list else ["the escape test sent no list"]


def _describe_isolation(iso: dict) -> str:
    parts = [name for name in ("pid_ns", "mount_ns", "ipc_ns", "own_user_ns", "seccomp") if iso.get(name)]
    parts.append(f"uid {iso['uid']}" if iso["uid"] is not None else "same uid")
    return "+".join(parts)


def fork_worker(iso: dict, own_pidns: int | None) -> int:
    """os.fork(), into a new PID namespace (the child is its PID 1) when iso["pid_ns"].

    unshare(CLONE_NEWPID) moves only the caller's later children, so the zygote goes straight back
    to its own namespace (setns on own_pidns), else its next fork would land in this worker's. OSError
    when the fork fails, or when going back fails: then the child is killed first, since nothing
    would watch it.
    """
    pid = -1
    try:
        if iso["pid_ns"]:
            unshare(CLONE_NEWPID)
        pid = os.fork()
    finally:
        if pid != 0 and iso["pid_ns"] and own_pidns is not None:
            try:
                setns(own_pidns, CLONE_NEWPID)
            except OSError:
                if pid > 0:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                raise
    return pid


def run_in_throwaway_worker(iso: dict, own_pidns: int | None, body) -> bytes:
    """Fork a worker (isolated as iso) that runs body() and reports the bytes it returns (or its
    exception, as "Type: message") over a pipe; wait for it and return them. OSError if it cannot fork."""
    read_end, write_end = os.pipe()
    try:
        pid = fork_worker(iso, own_pidns)
    except OSError:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:
        os.close(read_end)
        try:
            data = body()
        except BaseException as exc:  # reported to the zygote
            data = f"{type(exc).__name__}: {exc}".encode()
        os.write(write_end, data[:60000])
        os._exit(0)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks)


def _try_isolation(cfg: dict, iso: dict, own_pidns: int | None) -> tuple[bool, str]:
    def body() -> bytes:
        enter_worker_jail(cfg, iso, None)
        apply_limits_and_drop_privileges(cfg, iso)
        for path in cfg["must_read"]:
            if not os.access(path, os.R_OK | (os.X_OK if os.path.isdir(path) else 0)):
                raise PermissionError(f"cannot read {path}")
        if iso["pid_ns"] and os.getpid() != 1:
            raise OSError("not PID 1 in the new PID namespace")
        return b"ok"

    try:
        data = run_in_throwaway_worker(iso, own_pidns, body)
    except OSError as exc:
        return False, str(exc)
    message = data.decode(errors="replace") or "the test process died"
    return message == "ok", message


# ---------------------------------------------------------------------------------------------
# The worker: one call of student code.


EXIT_SANDBOX_FAILURE = 70  # confining the worker failed, before any student code ran
EXIT_CHANNEL_LOST = 72  # the student's code closed or replaced the result pipe


class BadOutput(Exception):
    """The probe returned something other than a dict of plain tensors."""


_ALLOWED_DTYPES = None  # filled in the zygote after importing torch


def _type_name(value: object) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", "") or ""
    return kind.__qualname__ if module in ("builtins", "") else f"{module}.{kind.__qualname__}"


def plain_outputs(torch, result: object, probe: str) -> dict:
    """Turn the probe's return value into {name: plain, contiguous CPU tensor}, or raise BadOutput."""
    if type(result) is not dict:  # not isinstance: a dict subclass can lie about its items
        raise BadOutput(f"probe {probe!r} returned a {_type_name(result)}, expected a dict of tensors")
    converted = {}
    for name, value in list(dict.items(result)):
        if type(name) is not str or not name or len(name) > 200 or name == "__metadata__":
            raise BadOutput(f"probe {probe!r} returned an output named {name!r}; names must be short strings")
        if not issubclass(type(value), torch.Tensor):  # type(), not isinstance: __class__ can be faked
            hint = " (convert it with torch.from_numpy)" if _type_name(value) == "numpy.ndarray" else ""
            raise BadOutput(f"output {name!r} of probe {probe!r} is a {_type_name(value)}, "
                            f"expected a torch.Tensor{hint}")
        try:
            with torch._C.DisableTorchFunction():
                tensor = torch.Tensor.as_subclass(value, torch.Tensor)
                if tensor.layout != torch.strided:
                    raise BadOutput(f"output {name!r} is a {tensor.layout} tensor; return a dense tensor (.to_dense())")
                if tensor.device.type == "meta":
                    raise BadOutput(f"output {name!r} is a meta tensor and holds no data")
                if tensor.dtype not in _ALLOWED_DTYPES:
                    raise BadOutput(f"output {name!r} has dtype {tensor.dtype}; "
                                    "only real, integer and bool dtypes are accepted")
                tensor = tensor.detach().to("cpu").contiguous().clone()
        except BadOutput:
            raise
        except BaseException as exc:  # a hostile subclass may raise anything
            raise BadOutput(f"output {name!r} of probe {probe!r} could not be read as a plain tensor: "
                            f"{_safe_str(exc)}") from None
        converted[name] = tensor
    return converted


def _safe_str(exc: BaseException, limit: int = 2000) -> str:
    try:
        text = str(exc)
    except BaseException:  # a student's __str__ may raise
        text = "<the exception's message could not be printed>"
    return text if len(text) <= limit else text[:limit] + " [...]"


def describe_exception(exc: BaseException, cfg: dict) -> str:
    """Type, message and the student's (and probe's) frames, with paths relative to the submission."""
    submission = cfg["submission"].rstrip("/") + "/"
    probes = cfg["probes"]

    def shown(filename: str) -> str | None:
        if filename.startswith(submission):
            return filename[len(submission):]
        if filename == probes:
            return "probes file " + cfg["probes_name"]
        return None

    if isinstance(exc, SyntaxError) and exc.filename and shown(exc.filename):
        where = f"{shown(exc.filename)} line {exc.lineno}"
        text = f"\n    {exc.text.rstrip()}" if exc.text else ""
        return f"{type(exc).__name__} in {where}: {exc.msg}{text}"
    lines = [f"{_type_name(exc)}: {_safe_str(exc)}"]
    try:
        frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if shown(frame.filename)]
    except BaseException:
        frames = []
    if frames:
        lines.append("Traceback (your code, most recent call last):")
        if len(frames) > 12:
            lines.append(f"  ... {len(frames) - 12} earlier frames ...")
            frames = frames[-12:]
        for frame in frames:
            lines.append(f"  {shown(frame.filename)}, line {frame.lineno}, in {frame.name}")
            if frame.line:
                lines.append(f"    {frame.line.strip()[:200]}")
    return "\n".join(lines)


def describe_import_error(exc: BaseException, cfg: dict) -> str:
    package = cfg["package"]
    if isinstance(exc, ModuleNotFoundError) and exc.name == package:
        return (f"importing {package} failed: the submission has no {package} package; "
                f"put {package}/__init__.py at the top level of the submission")
    detail = describe_exception(exc, cfg)
    if isinstance(exc, ModuleNotFoundError) and exc.name and not exc.name.startswith(package):
        detail += (f"\n(only the grading environment's packages can be imported: torch, numpy, "
                   f"safetensors and the standard library; '{exc.name}' is not one of them)")
    return f"importing {package} failed: {detail}"


def _load_probes(cfg: dict) -> dict:
    import importlib.util

    spec = importlib.util.spec_from_file_location("grader_probes", cfg["probes"])
    module = importlib.util.module_from_spec(spec)
    sys.modules["grader_probes"] = module
    spec.loader.exec_module(module)
    probes = getattr(module, "PROBES", None)
    if type(probes) is not dict:
        raise TypeError("the probes file defines no PROBES dict")
    return probes


def run_worker(cfg: dict, iso: dict, request: dict, report_fd: int) -> None:
    """Body of the forked worker; never returns."""
    write, exit_now, dumps = os.write, os._exit, json.dumps  # bound before student code can patch them

    streams: list = []

    def report(message: dict) -> None:
        data = b"\n" + dumps(message).encode() + b"\n"  # leading newline ends any partial line
        try:
            while data:
                data = data[write(report_fd, data):]
        except OSError:
            exit_now(EXIT_CHANNEL_LOST)

    def finish(message: dict) -> None:
        report(message)
        for stream in streams:
            try:
                stream.flush()
            except BaseException:
                pass
        exit_now(0)

    try:
        call_dir = enter_worker_jail(cfg, iso, request["id"])
        for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
            target = os.open(os.path.join(call_dir, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.closerange(3, report_fd)
        os.closerange(report_fd + 1, 1 << 16)
        apply_limits_and_drop_privileges(cfg, iso, float(request.get("cpu_limit") or request["timeout"]))
        os.chdir(call_dir)
    except BaseException as exc:
        report({"status": "sandbox-failure", "message": f"{type(exc).__name__}: {exc}"})
        exit_now(EXIT_SANDBOX_FAILURE)

    import io

    import safetensors.torch
    import torch

    save_file = safetensors.torch.save_file
    # Unbuffered text streams: what the student printed survives a crash or os._exit.
    for fd, name in ((1, "stdout"), (2, "stderr")):
        stream = io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", write_through=True)
        setattr(sys, name, stream)
        streams.append(stream)
    if not iso["mount_ns"]:  # no private /tmp: use the call's own directory
        import tempfile

        os.environ["TMPDIR"] = os.environ["HOME"] = call_dir
        tempfile.tempdir = None
    try:
        torch.set_num_threads(cfg["threads"])
        torch.set_num_interop_threads(cfg["threads"])
    except RuntimeError:
        pass

    probe_name = request.get("probe")
    try:
        probes = _load_probes(cfg)
        if request["op"] == "manifest":
            finish({"manifest": [name for name in probes if type(name) is str]})
        probe = probes[probe_name]
        inputs = safetensors.torch.load_file(os.path.join(call_dir, "inputs.safetensors"))
        with open(os.path.join(call_dir, "params.json")) as params_file:
            params = json.load(params_file)
        device = cfg["device"]
        if device != "cpu":
            inputs = {name: tensor.to(device) for name, tensor in inputs.items()}
    except BaseException as exc:
        finish({"status": "error", "message": f"the grader's probe {probe_name!r} could not be prepared "
                "(a grader problem, not yours): " + describe_exception(exc, cfg)})

    report({"phase": "import"})
    package = cfg["package"]
    sys.path.insert(0, cfg["submission"])
    try:
        import importlib

        if not os.path.isfile(os.path.join(cfg["submission"], package, "__init__.py")):
            raise ModuleNotFoundError(f"No module named {package!r}", name=package)
        module = importlib.import_module(package)
        origin = getattr(getattr(module, "__spec__", None), "origin", None) or ""
        if not str(origin).startswith(cfg["submission"].rstrip("/") + "/"):
            raise ImportError(f"{package} was imported from {origin!r}, not from the submission")
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too
        finish({"status": "error", "message": describe_import_error(exc, cfg)})

    report({"phase": "probe"})
    try:
        result = probe(module, inputs, params)
    except BaseException as exc:
        message = describe_exception(exc, cfg)
        if isinstance(exc, SystemExit):
            message += "\n(your code called sys.exit() or exit(); remove that call)"
        finish({"status": "error", "message": message})

    report({"phase": "save"})
    try:
        outputs = plain_outputs(torch, result, probe_name)
        save_file(outputs, os.path.join(call_dir, "outputs.safetensors"))
    except BadOutput as exc:
        finish({"status": "bad-output", "message": str(exc)})
    except BaseException as exc:
        message = f"the outputs of probe {probe_name!r} could not be saved: {_safe_str(exc)}"
        finish({"status": "bad-output", "message": message})
    finish({"status": "ok"})


# ---------------------------------------------------------------------------------------------
# The zygote: serve calls until the parent says stop (or goes away).

_MAX_REPORT_BYTES = 256 << 10


def _parse_reports(data: bytes) -> tuple[list, int]:
    """The worker's messages (one JSON object per line) and how many bytes of the rest were garbage.

    Student code can write anything to the report pipe, so no line may reach a recursion limit in
    json (a RecursionError here would end the fork server): a line nested deeper than the worker's own
    messages ever are is garbage before json sees it, and json's errors of any kind mean garbage."""
    import re

    max_depth = 32  # the worker's own messages are nested 3 deep at most

    def too_deep(line: bytes) -> bool:
        if line.count(b"[") + line.count(b"{") <= max_depth:
            return False
        depth, in_string = 0, False
        for token in re.finditer(rb'\\.|["\[\]{}]', line, re.DOTALL):
            symbol = token.group()
            if symbol == b'"':
                in_string = not in_string
            elif in_string or len(symbol) > 1:
                continue
            elif symbol in (b"[", b"{"):
                depth += 1
                if depth > max_depth:
                    return True
            else:
                depth -= 1
        return False

    messages, garbage = [], 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        message = None
        if len(line) <= 64 << 10 and not too_deep(line):
            try:
                message = json.loads(line)
            except (ValueError, RecursionError):
                message = None
        if type(message) is dict and len(messages) < 64:
            messages.append(message)
        else:
            garbage += len(line)
    return messages, garbage


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_SAMPLE_S = 0.2


def _proc_stat(pid: str) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 is the state), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2:].decode("ascii", "replace").split()


def tree_usage(root: int) -> tuple[float, int]:
    """(CPU seconds, resident bytes) of process `root` and all its descendants.

    CPU counts every thread (utime + stime) plus the children each process has already reaped
    (cutime + cstime), so work handed to a subprocess is counted too. Scans /proc: inside the
    sandbox it lists only the sandbox's own processes."""
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        names = []
    for name in names:
        if name.isdigit():
            fields = _proc_stat(name)
            if fields is not None and len(fields) > 21:
                stats[int(name)] = fields
                parents[int(name)] = int(fields[1])
    tree, frontier = set(), [root]
    while frontier:
        pid = frontier.pop()
        if pid in tree or pid not in stats:
            continue
        tree.add(pid)
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    ticks = rss = 0
    for pid in tree:
        fields = stats[pid]
        ticks += sum(int(fields[k]) for k in (11, 12, 13, 14))  # utime stime cutime cstime
        rss += int(fields[21]) * _PAGE_BYTES
    return ticks / _CLOCK_TICKS, rss


def run_delay_seconds(pid: int) -> float | None:
    """Seconds the process's main thread spent runnable but waiting for a CPU (schedstat's second
    field): time the machine's load took from it, never time its code used. None if unavailable."""
    try:
        with open(f"/proc/{pid}/schedstat") as handle:
            return int(handle.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class CallClock:
    """How much of a call's time belongs to the code under test.

    student seconds = max(CPU seconds of the worker's tree / threads allowed,
                          wall seconds - seconds its main thread waited for a CPU)

    The first term catches busy loops (in any process or thread the worker started), the second
    sleeps, locks and blocking reads: both are the student's. Waiting in the run queue because
    the machine is busy is not. Without schedstat only the CPU term is known (`exact` is False).
    """

    def __init__(self, pid: int, threads: int) -> None:
        self.pid, self.threads = pid, max(1, threads)
        self.started = time.monotonic()
        self.cpu = self.wall = self.student = self.delay = 0.0
        self.rss_peak = 0
        self.exact = True

    def sample(self) -> float:
        self.wall = time.monotonic() - self.started
        cpu, rss = tree_usage(self.pid)
        self.cpu = max(self.cpu, cpu)
        self.rss_peak = max(self.rss_peak, rss)
        delay = run_delay_seconds(self.pid)
        if delay is None:
            self.exact = False
        else:
            self.delay = max(self.delay, delay)
        idle_or_busy = self.wall - self.delay if self.exact else 0.0
        self.student = max(self.student, self.cpu / self.threads, idle_or_busy)
        return self.student

    def finish(self, usage) -> None:
        """The worker has been reaped: its own rusage (with the children it waited for) is exact."""
        self.wall = time.monotonic() - self.started
        if usage is not None:
            self.cpu = max(self.cpu, usage.ru_utime + usage.ru_stime)
            self.rss_peak = max(self.rss_peak, usage.ru_maxrss * 1024)
        self.student = max(self.student, self.cpu / self.threads)
        if self.exact:  # the delay sampled last is the best known; the wall since then is the code's
            self.student = max(self.student, self.wall - self.delay)

    def as_dict(self) -> dict:
        return {"cpu_seconds": self.cpu, "student_seconds": self.student, "run_delay_seconds": self.delay,
                "rss_peak_bytes": self.rss_peak, "exact_accounting": self.exact}


def serve_call(cfg: dict, iso: dict, request: dict, own_pidns: int | None) -> dict:
    scratch = bool(iso["mount_ns"])  # the call directory is a tmpfs (the confined kinds)
    if scratch:
        try:
            prepare_call_directory(cfg, iso, request["id"])
        except OSError as exc:
            return {"id": request["id"], "fork_error": f"preparing the call's directory: {exc}"}
    try:
        return _serve_call(cfg, iso, request, own_pidns)
    finally:
        if scratch:
            collect_call_directory(cfg, request["id"])


def _serve_call(cfg: dict, iso: dict, request: dict, own_pidns: int | None) -> dict:
    read_end, write_end = os.pipe()
    started = time.monotonic()
    try:
        pid = fork_worker(iso, own_pidns)
    except OSError as exc:
        os.close(read_end)
        os.close(write_end)
        return {"id": request["id"], "fork_error": str(exc)}
    if pid == 0:
        try:
            os.close(read_end)
            if not iso["pid_ns"]:
                os.setpgid(0, 0)
            run_worker(cfg, iso, request, write_end)
        finally:
            os._exit(71)
    os.close(write_end)
    os.set_blocking(read_end, False)
    try:
        waiter = os.pidfd_open(pid)
    except (AttributeError, OSError):
        waiter = None  # pre-5.3 kernel: poll the child instead
    cpu_limit = float(request.get("cpu_limit") or request["timeout"])
    deadline = started + float(request.get("wall_limit") or request["timeout"])  # the backstop
    clock = CallClock(pid, cfg["threads"])
    base_rss = (_read_status_kib("VmRSS") or 0) * 1024  # the worker starts as a copy of this process
    received, dropped, timed_out, status, limit_hit, usage = bytearray(), 0, False, None, None, None

    def take(chunk: bytes) -> None:
        nonlocal dropped
        if len(received) < _MAX_REPORT_BYTES:
            received.extend(chunk)
        else:
            dropped += len(chunk)

    watched = [read_end] + ([waiter] if waiter is not None else [])
    next_sample = started + _SAMPLE_S
    while status is None:
        now = time.monotonic()
        if now >= next_sample:
            next_sample = now + _SAMPLE_S
            if clock.sample() >= cpu_limit:
                limit_hit = "student"
        remaining = deadline - now
        if remaining <= 0:
            limit_hit = limit_hit or "wall"
        if limit_hit:
            timed_out = True
            for kill in (os.kill, os.killpg):
                try:
                    kill(pid, signal.SIGKILL)  # PID 1 of its namespace: everything in it dies too
                except OSError:
                    pass
            _, status, usage = os.wait4(pid, 0)
            break
        wait = max(0.0, min(remaining, next_sample - now))
        ready, _, _ = select.select(watched, [], [], wait if waiter is not None else min(wait, 0.005))
        if read_end in ready:
            try:
                chunk = os.read(read_end, 65536)
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                watched.remove(read_end)  # closed; keep waiting for the exit
            elif chunk:
                take(chunk)
        if waiter is None or waiter in ready:
            reaped, wait_status, usage = os.wait4(pid, os.WNOHANG)
            if reaped == pid:
                status = wait_status
    clock.finish(usage)
    seconds = time.monotonic() - started
    if not iso["pid_ns"]:
        try:
            os.killpg(pid, signal.SIGKILL)  # stragglers the student left behind
        except OSError:
            pass
    while True:  # the report is already in the pipe; do not wait for stragglers to close it
        try:
            chunk = os.read(read_end, 65536)
        except OSError:
            break
        if not chunk:
            break
        take(chunk)
    os.close(read_end)
    if waiter is not None:
        os.close(waiter)
    while True:  # as PID 1 (kind "unshare") orphans are ours to reap
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    messages, garbage = _parse_reports(bytes(received))
    response = {"id": request["id"], "timed_out": timed_out, "limit_hit": limit_hit, "seconds": seconds,
                "messages": messages, "garbage_bytes": garbage + dropped, "exit_code": None, "signal": None,
                "pid_namespace": bool(iso["pid_ns"]), "base_rss_bytes": base_rss, **clock.as_dict()}
    if os.WIFSIGNALED(status):
        response["signal"] = os.WTERMSIG(status)
    elif os.WIFEXITED(status):
        response["exit_code"] = os.WEXITSTATUS(status)
    return response


def _send_frame(fd: int, message: dict) -> None:
    data = json.dumps(message).encode()
    data = struct.pack(">I", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def _read_exact(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_frame(fd: int) -> dict | None:
    header = _read_exact(fd, 4)
    if header is None:
        return None
    body = _read_exact(fd, struct.unpack(">I", header)[0])
    return None if body is None else json.loads(body)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    os.umask(0o022)
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the launcher (or the grader) went away: stop
    except OSError:
        pass
    if cfg.get("root_plan"):
        build_root(cfg["root_plan"])
    try:
        own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    except OSError:
        own_pidns = None
    began = time.monotonic()
    iso = probe_isolation(cfg, own_pidns)
    if cfg["isolate_workers"] and iso["mount_ns"]:
        iso["escapes"] = run_escape_test(cfg, iso, own_pidns)
    print(f"zygote: isolation {_describe_isolation(iso)} probed in {time.monotonic() - began:.2f} s"
          + (f"; ESCAPES: {iso['escapes']}" if iso.get("escapes") else ""), file=sys.stderr, flush=True)
    if cfg["mode"] == "self-test":
        print(json.dumps({"isolation": iso, "uid": os.getuid()}), flush=True)
        return

    # The control channel moves off fds 0/1 so that nothing forked later can touch it by accident.
    requests, responses = os.dup(0), os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    if cfg["isolate_workers"] and cfg["worker_uid"] is not None and iso["uid"] is None:
        # Workers would run as root: say so at once (the grader refuses) instead of loading anything.
        _send_frame(responses, {"ready": True, "isolation": iso, "torch": None})
        _read_frame(requests)
        os._exit(0)

    began = time.monotonic()
    import importlib
    import importlib.util
    import resource  # noqa: F401  (preloaded for the workers)

    import numpy  # noqa: F401
    import safetensors.torch  # noqa: F401
    import torch  # no torch op runs here: OpenMP must start after fork, in the worker

    print(f"zygote: torch {torch.__version__} imported in {time.monotonic() - began:.2f} s",
          file=sys.stderr, flush=True)
    began = time.monotonic()
    for name in cfg.get("preload", ()):
        try:
            importlib.import_module(name)
        except BaseException as exc:  # a missing optional module: workers import it themselves
            print(f"zygote: preloading {name} failed ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
    print(f"zygote: preloaded {len(cfg.get('preload', ()))} modules in {time.monotonic() - began:.2f} s",
          file=sys.stderr, flush=True)

    global _ALLOWED_DTYPES
    _ALLOWED_DTYPES = {torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64,
                       torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool}
    leaked = importlib.util.find_spec(cfg["package"])  # locate only, never import
    _send_frame(responses, {"ready": True, "isolation": iso, "torch": torch.__version__,
                            "package_visible_without_submission": getattr(leaked, "origin", None) if leaked else None})
    while True:
        request = _read_frame(requests)
        if request is None or request.get("op") == "exit":
            os._exit(0)  # skip interpreter teardown: unloading torch takes seconds
        _send_frame(responses, serve_call(cfg, iso, request, own_pidns))


if __name__ == "__main__":
    main()
