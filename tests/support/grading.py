"""Helpers of the grader's tests (a module of its own: `from conftest import ...` is ambiguous when
several test folders have a conftest.py)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.cleanup import remove_tree
from tests.support.corpus import ROOT

REPEATED = "p_sample_forgets_to_clip_x0"  # graded twice: two runs must agree exactly


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    results: dict | None
    leftovers: tuple[str, ...] = ()  # what the run left in its temp folder (run_grade(private_tmp=True))


def run_grade(*args: str, timeout: float = 600, private_tmp: bool = False) -> CliRun:
    """`python -m grader ARGS` from the repository root, as a user would run `grade`. `private_tmp`: give
    the run a temp folder of its own (TMPDIR) and report what it left there."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "solution")]), COLUMNS="120")
    tmp = None
    if private_tmp:
        tmp = Path(tempfile.mkdtemp(prefix="grade-run-tmp-"))
        tmp.chmod(0o711)  # like /tmp: the sandbox's scratch folders inside must stay reachable
        env["TMPDIR"] = str(tmp)
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "grader", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout)
    finally:
        # torchinductor_<user> is torch's own compile cache, which the grading process keeps in the usual /tmp
        leftovers = tuple(sorted(n for n in os.listdir(tmp) if not n.startswith("torchinductor_"))) if tmp else ()
        if tmp is not None:
            remove_tree(tmp)
    results = None
    if "--out" in args:
        path = Path(args[args.index("--out") + 1]) / "results.json"
        if path.is_file():
            results = json.loads(path.read_text())
    return CliRun(done.returncode, done.stdout, done.stderr, time.monotonic() - started, results, leftovers)


def tree_digest(folder: Path) -> dict[str, str]:
    """Content hashes of the grader's own files (not grader/sandbox or grader/metrics, which other
    work may be editing while the tests run)."""
    files = [p for p in folder.iterdir() if p.is_file()] + list((folder / "checks").glob("*.py"))
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)}
