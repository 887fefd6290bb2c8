"""Inputs are drawn with hypothesis, derandomized: the same cases on every run."""

from __future__ import annotations

from hypothesis import strategies as st

from grader.api import prepare_plans
from grader.checks._cases import draw, schedule_and_T


def test_draw_gives_the_same_examples_every_time_and_different_ones_per_label():
    strategy = st.tuples(schedule_and_T(), st.integers(0, 10**9), st.floats(0, 1))
    first, again = draw(strategy, 12, "label-a"), draw(strategy, 12, "label-a")
    assert first == again and len(first) == 12
    assert draw(strategy, 12, "label-b") != first
    assert all(T >= 50 for (schedule, T), _, _ in first if schedule == "linear"), "linear schedules need T >= 50"


def test_plans_are_identical_when_built_twice(rubric):
    first, second = prepare_plans(rubric), prepare_plans(rubric)
    assert first.keys() == second.keys()
    for check_id in first:
        assert [c.digest() for c in first[check_id].calls] == [c.digest() for c in second[check_id].calls], check_id
