"""TODO 1.4 compute_diffusion_buffers: alphas, alphas_bar, alphas_bar_prev, posterior variance and mean coefficients.

The public checks share one probe call (the grader runs it once): betas of each schedule, and random
betas, go in; each check compares its own buffers against the reference. The hidden checks have calls
of their own, so that no hidden case is one whose answers the public checks show or ship.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from grader.checks import Call, Check, CheckRun, Fail, Verdict, each_case, register
from grader.checks import _strategies as st
from grader.checks._cases import draw, fixed_or_salted, reference_buffers, uniform
from grader.checks._compare import BUFFERS, check_tensor, close
from grader.grading.reference import Reference

ITEM = "compute_diffusion_buffers"


@dataclass(frozen=True)
class BetasSpec:
    """One case: the reference's betas of `schedule` with T steps."""

    schedule: str
    T: int


def _cases(reference: Reference, label: str, specs: list[BetasSpec], random_count: int) -> Call:
    """A case for the betas of each spec, then `random_count` cases of random betas. Under the grading
    salt each T > 1 is drawn near its value instead (the buffers of a schedule depend on T alone); T = 1
    is the edge case itself and stays."""
    cases, inputs = [], {}
    for spec in specs:
        schedule, T = spec.schedule, spec.T
        if T > 1:
            low = max(50 if schedule == "linear" else 2, T // 2)  # linear betas reach 1 below T = 20
            T = fixed_or_salted(T, low, T + T // 2, f"{label}.{schedule}_T_{T}")
        inputs[f"{len(cases)}.betas"] = reference_buffers(reference, schedule, T)["betas"]
        cases.append({"betas": f"the {schedule} schedule's betas with T = {T}"})
    strategy = st.tuples(st.integers(min_value=2, max_value=300), st.integers(min_value=0, max_value=2**31 - 1))
    for T, seed in draw(strategy, random_count, label):
        inputs[f"{len(cases)}.betas"] = uniform((T,), seed, 1e-4, 0.3, dtype=torch.float64)
        cases.append({"betas": f"random betas in (1e-4, 0.3) with T = {T}"})
    return Call("diffusion_buffers", {"cases": cases}, inputs)


class _Buffers(Check):
    item = ITEM
    keys: ClassVar[tuple[str, ...]]

    def plan(self, reference: Reference) -> list[Call]:
        specs = [
            BetasSpec("linear", 1000), BetasSpec("cosine", 1000), BetasSpec("sigmoid", 100), BetasSpec("cosine", 10)
        ]
        return [_cases(reference, "compute_diffusion_buffers", specs, 3)]

    def hint(self, key: str, got: torch.Tensor | None, expected: dict[str, torch.Tensor]) -> str:
        return ""

    def judge(self, run: CheckRun) -> Verdict:
        def judge_case(index: int, case: dict) -> None:
            where = f" (betas: {case['betas']})"
            got = run.case(0, index, ITEM, where)
            expected = run.expected_case(0, index)
            for key in self.keys:
                value = got.get(f"buffers.{key}")
                if value is None:
                    raise Fail(f"compute_diffusion_buffers returned no {key!r} entry{where}")
                reference = {k[len("buffers."):]: v for k, v in expected.items()}
                check_tensor(
                    f"compute_diffusion_buffers(betas)[{key!r}]", value, reference[key], BUFFERS,
                    where=lambda i, where=where: f"at t = {i[0]}{where}", show_values=run.public,
                    hint=self.hint(key, value, reference),
                )

        return each_case(run.calls[0].params["cases"], judge_case)


@register
class AlphasAndAlphasBar(_Buffers):
    name = "alphas_and_alphas_bar"
    title = "alphas = 1 - betas and alphas_bar = cumprod(alphas) match the reference"
    keys = ("alphas", "alphas_bar")

    def hint(self, key, got, expected) -> str:
        if key == "alphas_bar" and close(got, expected["alphas"], BUFFERS):
            return "alphas_bar equals alphas: take the cumulative product (torch.cumprod)"
        return ""


@register
class AlphasBarPrevIsShifted(_Buffers):
    name = "alphas_bar_prev_is_shifted_by_one"
    title = "alphas_bar_prev is alphas_bar shifted one step later, starting at 1"
    keys = ("alphas_bar_prev",)

    def hint(self, key, got, expected) -> str:
        if close(got, expected["alphas_bar"], BUFFERS):
            return "alphas_bar_prev equals alphas_bar: shift it one step, with alphas_bar_prev[0] = 1"
        if got.numel() and got.is_floating_point() and float(got[0]) != 1.0:
            return f"alphas_bar_prev[0] is {float(got[0]):.6g} but must be 1 (alpha_bar_{{-1}} = 1: x_{{-1}} is x_0)"
        return ""


@register
class PosteriorVariance(_Buffers):
    name = "posterior_variance_and_clipped_log"
    title = "posterior_variance and posterior_log_variance_clipped match the reference, including t = 0"
    keys = ("posterior_variance", "posterior_log_variance_clipped")

    def hint(self, key, got, expected) -> str:
        if key == "posterior_variance" and close(got, expected["betas"], BUFFERS):
            return "posterior_variance equals betas: it is the variance of q(x_{t-1} | x_t, x_0), see the docstring"
        if key == "posterior_log_variance_clipped" and got.numel() and got.is_floating_point() and torch.isinf(got[0]):
            return "the variance is 0 at t = 0: clamp it to at least 1e-20 before the log"
        return ""


@register
class PosteriorMeanCoefficients(_Buffers):
    name = "posterior_mean_coefficients"
    title = "posterior_mean_coef1 and posterior_mean_coef2 match the reference"
    keys = ("posterior_mean_coef1", "posterior_mean_coef2")

    def plan(self, reference: Reference) -> list[Call]:
        specs = [BetasSpec("linear", 600), BetasSpec("cosine", 400), BetasSpec("sigmoid", 250)]
        return [_cases(reference, "compute_diffusion_buffers.posterior_mean", specs, 3)]


@register
class SingleStep(_Buffers):
    name = "single_step_T_1"
    title = "every buffer is right for a single diffusion step (T = 1)"
    keys = (
        "alphas", "alphas_bar", "alphas_bar_prev", "posterior_variance", "posterior_log_variance_clipped",
        "posterior_mean_coef1", "posterior_mean_coef2",
    )

    def plan(self, reference: Reference) -> list[Call]:
        specs = [BetasSpec("cosine", 1), BetasSpec("sigmoid", 1)]
        return [_cases(reference, "compute_diffusion_buffers.T_1", specs, 0)]
