"""Run a piece of grader code with a time limit, in whatever thread grades.

Judging happens in the grading process, on tensors the student's code returned. The judges are
written to take time in proportion to the outputs asked for, and outputs are bounded before a judge
sees them (grader/sandbox/tensor_io.py, grader/checks `CheckRun.outputs`); the deadline is the
backstop for whatever slips through, so that no output can keep the grader busy for days.

How: a timer thread raises `DeadlinePassed` in the judging thread (CPython's
PyThreadState_SetAsyncExc). That works in any thread, unlike SIGALRM, which only reaches the main
thread (the test suite and `grade batch` grade in worker threads). The exception arrives between two
Python bytecodes, so a loop is stopped at once and a single long native call (one torch operation)
when it returns; outputs are bounded in size, so such a call is short. `DeadlinePassed` derives from
BaseException, so a judge's own `except Exception` cannot swallow it.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Callable, TypeVar

T = TypeVar("T")

_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))


class DeadlinePassed(BaseException):
    """Raised inside the code run by `call_with_deadline` when its time is up."""


def call_with_deadline(function: Callable[[], T], seconds: float) -> T:
    """function(), or DeadlinePassed if it runs longer than `seconds` (wall-clock)."""
    thread = threading.get_ident()
    lock = threading.Lock()
    state = {"armed": True, "fired": False}

    def expire() -> None:
        with lock:
            if state["armed"]:
                state["fired"] = True
                _set_async_exc(thread, id(DeadlinePassed))

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        return function()
    finally:
        timer.cancel()
        with lock:
            state["armed"] = False
            if state["fired"]:  # fired as the function returned: withdraw it if it is still pending
                _set_async_exc(thread, None)
