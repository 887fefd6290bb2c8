"""TODO 2.5 denoise_backward: one DDIM step from x_t to x_{t_prev} with eta (Song et al. eq. 12 and 16).

Every call gets its noise z as an explicit tensor. The chain checks run the given DDIM loop with an
oracle network, which pins down the t_prev < 0 branch and the role of eta without any reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.checks import Call, CaseTableCheck, Check, CheckRun, Fail, Verdict, each_case, register
from grader.checks import _strategies as st
from grader.checks._cases import (
    buffer_inputs,
    case_seed,
    draw,
    etas,
    image_shapes,
    randn,
    reference_buffers,
    schedule_and_T,
    seeds,
    uniform,
)
from grader.checks._compare import CHAIN, FLOAT32, PROPERTY, check_shape, check_tensor, close
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "denoise_backward"


@dataclass(frozen=True)
class StepSpec:
    """One DDIM step case: from timestep t to t_prev (-1: the last step) with `eta`, for images of
    `shape` (B, C, H, W) under `schedule` with T steps; pred_x_start, pred_noise and the step's noise z
    are drawn from `seed`."""

    schedule: str
    T: int
    shape: tuple[int, int, int, int]
    seed: int
    t: int
    t_prev: int
    eta: float


def denoise_call(reference: Reference, specs: list[StepSpec]) -> Call:
    """One denoise_backward probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        shape, seed = tuple(spec.shape), spec.seed
        inputs.update(buffer_inputs(index, reference_buffers(reference, spec.schedule, spec.T)))
        inputs[f"{index}.pred_x_start"] = uniform(shape, seed, -1.0, 1.0)
        inputs[f"{index}.pred_noise"] = randn(shape, seed + 1)
        inputs[f"{index}.noise"] = randn(shape, seed + 2)
        cases.append({
            "schedule": spec.schedule, "T": spec.T, "shape": list(shape), "image_size": shape[-1],
            "t": int(spec.t), "t_prev": int(spec.t_prev), "eta": float(spec.eta),
        })
    return Call("denoise_backward", {"cases": cases}, inputs)


def describe(case: dict) -> str:
    return (
        f"t = {case['t']}, t_prev = {case['t_prev']}, eta = {case['eta']:g}, {case['schedule']} schedule, "
        f"T = {case['T']}, shape {tuple(case['shape'])}"
    )


class _DenoiseMatches(CaseTableCheck[StepSpec]):
    item = ITEM
    build_call = staticmethod(denoise_call)

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        context = f" ({describe(case)})"
        got = run.case(0, index, ITEM, context).get("x_prev")
        hint = ""
        if case["t_prev"] < 0 and got is not None and not close(got, call.inputs[f"{index}.pred_x_start"], FLOAT32):
            hint = "when t_prev < 0 there is no alpha_bar_{t_prev}: return pred_x_start itself"
        check_tensor(f"denoise_backward(...){context}", got, run.expected_case(0, index)["x_prev"], FLOAT32,
                     where=lambda i: f"in sample {i[0]}", show_values=run.public, hint=hint)


@register
class DenoiseMatchesReference(_DenoiseMatches):
    name = "matches_reference"
    title = "denoise_backward matches the reference for eta = 0, 0.3, 0.5 and 1, adjacent and skipping steps"

    def specs(self) -> list[StepSpec]:
        return [
            StepSpec("linear", 1000, (4, 3, 8, 8), seed=101, t=999, t_prev=979, eta=0.0),
            StepSpec("linear", 1000, (4, 3, 8, 8), seed=102, t=500, t_prev=499, eta=1.0),
            StepSpec("cosine", 50, (2, 1, 4, 4), seed=103, t=30, t_prev=10, eta=0.5),
            StepSpec("sigmoid", 20, (3, 2, 4, 4), seed=104, t=1, t_prev=0, eta=0.3),
        ]


@register
class DenoiseReturnsX0WhenTPrevNegative(_DenoiseMatches):
    name = "returns_x0_estimate_when_t_prev_is_negative"
    title = "denoise_backward returns pred_x_start itself when t_prev < 0 (the last DDIM step)"

    def specs(self) -> list[StepSpec]:
        return [
            StepSpec("linear", 1000, (4, 3, 8, 8), seed=105, t=0, t_prev=-1, eta=0.0),
            StepSpec("cosine", 50, (2, 2, 4, 4), seed=106, t=4, t_prev=-1, eta=1.0),
        ]


@register
class DenoiseMatchesReferenceOnRandomInputs(_DenoiseMatches):
    name = "matches_reference_on_random_inputs"
    title = "denoise_backward matches the reference on random schedules, (t, t_prev) pairs and eta"

    def specs(self) -> list[StepSpec]:
        strategy = st.tuples(schedule_and_T(), image_shapes(), seeds, st.floats(0.0, 1.0), st.floats(0.0, 1.0), etas)
        specs = []
        for (schedule, T), shape, seed, a, b, eta in draw(strategy, 8, "denoise_backward.random_inputs"):
            t = int(a * (T - 1))
            t_prev = int(b * t) - 1 if t == 0 else min(int(b * t), t - 1)
            specs.append(StepSpec(schedule, T, shape, seed, t=t, t_prev=t_prev, eta=eta))
        return specs


def time_pairs(T: int, S: int) -> list[list[int]]:
    """The given ddim_time_pairs(T, S): from t = T-1 down to t_prev = -1 in S steps."""
    times = list(reversed(torch.linspace(-1, T - 1, steps=S + 1).int().tolist()))
    return [[a, b] for a, b in zip(times[:-1], times[1:])]


@dataclass(frozen=True)
class ChainSpec:
    """One DDIM chain case: S of the T steps of `schedule` with `eta`, run twice (two noise seeds) by
    the given DDIM loop with an oracle network of `objective` that knows x_0 (of `shape`, drawn from
    `seed`)."""

    schedule: str
    T: int
    S: int
    shape: tuple[int, int, int, int]
    objective: str
    eta: float
    seed: int


def chain_call(reference: Reference, specs: list[ChainSpec]) -> Call:
    """One ddim_chain probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        T, S, seed = spec.T, spec.S, spec.seed
        inputs.update(buffer_inputs(index, reference_buffers(reference, spec.schedule, T)))
        inputs[f"{index}.x0"] = uniform(spec.shape, seed, -1.0, 1.0)
        cases.append({
            "schedule": spec.schedule, "T": T, "S": S, "image_size": spec.shape[-1], "objective": spec.objective,
            "eta": spec.eta, "pairs": time_pairs(T, S), "start_seed": case_seed(seed + 1),
            "noise_seeds": [case_seed(seed + 2), case_seed(seed + 3)],
        })
    return Call("ddim_chain", {"cases": cases}, inputs)


def chain_context(case: dict) -> str:
    return (f" (DDIM with S = {case['S']} of T = {case['T']} steps, eta = {case['eta']:g}, "
            f"objective={case['objective']!r})")


def check_follows_reference(run: CheckRun, index: int, case: dict, got: dict) -> None:
    """Every x of the chain matches the reference's: the step noise is the grader's, so it is the same."""
    expected = run.expected_case(0, index)
    for key in ("trajectory.0", "trajectory.1"):
        trajectory = got.get(key)
        if trajectory is not None and trajectory.shape == expected[key].shape:
            for step in range(1, trajectory.shape[0]):
                t, t_prev = case["pairs"][step - 1]
                check_tensor(f"x after the step ({t} -> {t_prev}){chain_context(case)}", trajectory[step],
                             expected[key][step], CHAIN, show_values=False)
        check_tensor(f"the DDIM chain{chain_context(case)}", trajectory, expected[key], CHAIN, show_values=False)


@register
class EtaZeroIsDeterministic(Check):
    item = ITEM
    name = "eta_zero_is_deterministic"
    title = "with eta = 0, a DDIM chain does not depend on the noise it is given (and follows the reference's path)"

    def plan(self, reference: Reference) -> list[Call]:
        return [chain_call(reference, [
            ChainSpec("linear", 100, S=10, shape=(2, 3, 4, 4), objective="pred_noise", eta=0.0, seed=111),
            ChainSpec("cosine", 50, S=50, shape=(1, 2, 4, 4), objective="pred_v", eta=0.0, seed=112),
        ])]

    def judge(self, run: CheckRun) -> Verdict:
        def judge_case(index: int, case: dict) -> None:
            context = chain_context(case)
            got = run.case(0, index, ITEM, context)
            expected = run.expected_case(0, index)
            for key in ("trajectory.0", "trajectory.1"):  # the shape first: the loop below runs over it
                if not isinstance(got.get(key), torch.Tensor):
                    raise Fail(f"the DDIM chain returned no {key}{context}")
                check_shape(f"the DDIM chain{context}", got[key], tuple(expected[key].shape))
            first, second = got["trajectory.0"], got["trajectory.1"]
            for step in range(1, first.shape[0]):
                if not close(second[step], first[step], PROPERTY):
                    t, t_prev = case["pairs"][step - 1]
                    raise Fail(
                        f"with eta = 0 the step ({t} -> {t_prev}) gave different x for two different noise tensors: "
                        f"sigma_t must be 0 when eta = 0{context}"
                    )
            check_follows_reference(run, index, case, got)

        return each_case(run.calls[0].params["cases"], judge_case)


@register
class OracleChainReturnsX0(Check):
    item = ITEM
    name = "oracle_chain_returns_x0_for_any_eta_and_seed"
    title = "with a perfect denoiser, a DDIM chain ends exactly at the clean image, for any eta and noise"

    def plan(self, reference: Reference) -> list[Call]:
        return [chain_call(reference, [
            ChainSpec("linear", 100, S=10, shape=(2, 3, 4, 4), objective="pred_noise", eta=0.0, seed=121),
            ChainSpec("linear", 100, S=25, shape=(2, 3, 4, 4), objective="pred_noise", eta=1.0, seed=122),
            ChainSpec("cosine", 60, S=7, shape=(1, 2, 4, 4), objective="pred_v", eta=0.5, seed=123),
            ChainSpec("sigmoid", 40, S=40, shape=(2, 1, 3, 3), objective="pred_x0", eta=0.8, seed=124),
            ChainSpec("cosine", 1, S=1, shape=(2, 1, 3, 3), objective="pred_noise", eta=1.0, seed=125),
        ])]

    def judge(self, run: CheckRun) -> Verdict:
        call = run.calls[0]
        def judge_case(index: int, case: dict) -> None:
            context = chain_context(case)
            got = run.case(0, index, ITEM, context)
            x0 = call.inputs[f"{index}.x0"]
            for key in ("trajectory.0", "trajectory.1"):
                final = got[key][-1]
                check_tensor(f"the final x of the DDIM chain{context}", final, x0, PROPERTY, show_values=False,
                             hint="the last step has t_prev = -1: return pred_x_start itself")
            check_follows_reference(run, index, case, got)

        return each_case(call.params["cases"], judge_case)


@register
class DenoiseKeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("denoise_backward returns pred_x_start's dtype (float32, float64, and bfloat16 in a bfloat16 module), "
             "leaves its inputs untouched, and runs with everything on a device other than the CPU")

    def call(self, reference: Reference) -> Call:
        specs = [
            StepSpec("linear", 100, (3, 3, 4, 4), seed=141, t=80, t_prev=60, eta=0.5),
            StepSpec("cosine", 50, (2, 2, 4, 4), seed=142, t=20, t_prev=19, eta=1.0),
            StepSpec("sigmoid", 30, (2, 3, 4, 4), seed=143, t=9, t_prev=3, eta=0.0),
            StepSpec("linear", 100, (3, 3, 4, 4), seed=144, t=40, t_prev=20, eta=0.5),
            StepSpec("linear", 100, (2, 3, 4, 4), seed=145, t=3, t_prev=-1, eta=0.5),
        ]
        call = denoise_call(reference, specs)
        settings = ({}, {"dtype": "float64"}, {"dtype": "bfloat16"}, {"device": "meta"}, {"dtype": "float64"})
        cases = [dict(case, **setting) for case, setting in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
