"""TODO 1.1 linear_beta_schedule: linspace(scale * 1e-4, scale * 0.02, T) with scale = 1000 / T."""

from __future__ import annotations

from grader.checks import _strategies as st
from grader.checks import register
from grader.checks._cases import draw
from grader.checks._schedule import PUBLIC_TITLE, ScheduleMatchesReference, ScheduleSpec, large_and_small_T


class _Linear(ScheduleMatchesReference):
    item = "linear_beta_schedule"
    schedule = "linear"

    def hint(self, case, got, expected) -> str:
        if got is not None and got.numel() == expected.numel() > 1 and case["T"] != 1000:
            if abs(float(got[-1]) - 0.02) < 1e-9:
                return "the betas end at 0.02 whatever T is: rescale both ends by 1000 / T"
        return ""


@register
class LinearMatchesReference(_Linear):
    name = "matches_reference"
    title = f"linear_beta_schedule(T) {PUBLIC_TITLE}"

    def specs(self) -> list[ScheduleSpec]:
        return large_and_small_T(self.item)


@register
class LinearMatchesReferenceForAnyT(_Linear):
    name = "matches_reference_for_any_T"
    title = "linear_beta_schedule(T) matches the reference for T = 1, 2 and random T up to 2000"

    def specs(self) -> list[ScheduleSpec]:
        drawn = draw(st.integers(min_value=3, max_value=2000), 6, "linear_beta_schedule.any_T")
        return [ScheduleSpec(T) for T in [1, 2, *drawn]]
