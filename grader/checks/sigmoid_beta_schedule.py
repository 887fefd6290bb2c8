"""TODO 1.3 sigmoid_beta_schedule: the sigmoid schedule of Jabri et al., betas clipped to [0, 0.999]."""

from __future__ import annotations

from grader.checks import _strategies as st
from grader.checks import register
from grader.checks._cases import draw
from grader.checks._schedule import PUBLIC_TITLE, ScheduleMatchesReference, ScheduleSpec, large_and_small_T


class _Sigmoid(ScheduleMatchesReference):
    item = "sigmoid_beta_schedule"
    schedule = "sigmoid"


@register
class SigmoidMatchesReference(_Sigmoid):
    name = "matches_reference"
    title = f"sigmoid_beta_schedule(T) {PUBLIC_TITLE}"

    def specs(self) -> list[ScheduleSpec]:
        return large_and_small_T(self.item)


@register
class SigmoidMatchesReferenceForAnyParameters(_Sigmoid):
    name = "matches_reference_for_any_parameters"
    title = "sigmoid_beta_schedule(T, start, end, tau) matches the reference for T = 1 and random parameters"

    def specs(self) -> list[ScheduleSpec]:
        strategy = st.tuples(
            st.integers(min_value=2, max_value=1500),
            st.floats(min_value=-6.0, max_value=-1.0, allow_subnormal=False),
            st.floats(min_value=1.0, max_value=6.0, allow_subnormal=False),
            st.floats(min_value=0.3, max_value=2.0, allow_subnormal=False),
        )
        drawn = draw(strategy, 5, "sigmoid_beta_schedule.any_parameters")
        return [ScheduleSpec(1)] + [
            ScheduleSpec(T, {"start": start, "end": end, "tau": tau}) for T, start, end, tau in drawn
        ]
