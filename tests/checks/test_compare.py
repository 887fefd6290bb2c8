"""Comparison messages say what is wrong and where, in words a student can act on."""

from __future__ import annotations

import pytest
import torch

from grader.checks import Fail
from grader.checks._compare import FLOAT32, check_tensor


def message(got, expected, **kwargs) -> str:
    with pytest.raises(Fail) as caught:
        check_tensor("q_sample(x_start, t, noise)", got, expected, FLOAT32, **kwargs)
    return str(caught.value)


def test_shape_mismatch_names_both_shapes():
    text = message(torch.zeros(4, 3, 32), torch.zeros(4, 3, 32, 32))
    assert "shape (4, 3, 32) but (4, 3, 32, 32) was expected" in text


def test_nan_is_located_with_the_callers_words():
    got = torch.zeros(3, 2)
    got[0, 1] = float("nan")
    assert "NaN at t = 0" in message(got, torch.zeros(3, 2), where=lambda i: f"at t = {i[0]}")


def test_wrong_values_report_the_worst_error_and_where():
    got = torch.zeros(2, 3)
    got[1, 2] = 0.5
    text = message(got, torch.zeros(2, 3))
    assert "max abs error 0.5 at index [1, 2]" in text and "got 0.5, expected 0" in text
    assert "expected" not in message(got, torch.zeros(2, 3), show_values=False).split("max abs error")[1].split(";")[0]


def test_non_float_outputs_are_refused():
    assert "dtype torch.int64" in message(torch.zeros(2, dtype=torch.long), torch.zeros(2))


def test_float64_results_within_tolerance_pass():
    expected = torch.randn(100)
    check_tensor("x", expected.double() + 1e-6, expected, FLOAT32)


def test_equal_infinities_pass_and_unexpected_infinity_fails():
    check_tensor("x", torch.tensor([float("-inf"), 1.0]), torch.tensor([float("-inf"), 1.0]), FLOAT32)
    assert "infinite" in message(torch.tensor([float("-inf")]), torch.tensor([-46.0]))


def test_a_check_over_several_cases_reports_the_worst_failure_and_how_many_failed():
    from grader.checks import each_case

    def judge_case(index, case):
        got = torch.full((2,), case["error"])
        check_tensor(f"case {index}", got, torch.zeros(2), FLOAT32)

    with pytest.raises(Fail) as caught:
        each_case([{"error": 0.0}, {"error": 0.001}, {"error": 0.5}, {"error": 0.0}], judge_case)
    assert str(caught.value).startswith("case 2 has wrong values") and "[2 of 4 cases fail]" in str(caught.value)
