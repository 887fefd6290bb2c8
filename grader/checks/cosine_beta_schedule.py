"""TODO 1.2 cosine_beta_schedule: Nichol & Dhariwal's cosine schedule, betas clipped to [0, 0.999]."""

from __future__ import annotations

from grader.checks import _strategies as st
from grader.checks import register
from grader.checks._cases import draw
from grader.checks._schedule import PUBLIC_TITLE, ScheduleMatchesReference, ScheduleSpec, large_and_small_T


class _Cosine(ScheduleMatchesReference):
    item = "cosine_beta_schedule"
    schedule = "cosine"

    def hint(self, case, got, expected) -> str:
        if got is not None and got.numel() == expected.numel() and float(expected[-1]) == 0.999:
            if got.is_floating_point() and float(got[-1]) > 0.999:
                return f"the last beta is {float(got[-1]):.6g}: clip the betas to at most 0.999"
        return ""


@register
class CosineMatchesReference(_Cosine):
    name = "matches_reference"
    title = f"cosine_beta_schedule(T) {PUBLIC_TITLE}"

    def specs(self) -> list[ScheduleSpec]:
        return large_and_small_T(self.item)


@register
class CosineMatchesReferenceForAnyTAndS(_Cosine):
    name = "matches_reference_for_any_T_and_s"
    title = "cosine_beta_schedule(T, s) matches the reference for random T up to 1500 and offsets s"

    def specs(self) -> list[ScheduleSpec]:
        strategy = st.tuples(
            st.integers(min_value=2, max_value=1500),
            st.floats(min_value=0.001, max_value=0.05, allow_subnormal=False),
        )
        return [ScheduleSpec(T, {"s": s}) for T, s in draw(strategy, 6, "cosine_beta_schedule.any_T_and_s")]


@register
class CosineClipsTheTail(_Cosine):
    name = "clips_the_tail_at_0_999"
    title = "cosine_beta_schedule clips its last betas at 0.999 (T = 1, 2, 1000, 4000)"

    def specs(self) -> list[ScheduleSpec]:
        return [ScheduleSpec(T) for T in (1, 2, 1000, 4000)]
