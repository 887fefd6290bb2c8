"""TODO 2.3 p_sample: one ancestral DDPM step, x_{t-1} = posterior mean at the clipped x0 estimate + sigma_t z.

Every step gets its noise z as an explicit tensor, so student and reference draw nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.checks import Call, CaseTableCheck, Check, CheckRun, Fail, Verdict, each_case, register
from grader.checks import _strategies as st
from grader.checks._cases import (
    OBJECTIVES,
    buffer_inputs,
    case_seed,
    draw,
    generator,
    image_shapes,
    randn,
    reference_buffers,
    schedule_and_T,
    seeds,
    uniform,
)
from grader.checks._compare import CHAIN, FLOAT32, PROPERTY, check_tensor, close
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "p_sample"
NUM_CLASSES = 4


@dataclass(frozen=True)
class PSampleSpec:
    """One p_sample case: the step at timestep t (clamped into 0 .. T-1) of x of `shape` (B, C, H, W)
    under `schedule` with T steps, for a model of `objective`.

    x, the stand-in network's output (times `out_scale`) and the noise z (times `noise_scale`) are drawn
    from `seed`; with a `guidance_scale` the case is class-conditional (random labels, guided)."""

    schedule: str
    T: int
    shape: tuple[int, int, int, int]
    seed: int
    objective: str
    t: int
    out_scale: float = 1.0
    noise_scale: float = 1.0
    guidance_scale: float | None = None


def p_sample_call(reference: Reference, specs: list[PSampleSpec], *, default_noise: bool = False) -> Call:
    """One p_sample probe call with a case per spec; `default_noise`: the probe calls p_sample with
    noise=None under seeds of its own instead of handing it z."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        shape, seed, T = tuple(spec.shape), spec.seed, spec.T
        inputs.update(buffer_inputs(index, reference_buffers(reference, spec.schedule, T)))
        inputs[f"{index}.x"] = randn(shape, seed)
        inputs[f"{index}.model_out"] = spec.out_scale * randn(shape, seed + 1)
        case = {
            "schedule": spec.schedule, "T": T, "shape": list(shape), "image_size": shape[-1],
            "objective": spec.objective, "t": min(max(int(spec.t), 0), T - 1),
        }
        if spec.guidance_scale is not None:
            inputs[f"{index}.class_labels"] = torch.randint(0, NUM_CLASSES, (shape[0],), generator=generator(seed))
            case.update(num_classes=NUM_CLASSES, guidance_scale=spec.guidance_scale)
        if default_noise:
            case["seed"] = case_seed(seed + 2)
        else:
            inputs[f"{index}.noise"] = spec.noise_scale * randn(shape, seed + 2)
        cases.append(case)
    return Call("p_sample", {"cases": cases}, inputs)


@dataclass(frozen=True)
class ChainSpec:
    """One oracle chain case: p_sample for t = T-1, ..., 0 under `schedule`, with a perfect network of
    `objective` that knows x_0 (of `shape` (B, C, H, W), drawn from `seed`)."""

    schedule: str
    T: int
    shape: tuple[int, int, int, int]
    seed: int
    objective: str


def describe(case: dict) -> str:
    text = (
        f"t = {case['t']}, objective={case['objective']!r}, {case['schedule']} schedule, T = {case['T']}, "
        f"x of shape {tuple(case['shape'])}"
    )
    if "guidance_scale" in case:
        text += f", class_labels given, guidance_scale = {case['guidance_scale']:g}"
    return text


class _PSampleMatches(CaseTableCheck[PSampleSpec]):
    item = ITEM
    build_call = staticmethod(p_sample_call)

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        context = f" ({describe(case)})"
        got = run.case(0, index, ITEM, context)
        expected = run.expected_case(0, index)
        x0_hat = got.get("x0_hat")
        hint = ""
        if (x0_hat is not None and x0_hat.is_floating_point() and x0_hat.numel()
                and float(x0_hat.abs().max()) > 1 + 1e-6):
            hint = "x0_hat is outside [-1, 1]: clip it (model_predictions(..., clip_x_start=True))"
        check_tensor(f"x0_hat{context}", x0_hat, expected["x0_hat"], FLOAT32,
                     where=lambda i: f"in sample {i[0]}", show_values=run.public, hint=hint)
        if case["t"] == 0 and got.get("x_prev") is not None and not close(got["x_prev"], expected["x_prev"], FLOAT32):
            hint = ("at t = 0 the last step adds no noise (the noise argument is ignored): "
                    "return the posterior mean itself")
        check_tensor(f"x_prev{context}", got.get("x_prev"), expected["x_prev"], FLOAT32,
                     where=lambda i: f"in sample {i[0]}", show_values=run.public, hint=hint)


@register
class PSampleMatchesReferenceForTAbove0(_PSampleMatches):
    name = "matches_reference_for_t_above_0"
    title = "p_sample(x, t, noise=z) matches the reference for t > 0 (t = 999, 500, 2, 1; pred_noise)"

    def specs(self) -> list[PSampleSpec]:
        return [
            PSampleSpec("linear", 1000, (4, 3, 8, 8), seed=51, objective="pred_noise", t=999),
            PSampleSpec("linear", 1000, (4, 3, 8, 8), seed=52, objective="pred_noise", t=500),
            PSampleSpec("linear", 1000, (2, 3, 6, 6), seed=59, objective="pred_noise", t=2),
            PSampleSpec("cosine", 20, (2, 1, 4, 4), seed=53, objective="pred_noise", t=1),
        ]


@register
class PSampleAddsNoNoiseAtT0(_PSampleMatches):
    name = "adds_no_noise_at_t_0"
    title = "p_sample at t = 0 returns the posterior mean and ignores the noise it is given (even huge noise)"

    def specs(self) -> list[PSampleSpec]:
        # The noise is scaled by 1e8: a step that multiplies it by a variance that is merely tiny
        # at t = 0 (exp(0.5 * log 1e-20) = 1e-10) instead of skipping it shows up too.
        return [
            PSampleSpec("linear", 1000, (4, 3, 8, 8), seed=54, objective="pred_noise", t=0, noise_scale=1e8),
            PSampleSpec("cosine", 30, (2, 2, 4, 4), seed=55, objective="pred_x0", t=0, out_scale=0.5, noise_scale=1e8),
        ]


@register
class PSampleClipsX0Estimate(_PSampleMatches):
    name = "clips_the_x0_estimate"
    title = "p_sample clips its x_0 estimate to [-1, 1] before the posterior mean"

    def specs(self) -> list[PSampleSpec]:
        return [
            PSampleSpec("linear", 1000, (3, 3, 6, 6), seed=56, objective="pred_x0", t=400, out_scale=3.0),
            PSampleSpec("sigmoid", 100, (3, 2, 5, 5), seed=57, objective="pred_noise", t=70, out_scale=2.0),
            PSampleSpec("cosine", 100, (3, 2, 5, 5), seed=58, objective="pred_v", t=10, out_scale=3.0),
        ]


@register
class PSampleMatchesReferenceOnRandomInputs(_PSampleMatches):
    name = "matches_reference_on_random_inputs"
    title = "p_sample matches the reference on random schedules, objectives, timesteps, and class-conditional guidance"

    def specs(self) -> list[PSampleSpec]:
        strategy = st.tuples(
            schedule_and_T(), image_shapes(), seeds, st.sampled_from(OBJECTIVES), st.floats(0.0, 1.0),
            st.one_of(st.none(), st.sampled_from([1.0, 3.0]), st.floats(0.0, 7.5)),
        )
        return [
            PSampleSpec(schedule, T, shape, seed, objective, t=int(where * (T - 1)), guidance_scale=guidance)
            for (schedule, T), shape, seed, objective, where, guidance in draw(strategy, 8, "p_sample.random_inputs")
        ]


@register
class PSampleOracleChainReturnsX0(Check):
    item = ITEM
    name = "oracle_chain_returns_x0"
    title = ("with a perfect denoiser, p_sample for t = T-1, ..., 0 ends exactly at the clean image "
             "(on the reference's path)")

    def plan(self, reference: Reference) -> list[Call]:
        specs = [
            ChainSpec("linear", 50, (2, 3, 4, 4), seed=61, objective="pred_noise"),
            ChainSpec("cosine", 40, (2, 1, 4, 4), seed=62, objective="pred_v"),
            ChainSpec("sigmoid", 30, (1, 2, 4, 4), seed=63, objective="pred_x0"),
            ChainSpec("cosine", 1, (2, 1, 4, 4), seed=64, objective="pred_noise"),
        ]
        cases, inputs = [], {}
        for index, spec in enumerate(specs):
            inputs.update(buffer_inputs(index, reference_buffers(reference, spec.schedule, spec.T)))
            inputs[f"{index}.x0"] = uniform(spec.shape, spec.seed, -1.0, 1.0)
            cases.append({"schedule": spec.schedule, "T": spec.T, "image_size": spec.shape[-1],
                          "objective": spec.objective, "seed": case_seed(spec.seed + 1)})
        return [Call("p_sample_chain", {"cases": cases}, inputs)]

    def judge(self, run: CheckRun) -> Verdict:
        call = run.calls[0]
        def judge_case(index: int, case: dict) -> None:
            context = (f" (objective={case['objective']!r}, {case['schedule']} schedule, T = {case['T']}, "
                       f"seed {case['seed']})")
            got = run.case(0, index, ITEM, context)
            check_tensor(
                f"the final x of the chain{context}", got.get("x_final"), call.inputs[f"{index}.x0"], PROPERTY,
                show_values=False,
                hint="the last step (t = 0) must return the posterior mean, which is x0_hat, with no noise",
            )
            check_tensor(f"the chain's x after each step{context}", got.get("trajectory"),
                         run.expected_case(0, index)["trajectory"], CHAIN, show_values=False,
                         where=lambda i, T=case["T"]: f"after step {i[0]} (t = {T - i[0]})" if i[0] else "at the start")

        return each_case(call.params["cases"], judge_case)


@register
class PSampleDrawsNoiseWhenNone(Check):
    item = ITEM
    name = "draws_gaussian_noise_when_noise_is_none"
    title = "p_sample(x, t) with noise=None draws z with torch.randn_like(x) for t > 0, and adds none at t = 0"

    def plan(self, reference: Reference) -> list[Call]:
        specs = [
            PSampleSpec("linear", 100, (2, 2, 4, 4), seed=71, objective="pred_noise", t=60),
            PSampleSpec("linear", 100, (2, 2, 4, 4), seed=72, objective="pred_noise", t=0),
        ]
        return [p_sample_call(reference, specs, default_noise=True)]

    def judge(self, run: CheckRun) -> Verdict:
        def judge_case(index: int, case: dict) -> None:
            got = run.case(0, index, ITEM, f" (t = {case['t']}, noise=None)")
            a, b = got.get("x_prev_seed_a"), got.get("x_prev_seed_b")
            if case["t"] > 0 and close(a, b, FLOAT32):
                raise Fail(f"p_sample(x, t = {case['t']}) gave the same x_prev under two seeds: "
                           "with noise=None it must draw z ~ N(0, I)")
            if case["t"] == 0 and not close(a, b, FLOAT32):
                raise Fail("p_sample(x, t = 0) with noise=None differs between seeds: the last step adds no noise")
            hint = "draw z with torch.randn_like(x) when noise is not given"
            if a is not None and close(a, got.get("x_prev_randn_like_noise"), FLOAT32):
                hint = "the noise is drawn as expected, but p_sample's values are off (see its other checks)"
            check_tensor(f"p_sample(x, t = {case['t']}) with noise=None, under a fixed torch seed", a,
                         run.expected_case(0, index)["x_prev_seed_a"], FLOAT32, show_values=False, hint=hint)

        return each_case(run.calls[0].params["cases"], judge_case)


@register
class PSampleKeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("p_sample returns x's dtype (float32, float64, and bfloat16 in a bfloat16 module), hands the model "
             "x_t, a (B,) int64 t and the (B,) labels on x's device, leaves its inputs untouched, and runs with "
             "everything on a device other than the CPU")

    def call(self, reference: Reference) -> Call:
        specs = [
            PSampleSpec("linear", 50, (4, 3, 4, 4), seed=41, objective="pred_noise", t=20),
            PSampleSpec("cosine", 20, (3, 2, 4, 4), seed=42, objective="pred_v", t=7, guidance_scale=3.0),
            PSampleSpec("linear", 50, (4, 3, 4, 4), seed=43, objective="pred_noise", t=20),
            PSampleSpec("sigmoid", 40, (2, 3, 4, 4), seed=44, objective="pred_x0", t=11),
            PSampleSpec("cosine", 20, (3, 2, 4, 4), seed=45, objective="pred_noise", t=5, guidance_scale=2.0),
        ]
        call = p_sample_call(reference, specs)
        settings = ({}, {}, {"device": "meta"}, {"dtype": "float64"}, {"dtype": "bfloat16"})
        cases = [dict(case, **setting) for case, setting in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
