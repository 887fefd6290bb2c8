"""A deliberately misbehaving 'student' package for the sandbox's tests (nbgrader-style corpus).

Each function takes (inputs, params) and misbehaves in one way. What happens at import is chosen
by params["at_import"], read from params.json in the working directory (the call's directory).
"""

import json
import os
import sys

import torch

try:
    with open("params.json") as _params:
        _AT_IMPORT = json.load(_params).get("at_import")
except (OSError, ValueError):
    _AT_IMPORT = None

if _AT_IMPORT == "exit":
    os._exit(0)
if _AT_IMPORT == "syntax":
    from . import broken_syntax  # noqa: F401  (written by the test fixture; has a syntax error)
if _AT_IMPORT == "name_error":
    from . import raises_on_import  # noqa: F401
if _AT_IMPORT == "missing_dependency":
    import einops_is_not_installed  # noqa: F401
if _AT_IMPORT == "missing_file":
    from . import gaussian_diffusion  # noqa: F401  (the student forgot to hand this file in)
if _AT_IMPORT == "sys_exit":
    sys.exit(3)

STATE = {"counter": 0}


def double(inputs, params):
    print("doubling", tuple(inputs["x"].shape))
    return {"y": inputs["x"] * 2}


def raise_value_error(inputs, params):
    return {"y": _inner_helper(inputs["x"])}


def _inner_helper(x):
    raise ValueError(f"alphas_bar has shape {tuple(x.shape)}; expected (T,)")


def loop_forever(inputs, params):
    while True:
        pass


def burn_cpu(inputs, params):
    """Busy for exactly params["seconds"] of CPU time, however long that takes on the wall clock."""
    import time

    started = time.process_time()
    while time.process_time() - started < params.get("seconds", 1.0):
        pass
    return {"burned": torch.tensor(1)}


def sleep(inputs, params):
    import time

    time.sleep(params.get("seconds", 1.0))
    return {"slept": torch.tensor(1)}


def exit_now(inputs, params):
    print("about to exit", flush=True)
    os._exit(params.get("code", 0))


def sys_exit(inputs, params):
    sys.exit(0)


def segfault(inputs, params):
    import ctypes

    ctypes.string_at(0)


def allocate(inputs, params):
    tensor = torch.empty(params["bytes"] // 4, dtype=torch.float32)
    tensor.fill_(1.0)
    return {"sum": tensor.sum()}


def allocate_shared(inputs, params):
    import mmap

    region = mmap.mmap(-1, params["bytes"])  # shared anonymous memory: not counted by RLIMIT_DATA
    return {"length": torch.tensor(len(region))}


def fill_memory(inputs, params):
    """Hold as much memory as every kind of allocation gives (anonymous, shared anonymous, /tmp,
    /dev/shm, the call's own directory, memfd), in 16 MB steps up to params["cap"] bytes each;
    return how many bytes each kind held at once."""
    import mmap

    step, cap = 16 << 20, params.get("cap", 4 << 30)
    held, totals = [], {}

    def take(kind, action):
        total = 0
        try:
            while total < cap:
                held.append(action())
                total += step
        except (MemoryError, OSError, ValueError):
            pass
        totals[kind] = torch.tensor(total, dtype=torch.int64)

    def anonymous():
        block = bytearray(step)
        block[::4096] = b"x" * len(block[::4096])
        return block

    def shared():
        region = mmap.mmap(-1, step)
        region[::4096] = b"x" * len(region[::4096])
        return region

    def filler(folder):
        count = iter(range(1 << 30))

        def write():
            with open(os.path.join(folder, f"fill-{next(count)}"), "wb") as handle:
                handle.write(b"x" * step)
            return None
        return write

    def memfd():
        fd = os.memfd_create("fill")
        os.write(fd, b"x" * step)
        return fd

    take("anonymous", anonymous)
    take("shared", shared)
    take("tmp", filler("/tmp"))
    take("shm", filler("/dev/shm"))
    take("call_dir", filler(os.getcwd()))
    take("memfd", memfd)
    for name in os.listdir(os.getcwd()):  # room again for the outputs, after everything was held at once
        if name.startswith("fill-"):
            os.unlink(name)
    return totals


def fork_bomb(inputs, params):
    """Bounded on purpose: at most params["attempts"] forks, children just sleep."""
    import time

    started, refused = 0, 0
    for _ in range(params["attempts"]):
        try:
            pid = os.fork()
        except OSError:
            refused += 1
            continue
        if pid == 0:
            os.setsid()  # try to escape the process group
            time.sleep(params.get("child_seconds", 30))
            os._exit(0)
        started += 1
    return {"started": torch.tensor(started), "refused": torch.tensor(refused)}


def try_writes(inputs, params):
    """1 where writing the file worked (inside the sandbox), for each target path."""
    results = {}
    for index, path in enumerate(params["paths"]):
        try:
            with open(path, "w") as handle:
                handle.write("written by student code\n")
            results[f"wrote_{index}"] = torch.tensor(1)
        except OSError:
            results[f"wrote_{index}"] = torch.tensor(0)
    return results


def try_escapes(inputs, params):
    """Every way out a hostile student would try; 1 where it worked (nothing may).

    params: "write_into" (folders to create a file in: the submission, the probes' folder, the
    runtime's bin/, ...), "read" (staff-only files), "remount" (read-only mount points)."""
    import ctypes
    import socket

    libc = ctypes.CDLL(None, use_errno=True)
    results = {}

    def flag(name, action):
        try:
            ok = action()
        except Exception:
            ok = False
        results[name] = torch.tensor(int(bool(ok)))

    def create_in(folder):
        path = os.path.join(folder, ".student-was-here")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(path)
        return True

    def read(path):
        with open(path, "rb") as handle:
            return handle.read(1) is not None

    def syscall_ok(rc):
        return rc == 0

    status = open("/proc/self/status").read()
    caps = [line.split()[1] for line in status.splitlines() if line.startswith(("CapEff", "CapPrm", "CapAmb", "CapInh"))]
    results["capabilities"] = torch.tensor(int(any(int(value, 16) for value in caps)))
    os.makedirs("/tmp/mnt", exist_ok=True)
    flag("mount_tmpfs", lambda: syscall_ok(libc.mount(b"tmpfs", b"/tmp/mnt", b"tmpfs", 0, None)))
    for index, target in enumerate(params.get("remount", [])):
        flag(f"remount_rw_{index}", lambda t=target: syscall_ok(libc.mount(None, t.encode(), None, 32 | 4096, None)))
    for index, folder in enumerate(params.get("write_into", [])):
        flag(f"write_into_{index}", lambda f=folder: create_in(f))
    for index, path in enumerate(params.get("read", [])):
        flag(f"read_{index}", lambda p=path: read(p))
    flag("mknod_block_device", lambda: os.mknod("/tmp/sda", 0o60600, os.makedev(8, 0)) is None)
    flag("memfd_create", lambda: os.close(os.memfd_create("x")) is None)
    flag("netfilter_socket", lambda: socket.socket(16, socket.SOCK_RAW, 12).close() is None)
    import platform

    keyctl = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
    if keyctl is not None:
        flag("keyctl", lambda: libc.syscall(keyctl, 0, 0, 0, 0, 0) >= 0)  # KEYCTL_GET_KEYRING_ID
    for flag_bits, name in ((0x10000000, "user"), (0x20000, "mount"), (0x40000000, "net"), (0x20000000, "pid")):
        flag(f"unshare_{name}", lambda b=flag_bits: syscall_ok(libc.unshare(b)))
    return results


def try_reads(inputs, params):
    """1 where reading (a file) or listing (a directory, apart from params["ignore"]) worked."""
    results = {}
    ignore = set(params.get("ignore", []))
    for index, path in enumerate(params["paths"]):
        try:
            if os.path.isdir(path):
                seen = set(os.listdir(path)) - ignore
                ok = len(seen) > 0
            else:
                with open(path, "rb") as handle:
                    handle.read(16)
                ok = True
        except OSError:
            ok = False
        results[f"read_{index}"] = torch.tensor(int(ok))
    return results


def try_connect(inputs, params):
    import socket

    try:
        with socket.create_connection((params["host"], params["port"]), timeout=2) as connection:
            connection.sendall(b"hello from the sandbox")
        connected = 1
    except OSError:
        connected = 0
    return {"connected": torch.tensor(connected)}


def set_state(inputs, params):
    STATE["counter"] = 41
    torch.set_default_dtype(torch.float64)
    torch.add = lambda *args, **kwargs: torch.zeros(1)  # monkeypatch torch for "later" calls
    with open("/tmp/left_behind.txt", "w") as handle:
        handle.write("from an earlier call")
    return {"counter": torch.tensor(STATE["counter"])}


def get_state(inputs, params):
    return {
        "counter": torch.tensor(STATE["counter"]),
        "default_is_float32": torch.tensor(torch.get_default_dtype() == torch.float32),
        "add_works": torch.add(torch.ones(1), torch.ones(1)),
        "tmp_file_exists": torch.tensor(os.path.exists("/tmp/left_behind.txt")),
    }


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


class LoudTensor(torch.Tensor):
    """A tensor subclass that lies about its values through __torch_function__."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        result = super().__torch_function__(func, types, args, kwargs or {})
        return result


class FakeDict(dict):
    def items(self):
        return [("y", torch.zeros(1))]


def return_value(inputs, params):
    kind = params["kind"]
    if kind == "always_equal":
        return {"y": AlwaysEqual()}
    if kind == "list":
        return {"y": [1.0, 2.0]}
    if kind == "numpy":
        import numpy

        return {"y": numpy.zeros(3)}
    if kind == "not_a_dict":
        return [torch.zeros(1)]
    if kind == "dict_subclass":
        return FakeDict(y=AlwaysEqual())
    if kind == "complex":
        return {"y": torch.zeros(2, dtype=torch.complex64)}
    if kind == "subclass":
        return {"y": torch.arange(3.0).as_subclass(LoudTensor)}
    if kind == "requires_grad_view":
        base = torch.arange(6.0, requires_grad=True)
        return {"y": (base * 1).reshape(2, 3).t(), "z": base[::2]}
    if kind == "huge":
        return {"y": torch.zeros(params["elements"])}
    raise KeyError(kind)


def print_fake_status(inputs, params):
    print('{"status": "ok", "outputs": {}}')
    print(json.dumps({"id": "0001", "timed_out": False, "exit_code": 0, "messages": [{"status": "ok"}]}))
    sys.stdout.flush()
    raise RuntimeError("the real outcome is this error")


def print_lots(inputs, params):
    print("FIRST LINE")
    print("x" * params["bytes"])
    print("LAST LINE")
    sys.stderr.write("e" * params["bytes"] + "\n")
    return {"y": torch.zeros(1)}


def scribble_fds(inputs, params):
    """Write garbage to every file descriptor the worker inherited (the result channel among them)."""
    for fd in range(3, 256):
        try:
            os.write(fd, b'\x00garbage{"status": "ok"\n not json at all\n')
        except OSError:
            pass
    if params.get("then_exit"):
        os._exit(0)
    if params.get("then_close"):
        os.closerange(3, 256)
    return {"y": torch.ones(2)}


def kill_everything(inputs, params):
    """kill(-1): every process this one may signal. Only ever run as PID 1 of a private namespace."""
    import signal

    if os.getpid() != 1:
        raise RuntimeError("refusing to kill(-1) outside a private PID namespace")
    try:
        os.kill(-1, signal.SIGKILL)
        found_victims = 1
    except ProcessLookupError:  # nobody else to signal
        found_victims = 0
    return {"found_victims": torch.tensor(found_victims)}


def whoami(inputs, params):
    import socket

    try:
        interfaces = [name for _, name in socket.if_nameindex()]
    except OSError:
        interfaces = []
    return {
        "uid": torch.tensor(os.getuid()),
        "pid": torch.tensor(os.getpid()),
        "threads": torch.tensor(torch.get_num_threads()),
        "visible_pids": torch.tensor(len([p for p in os.listdir("/proc") if p.isdigit()])),
        "only_loopback": torch.tensor(interfaces in ([], ["lo"])),
        "root_entries": torch.tensor(len(os.listdir("/"))),
    }
