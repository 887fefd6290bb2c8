"""`grade` end to end: the solution, the starter, and hostile submissions that try to cheat or break it."""

from __future__ import annotations

import pytest

from grader.output.results import item_scores_from_results
from grader.rubric import load_rubric
from tests.support.hostile import ITEMS, hostile_submissions

pytestmark = pytest.mark.slow

ITEM_NUMBERS = {item.function: item.number for item in load_rubric().items}


def item_scores(results: dict) -> dict[str, tuple[float, float]]:
    return {label.split(" ", 1)[1]: value for label, value in item_scores_from_results(results).items()}


def test_grade_solution_gets_full_marks(end_to_end):
    run = end_to_end["solution"]
    assert run.returncode == 0, run.stderr
    assert run.results["score"] == 130
    assert all(t["status"] == "passed" for t in run.results["tests"])
    # how fast it grades is measured by `python3 tasks.py bench grade`, never asserted: the machine may be busy
    assert run.results["execution_time"] > 0
    assert "solution: 130 / 130" in run.stdout
    # informational, no points: without local CLIP weights it says so (DIFFUSION_HW_CLIP may be set on this machine)
    assert "CLIP score: " in run.results["output"] and "CLIP score: " in run.stdout


def test_grade_starter_gets_zero_on_every_item_without_crashing(end_to_end):
    run = end_to_end["starter"]
    assert run.returncode == 0, run.stderr
    assert run.results["score"] == 0
    assert {item: got for item, (got, _) in item_scores(run.results).items()} == dict.fromkeys(ITEMS, 0.0)
    for test in run.results["tests"]:
        assert test["status"] == "failed"
        assert "NotImplementedError" in test["output"], test


@pytest.mark.parametrize("hostile", hostile_submissions(), ids=lambda h: h.name)
def test_hostile_submission_gains_nothing_and_breaks_nothing(end_to_end, hostile):
    run = end_to_end[hostile.name]
    assert run.returncode == 0, f"grading must complete: {run.stderr}"
    assert run.results is not None, "results.json must be written"
    scores = item_scores(run.results)
    for item in ITEMS:
        got, out_of = scores[item]
        expected = 0.0 if item in hostile.zero_items else out_of
        outputs = [t["output"] for t in run.results["tests"] if t["extra_data"]["function"] == item]
        assert got == expected, (item, outputs)
    # Its time is bounded by the sandbox's limits on the code's own time, not by the wall clock (which a
    # busy machine stretches): what matters is that no item needed the wall-clock backstop.
    assert (run.results.get("extra_data") or {}).get("status") != "incomplete", run.results.get("extra_data")
    assert run.leftovers == (), f"grading {hostile.name} left {run.leftovers} in its temp folder"


def test_hostile_code_cannot_write_next_to_the_grader(end_to_end):
    assert end_to_end["_grader_unchanged"].results == {"same": True}


def test_hostile_output_never_reaches_the_results(end_to_end):
    run = end_to_end["prints_a_fake_results_json"]
    assert run.results["score"] == 0
    assert '"everything"' not in run.stdout


def test_results_json_is_in_gradescope_format(end_to_end):
    results = end_to_end["solution"].results
    assert set(results) >= {"score", "execution_time", "output", "tests"}
    assert "bubblewrap" in results["output"] or "unshare" in results["output"] or "none" in results["output"]
    assert sum(t["score"] for t in results["tests"]) == results["score"]
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility", "tags"}
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
        assert test["tags"] and all(isinstance(tag, str) for tag in test["tags"])
        assert test["name"].startswith(ITEM_NUMBERS[test["extra_data"]["function"]])
