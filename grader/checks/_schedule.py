"""What the three beta-schedule items share: call hw.<schedule>_beta_schedule(T, **kwargs), compare betas."""

from __future__ import annotations

from typing import ClassVar

from grader.checks import Call, Check, CheckRun, Fail, Verdict, each_case
from grader.checks._cases import fixed_or_salted
from grader.checks._compare import SCHEDULE, check_tensor, fmt_values
from grader.grading.reference import Reference

PUBLIC_TITLE = "matches the reference for a large and a small T (T = 1000 and 10 in the handout)"


def large_and_small_T(item: str) -> list[dict]:
    """The public cases: T = 1000 and T = 10 in the handout; under the grading salt, a T in 500 .. 1500
    and one in 2 .. 30 (betas depend on T alone, so the handout's T would be answered by a table)."""
    return [{"T": fixed_or_salted(1000, 500, 1500, f"{item}.large_T")}, {"T": fixed_or_salted(10, 2, 30, f"{item}.small_T")}]


class ScheduleMatchesReference(Check):
    """betas match the reference for every case of `cases()`."""

    schedule: ClassVar[str]  # "linear", "cosine", "sigmoid"

    def cases(self) -> list[dict]:
        raise NotImplementedError

    def plan(self, reference: Reference) -> list[Call]:
        return [Call("beta_schedule", {"schedule": self.schedule, "cases": self.cases()})]

    def describe(self, case: dict) -> str:
        args = ", ".join([str(case["T"])] + [f"{k}={v:g}" for k, v in case.get("kwargs", {}).items()])
        return f"{self.item}({args})"

    def hint(self, case: dict, got, expected) -> str:
        return ""

    def judge(self, run: CheckRun) -> Verdict:
        def judge_case(index: int, case: dict) -> None:
            call = self.describe(case)
            got = run.case(0, index, call).get("betas")
            expected = run.expected_case(0, index)["betas"]
            try:
                check_tensor(
                    call, got, expected, SCHEDULE, show_values=run.public,
                    where=lambda i: f"at t = {i[0]}", hint=self.hint(case, got, expected),
                )
            except Fail as failure:
                message = str(failure)
                if run.public and expected.numel() <= 8:
                    message += f"; expected {fmt_values(expected)}"
                raise Fail(message) from None

        return each_case(run.calls[0].params["cases"], judge_case)
