"""Exceptions the sandbox raises. Only grader-side problems raise; student misbehaviour never does."""


class SandboxError(RuntimeError):
    """The sandbox itself could not work: a missing submission or probes file, a broken runtime,
    a fork server that cannot start. Student code cannot cause this; fix the grader or the machine."""


class SandboxStartError(SandboxError):
    """The fork server did not come up (it timed out or died while starting): a machine problem that
    may pass, unlike a misconfiguration. Callers retry once, then report the grading incomplete."""
