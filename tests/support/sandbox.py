"""Shared pieces of the sandbox tests (imported by name: tests/sandbox is on sys.path under pytest)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from grader.sandbox import Limits, check_confinement

REPOSITORY = Path(__file__).resolve().parents[2]
HERE = REPOSITORY / "tests" / "sandbox"
PROBES = HERE / "probes_for_tests.py"
CORPUS = HERE / "submissions"

# Small limits keep the suite fast; the behaviour does not depend on their size.
TEST_LIMITS = Limits(call_timeout_s=3.0, memory_bytes=1 << 30, max_processes=16, threads=1, total_timeout_s=300.0,
                     max_output_bytes=8 << 20)


def required_kinds() -> set[str]:
    """Kinds CI insists on (GRADER_SANDBOX_REQUIRE=bubblewrap,unshare): missing ones fail, not skip."""
    return {kind for kind in os.environ.get("GRADER_SANDBOX_REQUIRE", "").split(",") if kind}


def kind_or_skip(kind: str) -> None:
    works, reason, _ = check_confinement(kind)
    if works:
        return
    if kind in required_kinds():
        pytest.fail(f"confinement {kind!r} is required (GRADER_SANDBOX_REQUIRE) but does not work: {reason}")
    pytest.skip(f"confinement {kind!r} is not available on this machine: {reason}")


def make_submission_tree(root: Path) -> Path:
    """root/alice (the chaotic submission), root/bob (a sibling), root/secret/answers.txt."""
    alice = root / "alice"
    shutil.copytree(CORPUS / "chaotic", alice)
    (alice / "diffusion_hw" / "broken_syntax.py").write_text(
        '"""Fails at import with a SyntaxError on line 3."""\n\ndef q_sample(x_start, t:\n    return x_start\n'
    )
    # A submission may carry symlinks; one aimed at the reference solution must lead nowhere.
    (alice / "diffusion_hw" / "stolen_helpers.py").symlink_to(REPOSITORY / "solution" / "diffusion_hw" / "helpers.py")
    bob = root / "bob" / "diffusion_hw"
    bob.mkdir(parents=True)
    (bob / "__init__.py").write_text("BOBS_ANSWER = 42\n")
    (root / "secret").mkdir()
    (root / "secret" / "answers.txt").write_text("the reference answers\n")
    return alice

