"""TODO 2.1 q_sample: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, one timestep per sample."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.checks import Call, CaseTableCheck, Check, CheckRun, Verdict, passed, register
from grader.checks import _strategies as st
from grader.checks._cases import (
    buffer_inputs,
    case_seed,
    draw,
    image_shapes,
    randn,
    reference_buffers,
    schedule_and_T,
    seeds,
    timesteps_tensor,
    uniform,
)
from grader.checks._compare import FLOAT32, check_tensor, close
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "q_sample"


@dataclass(frozen=True)
class QSampleSpec:
    """One q_sample case: x_start of `shape` (B, C, H, W) and `dtype` under `schedule` with T steps.

    x_start, the timesteps (0 and T-1 among them) and the noise are drawn from `seed`."""

    schedule: str
    T: int
    shape: tuple[int, int, int, int]
    seed: int
    dtype: torch.dtype = torch.float32


def q_sample_call(reference: Reference, specs: list[QSampleSpec], *, default_noise: bool = False) -> Call:
    """One q_sample probe call with a case per spec; `default_noise`: the probe calls q_sample with
    noise=None under the spec's seed instead of handing it the noise."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        shape, seed, T = spec.shape, spec.seed, spec.T
        inputs.update(buffer_inputs(index, reference_buffers(reference, spec.schedule, T)))
        inputs[f"{index}.x0"] = uniform(shape, seed, -1.0, 1.0, spec.dtype)
        inputs[f"{index}.t"] = timesteps_tensor(shape[0], T, seed + 1, include=(0, T - 1))
        case = {"schedule": spec.schedule, "T": T, "shape": list(shape), "image_size": shape[-1]}
        if default_noise:
            case["seed"] = case_seed(seed)
        else:
            inputs[f"{index}.noise"] = randn(shape, seed + 2, spec.dtype)
        cases.append(case)
    return Call("q_sample", {"cases": cases}, inputs)


def describe(case: dict, t: torch.Tensor, public: bool) -> str:
    text = f"{case['schedule']} schedule, T = {case['T']}, x_start of shape {tuple(case['shape'])}"
    return f"{text}, t = {t.tolist()}" if public and t.numel() <= 8 else text


class _QSampleMatches(CaseTableCheck[QSampleSpec]):
    item = ITEM
    build_call = staticmethod(q_sample_call)

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        t = call.inputs[f"{index}.t"]
        context = f" ({describe(case, t, run.public)})"
        got = run.case(0, index, ITEM, context).get("x_t")
        check_tensor(
            "q_sample(x_start, t, noise)", got, run.expected_case(0, index)["x_t"], FLOAT32,
            where=lambda i: f"in sample {i[0]} (t = {int(t[i[0]])}){context}", show_values=run.public,
            hint="x_t must have x_start's shape: broadcast alpha_bar_t to (B, 1, 1, 1) with extract()"
            if got is not None and tuple(got.shape) != tuple(case["shape"]) else "",
        )


@register
class QSampleMatchesReference(_QSampleMatches):
    name = "matches_reference"
    title = ("q_sample(x0, t, noise) matches the reference (linear, cosine and sigmoid schedules; "
             "t = 0 and T-1 included)")

    def specs(self) -> list[QSampleSpec]:
        return [
            QSampleSpec("linear", 1000, (4, 3, 8, 8), seed=11),
            QSampleSpec("cosine", 50, (2, 1, 5, 5), seed=12),
            QSampleSpec("sigmoid", 10, (3, 2, 4, 4), seed=13),
        ]


@register
class QSampleMatchesReferenceOnRandomInputs(_QSampleMatches):
    name = "matches_reference_on_random_inputs"
    title = "q_sample matches the reference on random schedules, T, shapes and timesteps (float32 and float64)"

    def specs(self) -> list[QSampleSpec]:
        strategy = st.tuples(schedule_and_T(), image_shapes(), seeds)
        drawn = draw(strategy, 8, "q_sample.random_inputs")
        specs = [QSampleSpec(schedule, T, shape, seed) for (schedule, T), shape, seed in drawn]
        specs.append(QSampleSpec("cosine", 1, (2, 3, 4, 4), seed=14))
        specs.append(QSampleSpec("linear", 200, (2, 3, 4, 4), seed=15, dtype=torch.float64))
        return specs


@register
class QSampleDrawsNoiseWhenNone(Check):
    item = ITEM
    name = "draws_gaussian_noise_when_noise_is_none"
    title = "q_sample(x0, t) with noise=None draws eps with torch.randn_like(x_start)"

    def plan(self, reference: Reference) -> list[Call]:
        return [q_sample_call(reference, [QSampleSpec("linear", 100, (3, 2, 4, 4), seed=21)], default_noise=True)]

    def judge(self, run: CheckRun) -> Verdict:
        got = run.case(0, 0, ITEM, " (called with noise=None)")
        expected = run.expected_case(0, 0)
        drawn, given = got.get("x_t_default_noise"), got.get("x_t_randn_like_noise")
        hint = "draw the noise with torch.randn_like(x_start) when it is not given"
        if drawn is not None and given is not None and close(drawn, given, FLOAT32):
            hint = "the noise is drawn as expected, but q_sample's values are off (see matches_reference)"
        check_tensor("q_sample(x_start, t) with noise=None, under a fixed torch seed", drawn,
                     expected["x_t_default_noise"], FLOAT32, show_values=False, hint=hint)
        return passed()


@register
class QSampleKeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("q_sample returns x_start's dtype (float32, float64, and bfloat16 in a bfloat16 module) and leaves "
             "x_start, t and noise untouched")

    def call(self, reference: Reference) -> Call:
        dtypes = ("float32", "float64", "bfloat16")
        specs = [
            QSampleSpec("linear", 100, (3, 2, 4, 4), seed=31),
            QSampleSpec("cosine", 20, (2, 3, 4, 4), seed=32, dtype=torch.float64),
            QSampleSpec("sigmoid", 50, (2, 3, 4, 4), seed=33),
        ]
        call = q_sample_call(reference, specs)
        cases = [dict(case, dtype=dtype) for case, dtype in zip(call.params["cases"], dtypes)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
