"""Shared, session-scoped grading runs: each submission of the corpus is graded once per test session."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grader.api import grade_submission, prepare_plans
from grader.grading.plans import save_plans
from grader.output.results import GradeReport
from grader.rubric import load_rubric
from tests.support.corpus import CORPUS, ROOT
from tests.support.grading import REPEATED, CliRun, run_grade, tree_digest
from tests.support.hostile import hostile_submissions

WORKERS = 2


@pytest.fixture(scope="session")
def rubric():
    return load_rubric()


@pytest.fixture(scope="session")
def plans_file(tmp_path_factory, rubric) -> Path:
    """Every check's plan against the live reference, built once and shared by the corpus runs."""
    path = tmp_path_factory.mktemp("plans") / "plans.safetensors"
    save_plans(prepare_plans(rubric), path)
    return path


@pytest.fixture(scope="session")
def starter_root(tmp_path_factory) -> Path:
    """starter/ as committed, or generated from the solution when it is absent."""
    if (ROOT / "starter" / "diffusion_hw" / "__init__.py").is_file():
        return ROOT / "starter"
    from grader.instructor.starter import generate_starter

    target = tmp_path_factory.mktemp("generated") / "starter"
    generate_starter(ROOT / "solution", target)
    return target


@pytest.fixture(scope="session")
def corpus_reports(tmp_path_factory, plans_file) -> dict[str, GradeReport]:
    """Every corpus submission graded in the sandbox (REPEATED twice, as '<name>#again')."""
    base = tmp_path_factory.mktemp("corpus")
    jobs = [(m.name, m) for m in CORPUS] + [(f"{REPEATED}#again", next(m for m in CORPUS if m.name == REPEATED))]

    def grade(job):
        name, mutation = job
        root = mutation.build(base / name.replace("#", "_"))
        return name, grade_submission(root, plans=plans_file)

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(grade, jobs))


@pytest.fixture(scope="session")
def end_to_end(tmp_path_factory, starter_root) -> dict[str, CliRun]:
    """`grade` run end to end on the solution, the starter and every hostile submission."""
    base = tmp_path_factory.mktemp("e2e")
    grader_before = tree_digest(ROOT / "grader")
    jobs: list[tuple[str, Path]] = [("solution", Path("solution")), ("starter", starter_root)]
    for hostile in hostile_submissions():
        jobs.append((hostile.name, hostile.build(base / "submissions" / hostile.name, starter_root)))

    def grade(job):
        name, submission = job
        return name, run_grade(str(submission), "--out", str(base / "out" / name), private_tmp=True)

    with ThreadPoolExecutor(WORKERS) as pool:
        runs = dict(pool.map(grade, jobs))
    runs["_grader_unchanged"] = CliRun(0, "", "", 0.0, {"same": tree_digest(ROOT / "grader") == grader_before})
    return runs
