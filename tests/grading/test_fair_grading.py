"""A score depends on the submission only: a busy machine changes no score, and a grading machine
that fails (a worker killed from outside) gives "incomplete", never points lost."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grader import cli
from grader.api import grade_submission
from grader.instructor.batch import grade_batch, results_folder
from grader.instructor.bench import cpu_burners
from grader.output.results import GradeReport, results_status
from tests.support.corpus import CORPUS, SOLUTION

MARKER = "qsleep"  # the worker's process name while it sleeps (/proc/PID/comm: anyone can read it)
SLOW_ONCE = f'''

import ctypes as _ctypes
import time as _time

_original_q_sample = GaussianDiffusion.q_sample
_slept = []


def _q_sample_that_sleeps_once(self, *args, **kwargs):
    if not _slept:  # once per worker: 2 s of the code's time, well within its limit
        _slept.append(1)
        _ctypes.CDLL(None).prctl(15, b"{MARKER}", 0, 0, 0)  # PR_SET_NAME
        _time.sleep(2.0)
    return _original_q_sample(self, *args, **kwargs)


GaussianDiffusion.q_sample = _q_sample_that_sleeps_once
'''


def solution_copy(destination: Path, extra: str = "") -> Path:
    shutil.copytree(SOLUTION / "diffusion_hw", destination / "diffusion_hw",
                    ignore=shutil.ignore_patterns("__pycache__"))
    if extra:
        with open(destination / "diffusion_hw" / "gaussian_diffusion.py", "a", encoding="utf-8") as handle:
            handle.write(extra)
    return destination


def sleeping_now() -> bool:
    """Whether a sandbox worker of this test process is in q_sample's sleep (it renamed itself)."""
    from grader.instructor.bench import sandbox_workers

    for pid in sandbox_workers():
        try:
            with open(f"/proc/{pid}/comm") as handle:
                if handle.read().strip() == MARKER:
                    return True
        except OSError:
            pass
    return False


def test_a_worker_killed_twice_from_outside_leaves_its_item_incomplete_and_every_other_item_graded(
        tmp_path, plans_file):
    from grader.instructor.bench import kill_workers_when

    submission = solution_copy(tmp_path / "alice", SLOW_ONCE)
    killer = kill_workers_when(sleeping_now, kills=2)  # the first try and its retry
    report = grade_submission(submission, plans=plans_file, out=tmp_path / "out")
    killer.join()
    assert report.incomplete == ["2.1 q_sample"]
    q_sample = [c for c in report.checks if c.function == "q_sample"]
    assert q_sample and all(c.incomplete and c.score == 0 and "not the submission's" in c.message for c in q_sample)
    others = [c for c in report.checks if c.function != "q_sample"]
    assert all(c.passed for c in others), [(c.check_id, c.message) for c in others if not c.passed]
    assert report.status == "incomplete" and report.summary_line().endswith("INCOMPLETE")
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results_status(results) == "incomplete" and results["extra_data"]["incomplete_items"] == ["2.1 q_sample"]
    assert results["output"].splitlines()[1].startswith("INCOMPLETE, not a final score")
    for report_file in ("report.md", "report.html"):
        assert "INCOMPLETE, not a final score" in (tmp_path / "out" / report_file).read_text()
    assert "NOT GRADED" in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.slow
def test_a_worker_killed_once_is_retried_and_the_item_earns_its_points(tmp_path, plans_file):
    from grader.instructor.bench import kill_workers_when

    killer = kill_workers_when(sleeping_now, kills=1)
    report = grade_submission(solution_copy(tmp_path / "bo", SLOW_ONCE), plans=plans_file)
    killer.join()
    assert not report.incomplete and report.score == report.max_score == 130


def test_grade_exits_3_and_says_why_when_the_grading_is_incomplete(monkeypatch, capsys):
    from grader.output.results import CheckResult

    check = CheckResult("q_sample.matches_reference", "2.1", "q_sample", "t", 0.0, 5.0, False, "not graded: x",
                        True, (), incomplete=True)
    report = GradeReport("alice", [check], 1.0, "bubblewrap", items=[("2.1", "q_sample")])
    monkeypatch.setattr("grader.api.grade_submission", lambda *args, **kwargs: report)
    assert cli.main(["solution", "--quiet"]) == cli.INCOMPLETE == 3
    captured = capsys.readouterr()
    assert "alice: 0 / 5 INCOMPLETE" in captured.out and "grading machine failed" in captured.err


@pytest.mark.slow
def test_regrade_incomplete_grades_only_the_incomplete_and_keeps_the_rest(tmp_path):
    hand_ins = tmp_path / "class"
    for name in ("ada", "bo"):
        solution_copy(hand_ins / name)
    out = tmp_path / "grades"
    for name, status in (("ada", "incomplete"), ("bo", "complete")):
        results_folder(out, name).mkdir(parents=True)
        (results_folder(out, name) / "results.json").write_text(json.dumps({
            "score": 7, "output": f"{name}: 7 / 130", "tests": [],
            "extra_data": {"status": status, "incomplete_items": ["2.1 q_sample"] if status == "incomplete" else []}}))
    lines: list[str] = []
    rows = grade_batch(hand_ins, out, jobs=1, log=lines.append)
    assert {row.name: row.status for row in rows} == {"ada": "incomplete", "bo": "graded"}  # resumed, nothing graded
    assert any(line.startswith("ada: incomplete") and "--regrade-incomplete" in line for line in lines)
    rows = grade_batch(hand_ins, out, jobs=1, regrade_incomplete=True, log=lines.append)
    by_name = {row.name: row for row in rows}
    assert by_name["ada"].status == "graded" and by_name["ada"].results["score"] == 130
    assert by_name["bo"].results["score"] == 7  # complete: kept as it was
    gradebook = (out / "gradebook.csv").read_text().splitlines()
    assert gradebook[0].endswith(",total,max,status,note")
    assert gradebook[1].startswith("ada,") and ",graded," in gradebook[1]


MISTAKE = "linear_schedule_without_1000_over_T_scale"


@pytest.mark.slow
def test_scores_under_heavy_load_equal_the_idle_scores(tmp_path, plans_file, corpus_reports):
    mistake = next(m for m in CORPUS if m.name == MISTAKE)
    submissions = {"solution": SOLUTION, MISTAKE: mistake.build(tmp_path / MISTAKE)}
    idle = {"solution": (130.0, 130.0), MISTAKE: (corpus_reports[MISTAKE].score, corpus_reports[MISTAKE].max_score)}
    with cpu_burners(per_core=4):
        loaded = {name: grade_submission(path, plans=plans_file) for name, path in submissions.items()}
    for name, report in loaded.items():
        assert not report.incomplete, (name, report.incomplete_line())
        failed = [c.message for c in report.checks if not c.passed]
        assert (report.score, report.max_score) == idle[name], (name, failed)
        assert not [c for c in report.checks if "did not finish in time" in c.message]
