"""What the three beta-schedule items share: call hw.<schedule>_beta_schedule(T, **kwargs), compare betas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from grader.checks import Call, CaseTableCheck, CheckRun, Fail
from grader.checks._cases import fixed_or_salted
from grader.checks._compare import SCHEDULE, check_tensor, fmt_values
from grader.grading.reference import Reference

PUBLIC_TITLE = "matches the reference for a large and a small T (T = 1000 and 10 in the handout)"


@dataclass(frozen=True)
class ScheduleSpec:
    """One case: <schedule>_beta_schedule(T, **kwargs), the betas of T steps."""

    T: int
    kwargs: dict[str, float] = field(default_factory=dict)


def schedule_call(schedule: str, specs: list[ScheduleSpec]) -> Call:
    """One beta_schedule probe call for `schedule` ("linear", "cosine", "sigmoid") with a case per spec."""
    cases = [{"T": spec.T, "kwargs": dict(spec.kwargs)} if spec.kwargs else {"T": spec.T} for spec in specs]
    return Call("beta_schedule", {"schedule": schedule, "cases": cases})


def large_and_small_T(item: str) -> list[ScheduleSpec]:
    """The public cases: T = 1000 and T = 10 in the handout; under the grading salt, a T in 500 .. 1500
    and one in 2 .. 30 (betas depend on T alone, so the handout's T would be answered by a table)."""
    return [
        ScheduleSpec(fixed_or_salted(1000, 500, 1500, f"{item}.large_T")),
        ScheduleSpec(fixed_or_salted(10, 2, 30, f"{item}.small_T")),
    ]


class ScheduleMatchesReference(CaseTableCheck[ScheduleSpec]):
    """betas match the reference for every case of `specs()`."""

    schedule: ClassVar[str]  # "linear", "cosine", "sigmoid"

    def build_call(self, reference: Reference, specs: list[ScheduleSpec]) -> Call:
        return schedule_call(self.schedule, specs)

    def describe(self, case: dict) -> str:
        args = ", ".join([str(case["T"])] + [f"{k}={v:g}" for k, v in case.get("kwargs", {}).items()])
        return f"{self.item}({args})"

    def hint(self, case: dict, got, expected) -> str:
        return ""

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        what = self.describe(case)
        got = run.case(0, index, what).get("betas")
        expected = run.expected_case(0, index)["betas"]
        try:
            check_tensor(
                what, got, expected, SCHEDULE, show_values=run.public,
                where=lambda i: f"at t = {i[0]}", hint=self.hint(case, got, expected),
            )
        except Fail as failure:
            message = str(failure)
            if run.public and expected.numel() <= 8:
                message += f"; expected {fmt_values(expected)}"
            raise Fail(message) from None
