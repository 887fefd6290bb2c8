"""What one sandboxed call (and one whole sandbox) may use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Resource limits for student code. Every call gets all of them afresh.

    call_timeout_s    the student's seconds for one call (importing the package plus running the
                      probe): CPU time of the worker and what it starts, or wall time minus the time
                      it waited for a CPU, whichever is larger (zygote.CallClock). A busy machine
                      slows a call down but does not use up this limit.
    wall_factor, wall_grace_s
                      the wall-clock backstop of a call is call_timeout_s * wall_factor + wall_grace_s. A call
                      stopped there without reaching call_timeout_s is "incomplete": the machine was
                      too busy, which says nothing about the code.
    memory_bytes      memory the student's process may add on top of the preloaded runtime
                      (RLIMIT_DATA, and RLIMIT_AS on CPU). Going past it makes allocations fail
                      (status "error") or kills the worker (status "crash").
    max_processes     processes plus threads the unprivileged worker uid may own (RLIMIT_NPROC).
    threads           torch/OpenMP/MKL threads (torch.set_num_threads and *_NUM_THREADS).
    total_timeout_s   the student's seconds (as for call_timeout_s) for all calls of one sandbox;
                      once spent, calls return "timeout" at once without running.
    max_output_bytes  total size of one call's output tensors.
    max_capture_bytes how much of stdout and of stderr ProbeResult keeps (head and tail).
    startup_timeout_s wall-clock seconds the fork server may take to start (import torch and the
                      preloaded modules); past it the sandbox is retried once, then "incomplete".
    """

    call_timeout_s: float = 20.0
    memory_bytes: int = 4 << 30
    max_processes: int = 64
    threads: int = 1
    total_timeout_s: float = 600.0
    max_output_bytes: int = 256 << 20
    max_capture_bytes: int = 4096
    startup_timeout_s: float = 300.0
    wall_factor: float = 10.0
    wall_grace_s: float = 30.0

    def wall_limit(self, student_seconds: float) -> float:
        """The wall-clock backstop for a call allowed `student_seconds` of the student's time."""
        return student_seconds * self.wall_factor + self.wall_grace_s

    def __post_init__(self) -> None:
        for name in ("call_timeout_s", "total_timeout_s", "startup_timeout_s", "wall_factor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")
        if self.wall_grace_s < 0:
            raise ValueError(f"Limits.wall_grace_s must not be negative, got {self.wall_grace_s!r}")
        for name in ("memory_bytes", "max_processes", "threads", "max_output_bytes", "max_capture_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive int, got {value!r}")
