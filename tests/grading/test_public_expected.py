"""grader/grading/public_expected.safetensors is in sync, and `--public-only` needs no solution."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from grader.grading.plans import load_plans
from grader.grading.public_expected import PUBLIC_EXPECTED, build_public_expected

ROOT = Path(__file__).resolve().parents[2]


def test_committed_public_expected_is_in_sync_with_the_solution_and_rubric(tmp_path, rubric):
    fresh = load_plans(build_public_expected(tmp_path / "public_expected.safetensors"))
    committed = load_plans(PUBLIC_EXPECTED)
    hint = "grader/grading/public_expected.safetensors is out of date: run `python3 -m grader.grading.public_expected`"
    assert committed.keys() == fresh.keys() == {c.id for c in rubric.checks(public_only=True)}, hint
    for check_id, plan in fresh.items():
        old = committed[check_id]
        assert [(c.probe, c.params) for c in old.calls] == [(c.probe, c.params) for c in plan.calls], hint
        for new_call, old_call in zip(plan.calls, old.calls):
            assert new_call.inputs.keys() == old_call.inputs.keys(), hint
            for name in new_call.inputs:
                assert torch.equal(new_call.inputs[name], old_call.inputs[name]), (check_id, name, hint)
        assert (plan.expected is None) == (old.expected is None), hint
        for new_out, old_out in zip(plan.expected or [], old.expected or []):
            assert new_out.keys() == old_out.keys(), hint
            for name in new_out:
                torch.testing.assert_close(old_out[name], new_out[name], rtol=1e-6, atol=1e-9, msg=hint)


def test_public_plan_holds_public_checks_only(rubric):
    hidden = {c.id for c in rubric.checks() if not c.public}
    assert not hidden & load_plans(PUBLIC_EXPECTED).keys()


@pytest.mark.slow
def test_public_only_grading_runs_without_the_solution(starter_root):
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from grader.api import grade_submission
        report = grade_submission({str(starter_root)!r}, public_only=True, solution=Path("/no/solution/here"))
        assert "diffusion_hw_reference" not in sys.modules, "public-only grading imported the reference"
        assert all(c.public for c in report.checks)
        print(report.score, report.max_score)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=600)
    assert done.returncode == 0, done.stderr
    score, max_score = map(float, done.stdout.split())
    assert score == 0 and 0 < max_score < 130
