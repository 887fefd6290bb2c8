"""The grader's side of the sandbox: runs probes on student code it never imports.

    with Sandbox(submission_root, limits=Limits(), probes_module=probes_py, device="cpu") as sb:
        result = sb.call("q_sample", {"x0": x0, "t": t}, {"seed": 0})

Each call runs in a fresh worker process forked from a zygote (see zygote.py) inside the
confinement chosen by confinement.py. Whatever the student's code does, `call` returns a
ProbeResult; only grader-side problems (a missing submission or probes file, an unknown probe name,
a runtime that cannot start) raise SandboxError.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

import torch

from . import filesystem_view as view
from .cleanup import remove_tree
from .confinement import (
    KINDS,
    Confinement,
    check_confinement,
    describe,
    detect_confinement,
    launcher_prefix,
    refusal_to_run_as_root,
    zygote_config,
    zygote_environment,
)
from .errors import SandboxError, SandboxStartError
from .limits import Limits
from .probe_result import ProbeResult, Status
from .tensor_io import OutputRejected, read_capture, read_outputs, write_inputs

WORKER_STATUSES = (Status.OK, Status.ERROR, Status.BAD_OUTPUT)  # what a worker's final message may say
SANDBOX_FAILURE = "sandbox-failure"  # a worker's message that the sandbox itself is broken on this machine
_PHASES = {"import": "importing {package}", "probe": "running probe {probe!r}", "save": "saving the outputs"}
_SIGNALS = {
    signal.SIGSEGV: "a segmentation fault (a native crash, e.g. memory corruption in an extension)",
    signal.SIGKILL: "SIGKILL, usually for using too much memory",
    signal.SIGABRT: "SIGABRT, usually a failed check in native code or running out of memory",
    signal.SIGBUS: "SIGBUS (a bad memory access)",
    signal.SIGFPE: "SIGFPE (an arithmetic fault such as an integer division by zero)",
    signal.SIGILL: "SIGILL (an illegal instruction)",
    signal.SIGXFSZ: "SIGXFSZ (a file grew past the size limit)",
    signal.SIGXCPU: "SIGXCPU (CPU time limit)",
}
_EXIT_CHANNEL_LOST = 72  # zygote.EXIT_CHANNEL_LOST (zygote.py is not imported by the grader)
_GRACE_S = 15.0  # the zygote's own bookkeeping on top of a call's timeout


def _kill_group(process: subprocess.Popen) -> None:
    if process.returncode is None:  # not reaped yet, so its PID (and group id) cannot have been reused
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _cleanup(process_box: list, workdir: str | None) -> None:
    """Finalizer: never leave a zygote or a scratch directory behind, even without close()."""
    if process_box and process_box[0] is not None:
        _kill_group(process_box[0])
    if workdir:
        remove_tree(workdir)


def _number(value: object) -> float:
    return float(value) if type(value) in (int, float) else 0.0


class _ZygoteDied(Exception):
    pass


class Sandbox:
    """Runs probes against one submission, each call in a fresh, confined process."""

    def __init__(
        self,
        submission_root: Path | str,
        limits: Limits | None = None,
        probes_module: Path | str | None = None,
        device: str = "cpu",
        *,
        confinement: str | None = None,
        require_confinement: bool = False,
        package: str = "diffusion_hw",
    ) -> None:
        submission = Path(submission_root)
        if not submission.is_dir():
            raise SandboxError(f"submission directory {submission} does not exist or is not a directory")
        if probes_module is None:
            raise SandboxError("Sandbox needs probes_module: the path of a Python file defining PROBES")
        probes = Path(probes_module)
        if not probes.is_file():
            raise SandboxError(f"probes file {probes} does not exist")
        try:
            compile(probes.read_bytes(), str(probes), "exec")
        except SyntaxError as exc:
            raise SandboxError(f"probes file {probes} has a syntax error: {exc}") from None
        if not (device == "cpu" or device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit())):
            raise SandboxError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        requested = confinement or os.environ.get("GRADER_SANDBOX_CONFINEMENT") or None
        if requested is not None and requested not in KINDS:
            raise SandboxError(f"unknown confinement {requested!r}; expected one of {KINDS}")
        self.submission_root = submission.resolve()
        self.probes_module = probes.resolve()
        self.limits = limits if limits is not None else Limits()
        self.device = device
        self.package = package
        self.confinement: Confinement | None = None
        self.probe_names: frozenset[str] = frozenset()
        self.restarts = 0  # how many times the zygote had to be started again
        self._requested = requested
        self._require_confinement = require_confinement
        self._process_box: list = [None]
        self._workdir: Path | None = None
        self._spent = 0.0
        self._calls = 0
        self._buffer = b""
        self._finalizer = None

    @property
    def fork_server_pid(self) -> int | None:
        """PID of the process that holds the fork server (its launcher); None while it is down."""
        process = self._process_box[0]
        return None if process is None else process.pid

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> "Sandbox":
        if self._workdir is None:  # open_sandbox() hands over one already open
            self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        if self._workdir is not None:
            raise SandboxError("this Sandbox is already open")
        if self._requested is not None:
            works, reason, _ = check_confinement(self._requested)
            if not works:
                raise SandboxError(f"confinement {self._requested!r} was requested but does not work here: {reason}")
            self._kind = self._requested
        else:
            self._kind = detect_confinement().kind
        if self.device.startswith("cuda") and not glob.glob("/dev/nvidia[0-9]*"):
            raise SandboxError(f"device={self.device!r} but this machine has no NVIDIA GPU device files (/dev/nvidia*)")
        if self._require_confinement and self._kind == "none":
            raise SandboxError("confinement is required but none works here: " + detect_confinement().detail)
        self._workdir = Path(tempfile.mkdtemp(prefix="grader-sandbox-"))
        self._finalizer = weakref.finalize(self, _cleanup, self._process_box, str(self._workdir))
        try:
            self._prepare_workdir()
            self._start_zygote()
            self.probe_names = frozenset(self._manifest())
            self._spent = 0.0  # student seconds used by calls so far (the fork server's start-up is not)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        process = self._process_box[0]
        if process is not None:
            try:
                self._send({"op": "exit"})
                process.stdin.close()
                process.wait(timeout=3)
            except (OSError, ValueError, subprocess.TimeoutExpired, _ZygoteDied):
                pass
            self._stop_zygote()
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._workdir = None

    # -- setting up --------------------------------------------------------------------------------

    def _prepare_workdir(self) -> None:
        work = self._workdir
        # 0711: a worker dropped to another uid may pass through but not list.
        work.chmod(0o711)
        (work / "io").mkdir(mode=0o711)
        (work / "io").chmod(0o711)
        files = work / "files"
        files.mkdir(mode=0o755)
        shutil.copyfile(self.probes_module, files / "probes.py")
        shutil.copyfile(Path(__file__).with_name("zygote.py"), files / "zygote.py")
        for name in ("probes.py", "zygote.py"):
            (files / name).chmod(0o644)
        view.write_etc(work / "etc")
        self._submission_host = self._readable_submission()

    def _readable_submission(self) -> Path:
        """The submission itself, or a world-readable copy if some of it is private to its owner
        (the worker runs as another uid and must read every file)."""
        root = self.submission_root
        private = False
        for count, (directory, dirnames, filenames) in enumerate(os.walk(root)):
            for name in [directory, *(os.path.join(directory, f) for f in filenames)]:
                try:
                    mode = os.lstat(name).st_mode
                except OSError:
                    continue
                needed = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
                if not stat.S_ISLNK(mode) and mode & needed != needed:
                    private = True
            if private or count > 5000:
                break
        if not private:
            return root
        copy = self._workdir / "submission"
        shutil.copytree(root, copy, symlinks=True)
        for directory, _, filenames in os.walk(copy):
            os.chmod(directory, 0o755)
            for name in filenames:
                path = os.path.join(directory, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o644)
        return copy

    def _paths(self) -> dict[str, str]:
        """Where the submission, probes and I/O directory are as seen by the zygote."""
        if self._kind == "none":
            return {"submission": str(self._submission_host), "probes": str(self._workdir / "files" / "probes.py"),
                    "io_dir": str(self._workdir / "io"), "zygote": str(self._workdir / "files" / "zygote.py")}
        return {"submission": view.SUBMISSION, "probes": view.PROBES, "io_dir": view.IO_DIR,
                "zygote": view.ZYGOTE if self._kind == "bubblewrap" else str(self._workdir / "files" / "zygote.py")}

    def _start_zygote(self) -> None:
        limits, work = self.limits, self._workdir
        tmp_bytes = min(limits.memory_bytes // 4, 512 << 20)  # /tmp and /dev/shm are RAM
        ops = view.build_view(submission=self._submission_host, probes=work / "files" / "probes.py",
                              zygote=work / "files" / "zygote.py", io_dir=work / "io", etc_dir=work / "etc",
                              device=self.device, tmp_bytes=tmp_bytes)
        (work / "root").mkdir(exist_ok=True)
        prefix, plan = launcher_prefix(self._kind, ops, work / "root")
        paths = self._paths()
        torch_dir = os.path.dirname(torch.__file__)
        must_read = [os.path.realpath(sys.executable), os.path.join(torch_dir, "__init__.py"), paths["probes"],
                     sys.prefix]
        if self._kind == "none":
            must_read.append(str(self._submission_host))
        cfg = zygote_config(mode="serve", kind=self._kind, root_plan=plan, submission=paths["submission"],
                            probes=paths["probes"], probes_name=self.probes_module.name, io_dir=paths["io_dir"],
                            must_read=must_read, threads=limits.threads, memory_bytes=limits.memory_bytes,
                            max_processes=limits.max_processes, max_file_bytes=limits.max_output_bytes + (64 << 20),
                            tmp_bytes=tmp_bytes, device=self.device, package=self.package)
        command = prefix + [sys.executable, "-I", "-B", paths["zygote"], json.dumps(cfg)]
        log = open(work / "zygote.log", "ab")
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                       env=zygote_environment(limits.threads, self.device), cwd=work,
                                       start_new_session=True, close_fds=True)
        except OSError as exc:
            raise SandboxStartError(f"could not start the sandbox ({self._kind}): {exc}") from None
        finally:
            log.close()
        self._process_box[0] = process
        self._buffer = b""
        try:
            ready = self._receive(time.monotonic() + limits.startup_timeout_s)
        except (_ZygoteDied, TimeoutError) as exc:
            self._stop_zygote()
            raise SandboxStartError(f"the sandbox's fork server ({self._kind}) did not start: {exc}\n"
                                    f"{self._log_tail()}") from None
        if not ready.get("ready"):
            raise SandboxError(f"the sandbox's fork server sent {ready!r} instead of ready")
        leak = ready.get("package_visible_without_submission")
        if leak:
            raise SandboxError(f"the sandbox's Python runtime can import {self.package} from {leak} without any "
                               "submission: a reference copy is installed in the environment; uninstall it")
        isolation = ready.get("isolation") or {}
        refusal = refusal_to_run_as_root(self._kind, self._requested, isolation.get("uid"), os.geteuid())
        if refusal:
            self._stop_zygote()
            raise SandboxError(refusal)
        if isolation.get("escapes"):
            self._stop_zygote()
            raise SandboxError(f"the sandbox ({self._kind}) does not hold on this machine, so no student code runs: "
                               f"its start-up test found that student code {'; '.join(isolation['escapes'])[:800]}. "
                               "Grade on a machine where it holds (see the README's isolation section)")
        self.confinement = Confinement(self._kind, describe(self._kind, isolation,  # type: ignore[arg-type]
                                                            [] if self._kind != "none" else self._none_reasons()))

    def _none_reasons(self) -> list[str]:
        if self._requested == "none":
            return ["confinement 'none' was requested"]
        return [check_confinement(kind)[1] for kind in ("bubblewrap", "unshare")]

    def _log_tail(self) -> str:
        try:
            text = (self._workdir / "zygote.log").read_text(errors="replace")
        except OSError:
            return ""
        return "fork server log (tail):\n" + "\n".join(text.strip().splitlines()[-15:])

    def _manifest(self) -> list[str]:
        try:
            response, call_dir = self._run_in_worker({"op": "manifest"}, self.limits.startup_timeout_s, {}, {})
        except (_ZygoteDied, TimeoutError) as exc:
            raise SandboxStartError(f"the sandbox's fork server failed while loading the probes file: {exc}\n"
                                    f"{self._log_tail()}") from None
        try:
            for message in response.get("messages", []):
                names = message.get("manifest")
                if type(names) is list:
                    return [name for name in names if type(name) is str]
            detail = "; ".join(str(m.get("message", m))[:2000] for m in response.get("messages", []))
            stderr = read_capture(call_dir / "stderr.txt", 4000)
            raise SandboxError(f"the probes file {self.probes_module} could not be loaded in the sandbox: "
                               f"{detail or response}\n{stderr}")
        finally:
            remove_tree(call_dir)

    # -- the channel to the zygote -----------------------------------------------------------------

    def _send(self, message: dict) -> None:
        process = self._process_box[0]
        if process is None or process.poll() is not None:
            raise _ZygoteDied("the fork server is not running")
        data = json.dumps(message).encode()
        try:
            process.stdin.write(struct.pack(">I", len(data)) + data)
            process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise _ZygoteDied(f"the fork server went away ({exc})") from None

    def _receive(self, deadline: float) -> dict:
        process = self._process_box[0]
        fd = process.stdout.fileno()
        while True:
            if len(self._buffer) >= 4:
                (size,) = struct.unpack(">I", self._buffer[:4])
                if len(self._buffer) >= 4 + size:
                    frame, self._buffer = self._buffer[4 : 4 + size], self._buffer[4 + size :]
                    return json.loads(frame)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer in time")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    code = process.poll()
                    if code is None:
                        try:
                            code = process.wait(timeout=2)
                        except subprocess.TimeoutExpired:
                            code = "still running"
                    raise _ZygoteDied(f"exit status {code}")
                self._buffer += chunk

    def _stop_zygote(self) -> None:
        process = self._process_box[0]
        if process is not None:
            _kill_group(process)
            self._process_box[0] = None

    def _ensure_zygote(self) -> None:
        process = self._process_box[0]
        if process is None or process.poll() is not None:
            self._stop_zygote()
            self.restarts += 1
            self._start_zygote()

    def _run_in_worker(self, request: dict, timeout: float, inputs: dict, params: Any) -> tuple[dict, Path]:
        """Send one request to the zygote; (its response, the call directory). `timeout`: the student's
        seconds (Limits.call_timeout_s); the wall-clock backstop is derived from it. Raises _ZygoteDied
        or TimeoutError when the zygote itself fails (the caller records the outcome)."""
        self._calls += 1
        call_id = f"{self._calls:04d}-{secrets.token_hex(8)}"
        call_dir = self._workdir / "io" / call_id
        call_dir.mkdir(mode=0o700)
        try:
            write_inputs(call_dir / "inputs.safetensors", inputs)
        except (TypeError, ValueError, RuntimeError) as exc:  # safetensors rejects some tensors
            raise SandboxError(f"inputs for {request.get('probe') or request['op']!r}: {exc}") from None
        (call_dir / "params.json").write_text(json.dumps(params))
        for name in ("inputs.safetensors", "params.json"):
            (call_dir / name).chmod(0o644)
        wall = self.limits.wall_limit(timeout)
        request = dict(request, id=call_id, timeout=wall, cpu_limit=timeout, wall_limit=wall)
        try:
            self._send(request)
        except _ZygoteDied:  # died between calls: nothing ran yet, so start it again and send once more
            self._ensure_zygote()
            self._send(request)
        response = self._receive(time.monotonic() + wall + _GRACE_S)
        if response.get("id") != call_id:
            raise _ZygoteDied(f"answer for another call ({response.get('id')!r})")
        return response, call_dir

    # -- calls -------------------------------------------------------------------------------------

    def call(self, probe: str, inputs: dict[str, torch.Tensor] | None = None, params: dict | None = None, *,
             retry_incomplete: bool = False) -> ProbeResult:
        """Run one probe on the student's code in a fresh worker; never raises for student misbehaviour.
        `retry_incomplete`: when the machine fails the call ("incomplete"), run it once more."""
        result = self._call_once(probe, inputs, params)
        if retry_incomplete and result.status == Status.INCOMPLETE:
            result = self._call_once(probe, inputs, params)
        return result

    def _call_once(self, probe: str, inputs: dict[str, torch.Tensor] | None, params: dict | None) -> ProbeResult:
        if self._workdir is None:
            raise SandboxError("the Sandbox is not open: use `with Sandbox(...) as sb:`")
        if probe not in self.probe_names:
            raise SandboxError(f"unknown probe {probe!r}; the probes file defines {sorted(self.probe_names)}")
        inputs = {} if inputs is None else inputs
        params = {} if params is None else params
        try:
            json.dumps(params)
        except (TypeError, ValueError) as exc:
            raise SandboxError(f"params for probe {probe!r} must be JSON-serialisable: {exc}") from None
        remaining = self.limits.total_timeout_s - self._spent
        if remaining <= 0:
            return ProbeResult(probe, Status.TIMEOUT,
                               f"not run: the sandbox's total time budget of {self.limits.total_timeout_s:g} s was "
                               "used up by earlier calls")
        timeout = min(self.limits.call_timeout_s, remaining)
        started = time.monotonic()
        call_dir = None
        try:
            try:
                self._ensure_zygote()
            except SandboxStartError as exc:
                return ProbeResult(probe, Status.INCOMPLETE,
                                   f"the sandbox could not be started again: {' '.join(str(exc).split())[:600]}")
            response, call_dir = self._run_in_worker({"op": "call", "probe": probe}, timeout, inputs, params)
            result = self._classify(probe, response, call_dir, timeout)
            self._spent += result.student_seconds
            return result
        except _ZygoteDied as exc:
            self._stop_zygote()
            return ProbeResult(probe, Status.INCOMPLETE,
                               f"the sandbox's fork server stopped during this call ({exc}): it was killed from "
                               "outside the sandbox", seconds=time.monotonic() - started)
        except TimeoutError:
            self._stop_zygote()
            return ProbeResult(probe, Status.INCOMPLETE,
                               f"the sandbox's fork server did not answer within "
                               f"{self.limits.wall_limit(timeout) + _GRACE_S:g} s of wall-clock time and was stopped",
                               seconds=time.monotonic() - started)
        finally:
            if call_dir is None and self._workdir is not None:
                for leftover in (self._workdir / "io").glob(f"{self._calls:04d}-*"):
                    remove_tree(leftover)
            elif call_dir is not None:
                remove_tree(call_dir)

    def _idle_at_backstop(self, response: dict) -> bool:
        """Whether a call stopped by the wall-clock backstop was idle (a sleep or a wait: the student's)
        rather than starved. Only needed without schedstat, where sleeping is not measured: then a
        machine that was not busy cannot have starved the call."""
        if response.get("exact_accounting", True):
            return False
        try:
            return os.getloadavg()[0] < (os.cpu_count() or 1)
        except OSError:
            return False

    def _killed_from_outside(self, response: dict, signal_number: int) -> bool:
        """A fatal signal the code cannot have sent itself. The worker is PID 1 of its own PID namespace,
        and the kernel drops signals that processes inside a namespace send to its init without a
        handler; so SIGKILL/SIGTERM/SIGINT/SIGHUP came from outside, unless it was the kernel's
        out-of-memory killer (the worker had grown by half its memory limit or more)."""
        if not response.get("pid_namespace"):
            return False  # without a PID namespace the code could have signalled itself
        if signal_number not in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            return False
        grown = int(_number(response.get("rss_peak_bytes")) - _number(response.get("base_rss_bytes")))
        return signal_number != signal.SIGKILL or grown < self.limits.memory_bytes // 2

    def _classify(self, probe: str, response: dict, call_dir: Path, timeout: float) -> ProbeResult:
        limit = self.limits.max_capture_bytes
        stdout = read_capture(call_dir / "stdout.txt", limit)
        stderr = read_capture(call_dir / "stderr.txt", limit)
        seconds = _number(response.get("seconds"))
        student, cpu = _number(response.get("student_seconds")), _number(response.get("cpu_seconds"))

        def result(status: Status, message: str = "", outputs: dict | None = None) -> ProbeResult:
            return ProbeResult(probe, status, message, outputs or {}, stdout, stderr, seconds, student)

        if response.get("fork_error"):
            return result(Status.INCOMPLETE,
                          f"the sandbox could not start a worker: {str(response['fork_error'])[:600]}")
        phase, final, seen_phase = None, None, False
        for message in response.get("messages") or []:
            if type(message) is not dict:
                continue
            if message.get("phase") in _PHASES:
                phase, seen_phase = message["phase"], True
            elif message.get("status") == SANDBOX_FAILURE and not seen_phase and final is None:
                # Written before any student code ran: the sandbox itself is broken on this machine.
                raise SandboxError(f"the sandbox could not confine a worker: {str(message.get('message'))[:2000]}")
            elif message.get("status") in WORKER_STATUSES:  # a tuple: the status may be unhashable
                final = message
        doing = _PHASES.get(phase, "starting up").format(package=self.package, probe=probe)
        garbage = int(response.get("garbage_bytes") or 0)
        garbage_note = (f" (the sandbox's result channel also received {garbage} bytes of unexpected data: "
                        "does your code write to file descriptors it did not open?)") if garbage else ""
        exit_code, signal_number = response.get("exit_code"), response.get("signal")

        if response.get("timed_out"):
            if response.get("limit_hit") == "wall" and not self._idle_at_backstop(response):
                return result(Status.INCOMPLETE,
                              f"the grading machine was too busy: after {seconds:.0f} s of wall-clock "
                              f"time the code had used only {student:.1f} s of its {timeout:g} s "
                              f"({cpu:.1f} s of CPU) while {doing}; this says nothing about the code")
            used = f"{max(student, timeout):.3g} s of your code's time ({cpu:.3g} s of CPU)"
            if timeout < self.limits.call_timeout_s:
                return result(Status.TIMEOUT,
                              f"stopped after {used} while {doing}, when the sandbox's total "
                              f"time budget of {self.limits.total_timeout_s:g} s ran out" + garbage_note)
            return result(Status.TIMEOUT,
                          f"stopped after {used} while {doing}: look for an infinite loop, a sleep "
                          "or a wait that never ends, or work far slower than needed" + garbage_note)
        if signal_number == signal.SIGXCPU or (signal_number == signal.SIGKILL and cpu >= timeout):
            return result(Status.TIMEOUT,
                          f"stopped after {cpu:.3g} s of CPU time while {doing}, past the limit of "
                          f"{timeout:g} s: look for an infinite loop or work far slower than needed"
                          + garbage_note)
        if signal_number and self._killed_from_outside(response, signal_number):
            return result(Status.INCOMPLETE,
                          f"the process running the code was killed from outside the sandbox "
                          f"(signal {signal_number}) while {doing}, not by anything it did")
        if signal_number:
            try:
                name = signal.Signals(signal_number).name
            except ValueError:
                name = f"signal {signal_number}"
            why = _SIGNALS.get(signal_number, name)
            return result(Status.CRASH,
                          f"the process running your code was killed by {why} while {doing}" + garbage_note)
        if final is not None and exit_code == 0:
            status = Status(final["status"])
            if status == Status.OK:
                try:
                    outputs = read_outputs(call_dir / "outputs.safetensors", self.limits.max_output_bytes)
                except OutputRejected as exc:
                    return result(Status.BAD_OUTPUT, f"probe {probe!r}: {exc}")
                return result(Status.OK, outputs=outputs)
            text = final.get("message")
            text = text[:8000] if type(text) is str else "(no message)"
            return result(status, text + garbage_note)
        if exit_code == _EXIT_CHANNEL_LOST:
            return result(Status.CRASH,
                          f"your code closed or overwrote the sandbox's result channel while {doing} "
                          "(a file descriptor it did not open), so the call has no result" + garbage_note)
        if exit_code == 0:
            return result(Status.CRASH,
                          f"the process running your code ended without a result while {doing}: "
                          "something called os._exit() or replaced the process; remove it" + garbage_note)
        return result(Status.CRASH,
                      f"the process running your code exited with status {exit_code} while {doing}" + garbage_note)


def open_sandbox(*args: Any, **kwargs: Any) -> Sandbox:
    """Sandbox(*args, **kwargs), opened; a fork server that fails to start gets one more try.
    Raises SandboxStartError when both fail, SandboxError for anything that would fail again."""
    for attempt in (1, 2):
        sandbox = Sandbox(*args, **kwargs)
        try:
            sandbox.open()
            return sandbox
        except SandboxStartError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
