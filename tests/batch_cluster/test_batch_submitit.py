"""`grade batch --executor submitit`: one job per submission, here through submitit's local executor.

The 20-submission class runs with --public-only (about a third of the checks) to keep the test near a
minute or two on 2 cores; the submitit code path is the same whatever checks the jobs run.
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest

from grader.batch import results_folder
from grader.cluster import ClusterOptions, job_parameters, rubric_resources
from grader.errors import GraderError
from grader.rubric import DEFAULT_RUBRIC, load_rubric

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "grader"))  # the corpus of broken and hostile submissions

from corpus import CORRECT_VARIANTS, MISTAKES, SOLUTION  # noqa: E402
from grader_test_support import run_grade  # noqa: E402
from hostile import hostile_submissions  # noqa: E402

HOSTILE = ("allocates_50_GB_in_q_sample", "os_exit_at_import", "bounded_fork_bomb_at_import",
           "prints_a_fake_results_json", "monkeypatches_torch_comparisons", "returns_always_equal_objects",
           "reads_the_solution")


def test_job_resources_come_from_the_rubric_and_flags_win(tmp_path):
    assert rubric_resources(DEFAULT_RUBRIC)["gpus_per_node"] >= 1  # the class's jobs ask for a GPU
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(DEFAULT_RUBRIC.read_text().replace("[resources]\n", '[resources]\npartition = "gpu"\n', 1))
    parameters = job_parameters(ClusterOptions("slurm", resources={"gpus_per_node": 2, "timeout_min": 5}), rubric)
    assert parameters["slurm_partition"] == "gpu" and parameters["gpus_per_node"] == 2 and parameters["timeout_min"] == 5
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
    """20 submissions; returns name -> {function: "full" | "0" | "any"} (what each item must score)."""
    rubric = load_rubric()
    functions = [item.function for item in rubric.items]
    expected: dict[str, dict[str, str]] = {}
    shutil.copytree(SOLUTION / "diffusion_hw", folder / "s01_solution" / "diffusion_hw")
    expected["s01_solution"] = dict.fromkeys(functions, "full")
    shutil.copytree(ROOT / "starter" / "diffusion_hw", folder / "s02_starter" / "diffusion_hw")
    expected["s02_starter"] = dict.fromkeys(functions, "0")
    number = 3
    for variant in CORRECT_VARIANTS[:3]:
        name = f"s{number:02d}_{variant.name}"[:60]
        variant.build(folder / name)
        expected[name] = dict.fromkeys(functions, "full")
        number += 1
    for mistake in MISTAKES[:8]:
        name = f"s{number:02d}_{mistake.name}"[:60]
        mistake.build(folder / name)
        expected[name] = {f: ("any" if f in mistake.loses else "full") for f in functions}
        number += 1
    for hostile in (h for h in hostile_submissions() if h.name in HOSTILE):
        name = f"s{number:02d}_{hostile.name}"[:60]
        hostile.build(folder / name, ROOT / "starter")
        expected[name] = {f: ("0" if f in hostile.zero_items else "full") for f in functions}
        number += 1
    assert len(expected) == 20
    return expected


@pytest.mark.slow
def test_a_class_of_20_through_the_local_executor_yields_a_complete_gradebook(tmp_path):
    submissions = tmp_path / "submissions"
    expected = build_class(submissions)
    out, private = tmp_path / "out", tmp_path / "private"
    run = run_grade("batch", str(submissions), "--out", str(out), "--public-only", "--jobs", "2",
                    "--executor", "submitit", "--cluster", "local", "--gpus", "0", "--submitit-folder", str(private),
                    timeout=1500)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("submitted as job") == 20
    assert "20 of 20 submissions graded" in run.stdout

    rubric = load_rubric()
    items = [f"{item.number} {item.function}" for item in rubric.items]
    full = {item.function: sum(c.points for c in item.checks if c.public) for item in rubric.items}
    with open(out / "gradebook.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["submission", *items, "total", "max", "status", "note"]
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
        assert (results_folder(out, name) / "results.json").is_file() and (results_folder(out, name) / "report.html").is_file()
    assert float(rows["s01_solution"]["total"]) == sum(full.values()) > 0
    assert float(rows["s02_starter"]["total"]) == 0

    assert not list(out.rglob("*.safetensors"))  # the plans never land next to the results
    logs = private / "logs"
    assert len(list(logs.glob("*/*_result.pkl"))) == 20  # one submitit job each
    assert not [p for p in private.iterdir() if p.name.startswith("grade-batch-")]  # the plans were removed
