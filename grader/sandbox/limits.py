"""What one sandboxed call (and one whole sandbox) may use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Resource limits for student code. Every call gets all of them afresh.

    call_timeout_s    wall-clock seconds for one call: importing the package plus running the probe.
    memory_bytes      memory the student's process may add on top of the preloaded runtime
                      (RLIMIT_DATA, and RLIMIT_AS on CPU). Going past it makes allocations fail
                      (status "error") or kills the worker (status "crash").
    max_processes     processes plus threads the unprivileged worker uid may own (RLIMIT_NPROC).
    threads           torch/OpenMP/MKL threads (torch.set_num_threads and *_NUM_THREADS).
    total_timeout_s   wall-clock budget for all calls of one sandbox, counted from when it is ready
                      (after start-up); once spent, calls return "timeout" at once without running.
    max_output_bytes  total size of one call's output tensors.
    max_capture_bytes how much of stdout and of stderr ProbeResult keeps (head and tail).
    startup_timeout_s seconds the fork server may take to import torch.
    """

    call_timeout_s: float = 20.0
    memory_bytes: int = 4 << 30
    max_processes: int = 64
    threads: int = 1
    total_timeout_s: float = 600.0
    max_output_bytes: int = 256 << 20
    max_capture_bytes: int = 4096
    startup_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("call_timeout_s", "total_timeout_s", "startup_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")
        for name in ("memory_bytes", "max_processes", "threads", "max_output_bytes", "max_capture_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive int, got {value!r}")
