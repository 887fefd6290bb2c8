"""The course CI workflows are valid YAML with the documented jobs, and call tasks that exist."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader.instructor.course_ci import full_marks_failures
from grader.rubric import DEFAULT_RUBRIC

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def commands(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def task_names() -> set[str]:
    spec = importlib.util.spec_from_file_location("project_tasks", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["project_tasks"] = module  # Collection.from_module looks itself up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["project_tasks"]
    return set(module.namespace.task_names)


def test_ci_lints_runs_the_cpu_tests_and_grades_the_solution_on_every_push():
    workflow = load("ci.yml")
    assert "push" in workflow["on"] and workflow["on"]["push"] in (None, {})  # every branch
    jobs = workflow["jobs"]
    assert set(jobs) == {"cpu-tests", "grade-solution"}
    testing = commands(jobs["cpu-tests"])
    assert "python3 tasks.py lint" in testing and "python3 tasks.py test" in testing
    assert testing.index("python3 tasks.py lint") < testing.index("python3 tasks.py test")
    grading = commands(jobs["grade-solution"])
    assert "python3 tasks.py grade solution" in grading
    assert "grader.instructor.course_ci --check results/solution/results.json" in grading
    for job in jobs.values():
        assert job["runs-on"] == "ubuntu-latest"
        assert any(step.get("uses", "").startswith("actions/checkout@") for step in job["steps"])


def test_gpu_workflow_runs_ci_gpu_on_a_self_hosted_gpu_runner():
    workflow = load("gpu.yml")
    assert "workflow_dispatch" in workflow["on"] and "push" in workflow["on"]
    [job] = workflow["jobs"].values()
    assert job["runs-on"] == ["self-hosted", "gpu"]
    assert "python3 tasks.py ci-gpu" in commands(job)


def test_every_task_the_workflows_call_exists():
    called = set()
    for name in ("ci.yml", "gpu.yml"):
        for job in load(name)["jobs"].values():
            called.update(re.findall(r"python3 tasks\.py ([\w-]+)", commands(job)))
    assert called == {"lint", "test", "grade", "ci-gpu"}
    assert called <= task_names()


@pytest.mark.parametrize(("flags", "expected"), [([], "-m pytest -k q_sample"),
                                                (["--fast"], "-m pytest -m 'not slow' -k q_sample")])
def test_the_test_task_runs_pytest_with_its_args_and_fast_leaves_out_the_slow_tier(flags, expected):
    done = subprocess.run([sys.executable, str(ROOT / "tasks.py"), "--dry", "test", *flags, "--args", "-k q_sample"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout, done.stdout
    assert ("not slow" in done.stdout) == ("--fast" in flags), done.stdout


def _results(*scores: tuple[float, float]) -> dict:
    tests = [{"name": f"check {i}", "score": got, "max_score": out_of,
              "status": "passed" if got == out_of else "failed", "output": "why"}
             for i, (got, out_of) in enumerate(scores)]
    return {"score": sum(got for got, _ in scores), "tests": tests}


def test_full_marks_means_every_check_passed_at_its_full_score():
    assert full_marks_failures(_results((3, 3), (2, 2))) == []
    assert full_marks_failures(_results((3, 3), (0, 2))) == ["check 1: 0 / 2: why"]
    assert full_marks_failures({"score": 0, "tests": []}) == ["no checks ran"]


def test_course_ci_check_fails_unless_full_marks(tmp_path):
    for scores, expected in ((((3, 3), (2, 2)), 0), (((3, 3), (1, 2)), 1)):
        path = tmp_path / "results.json"
        path.write_text(json.dumps(_results(*scores)))
        done = subprocess.run([sys.executable, "-m", "grader.instructor.course_ci", "--check", str(path)], cwd=ROOT,
                              capture_output=True, text=True)
        assert done.returncode == expected, done.stdout + done.stderr


@pytest.mark.parametrize(("flags", "smoke"), [(["--allow-cpu"], True), (["--allow-cpu", "--no-smoke"], False)])
def test_course_ci_grades_the_solution_with_the_smoke_run_unless_told_not_to(tmp_path, monkeypatch, flags, smoke):
    import grader.api
    from grader.instructor import course_ci

    seen = {}

    def fake_grade(submission, out, generative, rubric_path=None):
        seen.update(submission=submission, smoke=generative.smoke, rubric=rubric_path)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(_results((3, 3), (0, 0))))

    monkeypatch.setattr(grader.api, "grade_submission", fake_grade)
    assert course_ci.main([*flags, "--out", str(tmp_path / "ci")]) == 0
    assert seen["smoke"] is smoke and Path(seen["submission"]).name == "solution"
    assert seen["rubric"] == DEFAULT_RUBRIC  # no --assignment: the default profile
