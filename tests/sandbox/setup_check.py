"""Run by the set-up tests in a subprocess, as root or as another user: prints one JSON line.

    python setup_check.py escapes KIND ROOT     the chaotic submission's try_escapes under KIND, with
                                                ROOT holding alice/ and secret/ (make_submission_tree)
    python setup_check.py unconfined            escape_attempts with no confinement at all (refuses
                                                to run as root: as root it would really mount things)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPOSITORY)]


def escapes(kind: str, root: Path) -> dict:
    from grader.sandbox import Sandbox
    from grader.sandbox import filesystem_view as view
    from tests.support.sandbox import PROBES, TEST_LIMITS

    runtime_bin = os.path.dirname(os.path.realpath(sys.executable))
    params = {
        "write_into": [view.SUBMISSION, view.SANDBOX_DIR, view.IO_DIR, runtime_bin, sys.prefix, "/"],
        "read": [str(root / "secret" / "answers.txt"), str(REPOSITORY / "grader" / "__init__.py"),
                 str(REPOSITORY / "solution" / "diffusion_hw" / "__init__.py")],
        "remount": [view.SUBMISSION, view.PROBES, sys.prefix],
    }
    with Sandbox(root / "alice", limits=TEST_LIMITS, probes_module=PROBES, confinement=kind) as sandbox:
        result = sandbox.call("try_escapes", {}, params)
        detail = sandbox.confinement.detail if sandbox.confinement else ""
    flags = {name: int(value.item()) for name, value in result.outputs.items()}
    return {"status": result.status, "message": result.message, "flags": flags, "detail": detail,
            "uid": os.geteuid()}


def unconfined() -> dict:
    if os.geteuid() == 0:
        raise SystemExit("setup_check unconfined: refusing to try escapes as root outside any sandbox")
    sys.path.insert(0, str(REPOSITORY / "grader" / "sandbox"))
    import zygote

    from grader.sandbox.confinement import staff_only_files

    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"setup-check-{os.getpid()}"
    scratch.mkdir()
    (scratch / "probes.py").write_text("PROBES = {}\n")
    try:
        return {"escapes": zygote.escape_attempts({"submission": str(scratch), "probes": str(scratch / "probes.py"),
                                                   "staff_paths": staff_only_files()})}
    finally:
        (scratch / "probes.py").unlink()
        scratch.rmdir()


if __name__ == "__main__":
    if sys.argv[1] == "escapes":
        print(json.dumps(escapes(sys.argv[2], Path(sys.argv[3]))))
    else:
        print(json.dumps(unconfined()))
