"""What a worker sends back is hostile data: judging it is bounded in time and memory, and every way it
can break a judge is that check's failure with a message, never the grader's "internal error"."""

from __future__ import annotations

import json
import threading
import time

import pytest
import safetensors.torch
import torch

from grader.checks import Call, Check, CheckRun, Outcome, Verdict
from grader.grading.deadline import DeadlinePassed, call_with_deadline
from grader.grading.session import _judge
from grader.grading.untrusted import error_text, safe_text
from grader.output.report_files import write_feedback
from grader.output.results import CheckResult, GradeReport
from grader.rubric import RubricCheck, load_rubric
from grader.sandbox.tensor_io import OutputRejected, read_outputs

HUGE_EMPTY = (2**40, 0)  # holds no bytes, yet a loop over its first dimension would take days


def rubric_check(check_id: str) -> RubricCheck:
    return next(c for c in load_rubric().checks(False) if c.id == check_id)


# ---------------------------------------------------------------------------- the outputs file


def saved(tmp_path, tensors: dict) -> object:
    path = tmp_path / "outputs.safetensors"
    safetensors.torch.save_file(tensors, str(path))
    return path


@pytest.mark.parametrize("shape", [HUGE_EMPTY, (2**20, 0, 2**20), (1,) * 17])
def test_outputs_whose_shape_spans_absurdly_many_values_are_rejected_before_use(tmp_path, shape):
    with pytest.raises(OutputRejected, match="return tensors of the shapes asked for|dimensions"):
        read_outputs(saved(tmp_path, {"0.result": torch.empty(shape)}), 256 << 20)


def test_many_empty_outputs_cannot_add_up_to_an_absurd_span(tmp_path):
    outputs = {f"{k}.result": torch.empty(2**20, 0) for k in range(300)}
    with pytest.raises(OutputRejected, match="span"):
        read_outputs(saved(tmp_path, outputs), 256 << 20)


def test_honest_empty_and_ordinary_outputs_are_accepted(tmp_path):
    outputs = read_outputs(saved(tmp_path, {"a": torch.empty(0, 3, 64, 64), "b": torch.ones(4, 3, 8, 8)}), 256 << 20)
    assert tuple(outputs["a"].shape) == (0, 3, 64, 64) and tuple(outputs["b"].shape) == (4, 3, 8, 8)


# ---------------------------------------------------------------------------- error messages as tensors


@pytest.mark.parametrize("tensor, expected", [
    (torch.tensor(list(b"ValueError: t < 0"), dtype=torch.uint8), "ValueError: t < 0"),
    (torch.tensor([2**62]), "not text"),  # bytes(error.tolist()) would allocate 4 EiB
    (torch.tensor([1.5]), "not text"),  # bytes([1.5]) raises TypeError
    (torch.tensor([float("inf")]), "not text"),
    (torch.empty(HUGE_EMPTY, dtype=torch.uint8), ""),
    (torch.tensor(list("é\udcff".encode("utf-8", "surrogatepass")), dtype=torch.uint8), "é"),
])
def test_error_messages_are_decoded_with_bounds(tensor, expected):
    text = error_text(tensor)
    assert expected in text
    text.encode("utf-8")  # never a lone surrogate


def test_a_long_error_message_is_cut_without_converting_it_all():
    started = time.monotonic()
    text = error_text(torch.full((200 << 20,), ord("A"), dtype=torch.uint8))
    assert time.monotonic() - started < 2
    assert len(text) < 5000 and "more bytes cut" in text


def test_safe_text_replaces_lone_surrogates_and_caps_the_length():
    assert safe_text("a\ud800b\udcff") == "a\ufffdb\ufffd"
    assert safe_text("x" * 50, 10).startswith("x" * 10) and "40 more characters cut" in safe_text("x" * 50, 10)


def test_reports_are_written_whatever_text_the_student_chose(tmp_path):
    hostile = "Fail\ud800ed: \udcff" + "y" * 100_000
    check = CheckResult("q_sample.matches_reference", "2.1", "q_sample", "t", 0.0, 5.0, False, hostile, True,
                        ("q_sample",))
    report = GradeReport("name\udcff", [check], 1.0, "none", rejected=hostile, items=[("2.1", "q_sample")],
                         notes=[hostile])
    report.write(tmp_path)
    write_feedback(report, tmp_path)
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert "\ufffd" in results["tests"][0]["output"] and len(results["tests"][0]["output"]) < 21_000
    assert "name\ufffd" in (tmp_path / "report.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- judging


def test_call_with_deadline_stops_a_loop_and_leaves_nothing_pending():
    with pytest.raises(DeadlinePassed):
        call_with_deadline(lambda: [None for _ in iter(int, 1)], 0.2)
    assert call_with_deadline(lambda: 41 + 1, 5) == 42
    time.sleep(0.3)  # a timer that fired late would raise here


def test_call_with_deadline_works_outside_the_main_thread():
    caught = []

    def worker():
        try:
            call_with_deadline(lambda: [None for _ in iter(int, 1)], 0.2)
        except DeadlinePassed:
            caught.append(True)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    assert caught == [True]


class _Forever(Check):
    item, name, title = "q_sample", "forever", "never ends"

    def judge(self, run: CheckRun) -> Verdict:
        while True:
            pass


class _Overflows(Check):
    item, name, title = "q_sample", "overflows", "int(inf)"

    def judge(self, run: CheckRun) -> Verdict:
        return Verdict(int(float(run.outputs()["0.loss"])) > 0, "")


def _fake(check: Check) -> RubricCheck:
    return RubricCheck(check, "2.1", "q_sample", 1.0, True)


def test_a_judge_past_its_deadline_fails_the_check_with_a_reason():
    run = CheckRun([Call("q_sample", {})], [Outcome("ok", {})], None, True)
    started = time.monotonic()
    verdict = _judge(_fake(_Forever()), run, deadline_s=0.5)
    assert not verdict.passed and "could not be checked within" in verdict.message
    assert time.monotonic() - started < 5


def test_any_exception_of_a_judge_fails_the_check_with_a_reason():
    run = CheckRun([Call("q_sample", {})], [Outcome("ok", {"0.loss": torch.tensor(float("inf"))})], None, True)
    verdict = _judge(_fake(_Overflows()), run)
    assert not verdict.passed and "OverflowError" in verdict.message


def test_outputs_far_larger_than_the_call_asks_for_fail_before_any_judge_reads_them():
    run = CheckRun([Call("q_sample", {}, {"x": torch.zeros(4)})], [Outcome("ok", {"0.t": torch.zeros(2**21, 1)})],
                   None, True)
    verdict = _judge(_fake(_Overflows()), run)
    assert not verdict.passed and "shapes the docstring gives" in verdict.message


def _judge_real(check_id: str, got: dict[str, torch.Tensor]) -> Verdict:
    """Judge the real check `check_id` on the planned call, with `got` as the student's outputs of case 0."""
    from grader.grading.plans import build_plans
    from grader.grading.reference import LiveReference

    checked = rubric_check(check_id)
    plan = build_plans([checked], LiveReference())[check_id]
    outputs = {f"0.{name}": value for name, value in got.items()}
    run = CheckRun(plan.calls, [Outcome("ok", outputs)], plan.expected, True)
    started = time.monotonic()
    verdict = _judge(checked, run)
    assert time.monotonic() - started < 5, f"judging {check_id} took {time.monotonic() - started:.0f} s"
    return verdict


@pytest.mark.parametrize("shape", [(2**20, 0), (2**19, 0, 2), (2, 2**19, 0)])
def test_p_sample_loop_judges_empty_steps_of_any_length_at_once(shape):
    verdict = _judge_real("p_sample_loop.feeds_each_step_and_returns_the_unnormalized_last_x", {
        "step_inputs": torch.empty(shape), "step_outputs": torch.empty(shape), "result": torch.zeros(2, 3, 4, 4),
        "visited_t": torch.empty(shape[0], dtype=torch.long)})
    assert not verdict.passed


def test_ddim_eta_zero_judges_empty_trajectories_of_any_length_at_once():
    verdict = _judge_real("denoise_backward.eta_zero_is_deterministic",
                          {"trajectory.0": torch.empty(2**20, 0), "trajectory.1": torch.empty(2**20, 0)})
    assert not verdict.passed and "shape" in verdict.message


def test_a_visited_list_of_a_million_steps_is_judged_at_once():
    verdict = _judge_real("p_sample_loop.visits_t_from_T_minus_1_down_to_0",
                          {"visited_t": torch.zeros(2**20, dtype=torch.long)})
    assert not verdict.passed


# ---------------------------------------------------------------------------- the worker's messages


def _zygote():
    import importlib.util
    from pathlib import Path

    import grader.sandbox

    zygote = Path(grader.sandbox.__file__).with_name("zygote.py")
    spec = importlib.util.spec_from_file_location("zygote_under_test", zygote)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("depth", [900, 5000, 30000])
def test_a_deeply_nested_report_line_is_garbage_not_a_crash_of_the_fork_server(depth):
    deep = b"[" * depth + b"]" * depth
    wrapped = b'{"status": ' + b"[" * depth + b"]" * depth + b"}"
    stream = b'{"phase": "probe"}\n' + deep + b"\n" + wrapped + b'\n{"status": "ok"}\n'
    messages, garbage = _zygote()._parse_reports(stream)
    assert messages == [{"phase": "probe"}, {"status": "ok"}]
    assert garbage == len(deep) + len(wrapped)


def test_brackets_inside_strings_do_not_count_as_nesting():
    line = json.dumps({"status": "error", "message": "[" * 5000 + '\\" {' * 100}).encode()
    messages, garbage = _zygote()._parse_reports(line)
    assert messages and messages[0]["message"].startswith("[[[") and garbage == 0


def test_a_smoke_run_is_judged_only_in_the_references_shapes():
    from grader.generative.smoke import _shape_mismatch

    reference = {"losses": torch.zeros(30), "ddpm": torch.zeros(8, 1, 16, 16), "ddim": torch.zeros(8, 1, 16, 16)}
    assert _shape_mismatch(dict(reference), reference) == ""
    hostile = dict(reference, ddim=torch.empty(2**20, 0))
    assert "ddim of shape (1048576, 0)" in _shape_mismatch(hostile, reference)
