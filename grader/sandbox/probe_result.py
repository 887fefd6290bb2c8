"""The recorded outcome of one sandboxed call."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import torch


class Status(StrEnum):
    """How one sandboxed call ended. The values are the words results.json, the reports and feedback use.

    OK          the probe returned a dict of plain tensors; they are in `outputs`.
    ERROR       the student's code raised (importing diffusion_hw or inside the probe); `message` holds
                the type, the message and the student's frames.
    TIMEOUT     the call ran past its time limit, or the sandbox's total budget was spent.
    CRASH       the process died: os._exit, a signal (segfault), a kill for memory.
    BAD_OUTPUT  the probe returned something that is not a dict of plain tensors.
    INCOMPLETE  the grading machine failed, not the code: the wall-clock backstop fired before the
                student's time ran out (a busy machine), the fork server or the worker was killed from
                outside, or the sandbox could not start. Says nothing about the submission; the caller
                retries or reports it.

    A worker reports OK, ERROR and BAD_OUTPUT itself (zygote.py writes the same words: it runs without
    the grader, so tests/sandbox keeps the two equal); the grader's side decides the others.
    """

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    CRASH = "crash"
    BAD_OUTPUT = "bad-output"
    INCOMPLETE = "incomplete"


@dataclass(frozen=True)
class ProbeResult:
    """What happened when one probe ran the student's code.

    status   how the call ended (see Status).
    message  a sentence for the student saying what went wrong; "" when ok.
    outputs  {name: CPU tensor}, only when ok.
    stdout, stderr   what the student's code printed, cut to Limits.max_capture_bytes each.
    seconds  wall time of the worker process (import plus probe).
    student_seconds  the part of it that counts against the limits (Limits.call_timeout_s).
    """

    probe: str
    status: Status
    message: str = ""
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    student_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == Status.OK
