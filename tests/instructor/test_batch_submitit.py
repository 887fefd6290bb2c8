"""`grade batch --executor submitit`: one job per submission, here through submitit's local executor.

The class holds one submission of each kind of gradebook row (full marks, zero, a mistake, an attack)
and runs with --public-only: the submitit code path is the same whatever a job grades, and every known
mistake and attack is graded in full by tests/checks/test_corpus.py and tests/grading/test_end_to_end.py.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from grader.errors import GraderError
from grader.instructor.batch import results_folder
from grader.instructor.cluster import ClusterOptions, job_parameters, rubric_resources
from grader.rubric import DEFAULT_RUBRIC, load_rubric
from tests.support.corpus import MISTAKES, SOLUTION
from tests.support.grading import run_grade
from tests.support.hostile import hostile_submissions

ROOT = Path(__file__).resolve().parents[2]

MISTAKE = "q_sample_missing_sqrt"
HOSTILE = "prints_a_fake_results_json"  # what a job prints must never become its result


def test_job_resources_come_from_the_rubric_and_flags_win(tmp_path):
    assert rubric_resources(DEFAULT_RUBRIC)["gpus_per_node"] >= 1  # the class's jobs ask for a GPU
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(DEFAULT_RUBRIC.read_text().replace("[resources]\n", '[resources]\npartition = "gpu"\n', 1))
    parameters = job_parameters(ClusterOptions("slurm", resources={"gpus_per_node": 2, "timeout_min": 5}), rubric)
    assert parameters["slurm_partition"] == "gpu"
    assert parameters["gpus_per_node"] == 2 and parameters["timeout_min"] == 5
    assert parameters["mem_gb"] == rubric_resources(DEFAULT_RUBRIC)["mem_gb"]


@pytest.mark.parametrize("resources, message", [
    ({"gpus": 1}, "unknown resource 'gpus'"),
    ({"gpus_per_node": -1}, "gpus_per_node must be a int >= 0"),
    ({"mem_gb": "16G"}, "mem_gb must be a int or float"),
])
def test_bad_resources_are_refused_with_the_reason(resources, message):
    with pytest.raises(GraderError, match=message):
        ClusterOptions("slurm", resources=resources)


def test_an_unknown_cluster_is_refused():
    with pytest.raises(GraderError, match="--cluster must be one of slurm, local, debug"):
        ClusterOptions("kubernetes")


def build_class(folder: Path) -> dict[str, dict[str, str]]:
    """4 submissions; returns name -> {function: "full" | "0" | "any"} (what each item must score)."""
    rubric = load_rubric()
    functions = [item.function for item in rubric.items]
    expected: dict[str, dict[str, str]] = {}
    shutil.copytree(SOLUTION / "diffusion_hw", folder / "s01_solution" / "diffusion_hw")
    expected["s01_solution"] = dict.fromkeys(functions, "full")
    shutil.copytree(ROOT / "starter" / "diffusion_hw", folder / "s02_starter" / "diffusion_hw")
    expected["s02_starter"] = dict.fromkeys(functions, "0")
    mistake = next(m for m in MISTAKES if m.name == MISTAKE)
    mistake.build(folder / f"s03_{mistake.name}")
    expected[f"s03_{mistake.name}"] = {f: ("any" if f in mistake.loses else "full") for f in functions}
    hostile = next(h for h in hostile_submissions() if h.name == HOSTILE)
    hostile.build(folder / f"s04_{hostile.name}", ROOT / "starter")
    expected[f"s04_{hostile.name}"] = {f: ("0" if f in hostile.zero_items else "full") for f in functions}
    assert len(expected) == 4
    return expected


@pytest.mark.slow
def test_a_class_through_the_local_executor_yields_a_complete_gradebook_with_one_job_each(tmp_path):
    submissions = tmp_path / "submissions"
    expected = build_class(submissions)
    out, private = tmp_path / "out", tmp_path / "private"
    run = run_grade("batch", str(submissions), "--out", str(out), "--public-only", "--jobs", "2",
                    "--executor", "submitit", "--cluster", "local", "--gpus", "0", "--submitit-folder", str(private),
                    timeout=1500)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("submitted as job") == 4  # more than --jobs: the executor queues the rest
    assert "4 submissions: 4 graded," in run.stdout  # none incomplete, none rejected

    rubric = load_rubric()
    items = [f"{item.number} {item.function}" for item in rubric.items]
    full = {item.function: sum(c.points for c in item.checks if c.public) for item in rubric.items}
    with open(out / "gradebook.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["submission", "student_id", *items, "total", "max", "status", "note"]
        rows = {row["submission"]: row for row in reader}
    assert list(rows) == sorted(expected)  # one row per student, in order
    for name, row in rows.items():
        assert row["status"] == "graded", (name, row["status"], row["note"])
        scores = {item.function: float(row[f"{item.number} {item.function}"]) for item in rubric.items}
        assert abs(sum(scores.values()) - float(row["total"])) < 1e-9, name
        for function, must in expected[name].items():
            if must == "full":
                assert scores[function] == full[function], (name, function, scores[function])
            elif must == "0":
                assert scores[function] == 0, (name, function, scores[function])
        folder = results_folder(out, name)
        assert (folder / "results.json").is_file() and (folder / "report.html").is_file()
    assert float(rows["s01_solution"]["total"]) == sum(full.values()) > 0
    assert float(rows["s02_starter"]["total"]) == 0

    assert not list(out.rglob("*.safetensors"))  # the plans never land next to the results
    logs = private / "logs"
    assert len(list(logs.glob("*/*_result.pkl"))) == 4  # one submitit job each
    assert not [p for p in private.iterdir() if p.name.startswith("grade-batch-")]  # the plans were removed
