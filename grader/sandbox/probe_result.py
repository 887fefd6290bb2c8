"""The recorded outcome of one sandboxed call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

Status = Literal["ok", "error", "timeout", "crash", "bad-output", "incomplete"]
STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "crash", "bad-output", "incomplete")


@dataclass(frozen=True)
class ProbeResult:
    """What happened when one probe ran the student's code.

    status   "ok"          the probe returned a dict of plain tensors; they are in `outputs`.
             "error"       the student's code raised (importing diffusion_hw or inside the probe);
                           `message` holds the type, the message and the student's frames.
             "timeout"     the call ran past its time limit, or the sandbox's total budget was spent.
             "crash"       the process died: os._exit, a signal (segfault), a kill for memory.
             "bad-output"  the probe returned something that is not a dict of plain tensors.
             "incomplete"  the grading machine failed, not the code: the wall-clock backstop fired
                           before the student's time ran out (a busy machine), the fork server or
                           the worker was killed from outside, or the sandbox could not start.
                           Says nothing about the submission; the caller retries or reports it.
    message  a sentence for the student saying what went wrong; "" when ok.
    outputs  {name: CPU tensor}, only when ok.
    stdout, stderr   what the student's code printed, cut to ~Limits.max_capture_bytes each.
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
        return self.status == "ok"
