"""Runs untrusted student code (the `diffusion_hw` package of a submission) away from the grader.

    from grader.sandbox import Sandbox, Limits

    with Sandbox(submission_root, limits=Limits(), probes_module=probes_py, device="cpu") as sb:
        print(sb.confinement.detail)
        result = sb.call("q_sample", {"x_start": x0, "t": t, "noise": eps}, {})
        if result.ok:  # result.status is a Status: OK, ERROR, TIMEOUT, CRASH, BAD_OUTPUT, INCOMPLETE
            x_t = result.outputs["x_t"]

Layout:
  sandbox.py          the grader's side: Sandbox, the zygote's lifecycle, classifying outcomes
  zygote.py           runs inside the sandbox: the fork server and the per-call worker
  confinement.py      which confinement works here (bubblewrap > unshare > none) and how to launch it
  filesystem_view.py  the mounts that make up what student code can see
  tensor_io.py        safetensors in and out, validated on the way back
  cleanup.py          removing what a sandbox leaves behind, even files student code made unreadable
  limits.py, probe_result.py, errors.py   the small types of the API

Machines: confinement needs Linux plus either bubblewrap (`apt-get install -y bubblewrap`) or the
util-linux `unshare` run as root. Without either the sandbox still works but runs student code
unconfined, and `Sandbox.confinement.detail` says so. GRADER_SANDBOX_CONFINEMENT=bubblewrap|unshare|none
forces a kind; Sandbox(require_confinement=True) refuses to run unconfined; the tests read
GRADER_SANDBOX_REQUIRE=bubblewrap,unshare to fail (not skip) when a named kind is missing.
A Sandbox is not thread-safe, and should be opened by a thread that outlives it (bubblewrap's
--die-with-parent follows the thread that started it).
"""

from .confinement import Confinement, check_confinement, detect_confinement
from .errors import SandboxError, SandboxStartError
from .limits import Limits
from .probe_result import ProbeResult, Status
from .sandbox import Sandbox, open_sandbox

__all__ = [
    "Confinement",
    "Limits",
    "ProbeResult",
    "Sandbox",
    "SandboxError",
    "SandboxStartError",
    "Status",
    "check_confinement",
    "detect_confinement",
    "open_sandbox",
]
