"""TODO 2.7 interpolate: noise two images to step t with one shared noise, mix them with weight lam, and
run the p_sample steps t, t-1, ..., 0 from the mix.

q_sample and p_sample are the grader's (the forward process of q_sample's docstring, and a recording
step x_prev = 0.5 x + offsets[t]), so interpolate is graded whatever the submission's q_sample and
p_sample do; the recorded steps show where the loop started and how it went on.

The recording step halves x, so after a few steps the result has all but forgotten where the loop
started. Every property check (the loop's steps, lam = 0 and 1) therefore also holds one ordinary case
whose start must match the reference, and the contract compares values at a small t: a stub that
denoises x1 alone (x2 at lam = 1) runs the right steps and gets both endpoints right, and earns nothing
for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.checks import Call, CaseTableCheck, CheckRun, Fail, register
from grader.checks._cases import buffer_inputs, case_seed, randn, reference_buffers, uniform
from grader.checks._compare import FLOAT32, check_tensor, close, fmt_values
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "interpolate"


@dataclass(frozen=True)
class InterpolateSpec:
    """One interpolate case: images x1, x2 of `shape` in [0, 1] under `schedule` with T steps, mixed with
    weight `lam` at step `t` (None: interpolate's default, T - 1). Images, offsets and noise come from
    `seed`; with `default_noise` interpolate draws the noise itself (noise=None) under that seed."""

    schedule: str
    T: int
    shape: tuple[int, int, int, int]
    seed: int
    lam: float
    t: int | None
    default_noise: bool = False


def interpolate_call(reference: Reference, specs: list[InterpolateSpec]) -> Call:
    """One interpolate probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        shape, seed, T = tuple(spec.shape), spec.seed, spec.T
        inputs.update(buffer_inputs(index, reference_buffers(reference, spec.schedule, T)))
        inputs[f"{index}.x1"] = uniform(shape, seed, 0.0, 1.0)
        inputs[f"{index}.x2"] = uniform(shape, seed + 1, 0.0, 1.0)
        inputs[f"{index}.offsets"] = uniform((T, *shape), seed + 2, -0.5, 0.5)
        case = {"schedule": spec.schedule, "T": T, "shape": list(shape), "image_size": shape[-1], "lam": spec.lam,
                "t": spec.t}
        if spec.default_noise:
            case["seed"] = case_seed(seed + 3)
        else:
            inputs[f"{index}.noise"] = randn(shape, seed + 3)
        cases.append(case)
    return Call("interpolate", {"cases": cases}, inputs)


def describe(case: dict) -> str:
    t = "t = None (T - 1)" if case["t"] is None else f"t = {case['t']}"
    noise = ", noise=None" if "seed" in case else ""
    return f"lam = {case['lam']:g}, {t}, T = {case['T']}, images of shape {tuple(case['shape'])}{noise}"


class _Interpolate(CaseTableCheck[InterpolateSpec]):
    item = ITEM
    build_call = staticmethod(interpolate_call)

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        context = f" ({describe(case)})"
        got = run.case(0, index, ITEM, context)
        self.judge_got(run, got, run.expected_case(0, index), case, context)

    def judge_got(self, run: CheckRun, got: dict, expected: dict, case: dict, context: str) -> None:
        check_result(run, got, expected, context)


def check_steps(got: dict, expected: dict, context: str, public: bool) -> None:
    """Fail unless p_sample ran for t, t-1, ..., 0 (as the reference's did), each step on the previous x."""
    visited, want = got["visited_t"].tolist(), expected["visited_t"].tolist()
    if visited != want:
        seen = f"t = {fmt_values(visited, 6)} ({len(visited)} calls)" if public else f"{len(visited)} times"
        raise Fail(f"interpolate called p_sample with {seen}, but it should run t = {fmt_values(want, 6)}: "
                   f"for s in reversed(range(t + 1)), with t = T - 1 when t is None{context}")
    inputs, outputs = got["step_inputs"], got["step_outputs"]
    for k in range(1, inputs.shape[0]):
        if not torch.allclose(inputs[k].double(), outputs[k - 1].double(), rtol=1e-6, atol=1e-6):
            raise Fail(f"p_sample call {k + 1} did not receive the x that call {k} returned: feed each step's x "
                       f"into the next{context}")


def check_start(run: CheckRun, got: dict, expected: dict, context: str) -> None:
    """Fail unless the first step started from the reference's mix of the two noised images."""
    if "step_inputs" not in got:
        raise Fail(f"interpolate never called self.p_sample{context}")
    hint = "x_t = (1 - lam) q_sample(normalize(x1), t, eps) + lam q_sample(normalize(x2), t, eps)"
    noises = got.get("q_sample_noise")
    if noises is not None and noises.shape[0] == 2 and not torch.equal(noises[0], noises[1]):
        hint = ("noise both images with the same eps: draw it once (or take the given noise) and pass it to both "
                "q_sample calls")
    check_tensor(f"the x the first p_sample step got{context}", got["step_inputs"][0], expected["step_inputs"][0],
                 FLOAT32, show_values=run.public, hint=hint)


def check_result(run: CheckRun, got: dict, expected: dict, context: str) -> None:
    check_start(run, got, expected, context)
    check_steps(got, expected, context, run.public)
    result = got.get("result")
    hint = ""
    if result is not None and "step_outputs" in got and close(result, got["step_outputs"][-1], FLOAT32):
        hint = "return unnormalize(x), the last step's x mapped back to [0, 1]"
    check_tensor(f"interpolate's result{context}", result, expected["result"], FLOAT32, show_values=run.public,
                 where=lambda i: f"in sample {i[0]}", hint=hint)


@register
class MatchesReference(_Interpolate):
    name = "matches_reference"
    title = "interpolate(x1, x2, t, lam, noise) matches the reference (lam = 0.5 and 0.25)"

    def specs(self) -> list[InterpolateSpec]:
        return [InterpolateSpec("linear", 50, (2, 3, 4, 4), 401, lam=0.5, t=20),
                InterpolateSpec("cosine", 20, (1, 1, 5, 5), 402, lam=0.25, t=7)]


@register
class StartsFromTheMixOfBothNoisedImages(_Interpolate):
    name = "starts_from_the_mix_noised_with_one_shared_noise"
    title = ("the first step starts from (1 - lam) q_sample(x1', t, eps) + lam q_sample(x2', t, eps): both images "
             "normalized and noised with the same eps")

    def specs(self) -> list[InterpolateSpec]:
        return [InterpolateSpec("linear", 100, (3, 2, 4, 4), 411, lam=0.7, t=60),
                InterpolateSpec("sigmoid", 30, (2, 3, 3, 3), 412, lam=0.5, t=0)]

    def judge_got(self, run: CheckRun, got: dict, expected: dict, case: dict, context: str) -> None:
        check_start(run, got, expected, context)


@register
class RunsEveryStepFromTDownTo0(_Interpolate):
    name = "runs_p_sample_from_t_down_to_0"
    title = ("interpolate runs p_sample for t, t-1, ..., 0, each step on the previous x (t = None: from T - 1), and "
             "matches the reference on an ordinary case")

    def specs(self) -> list[InterpolateSpec]:
        return [InterpolateSpec("linear", 60, (2, 2, 3, 3), 421, lam=0.5, t=None),
                InterpolateSpec("cosine", 15, (1, 3, 4, 4), 422, lam=0.3, t=4),
                InterpolateSpec("cosine", 1, (2, 1, 4, 4), 423, lam=0.6, t=None),
                InterpolateSpec("sigmoid", 40, (2, 3, 4, 4), 424, lam=0.4, t=6)]  # the ordinary case: judged whole

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        if index == len(call.params["cases"]) - 1:  # the ordinary case must match the reference, start included
            context = f" ({describe(case)})"
            check_result(run, run.case(0, index, ITEM, context), run.expected_case(0, index), context)
        else:
            super().judge_case(run, call, index, case)

    def judge_got(self, run: CheckRun, got: dict, expected: dict, case: dict, context: str) -> None:
        if "step_inputs" not in got:
            raise Fail(f"interpolate never called self.p_sample{context}")
        check_steps(got, expected, context, run.public)
        result, last = got.get("result"), got["step_outputs"][-1]
        if result is None or not close(result, (last.double() + 1) * 0.5, FLOAT32):
            raise Fail(f"interpolate did not return unnormalize(x) of the last step's x{context}")


@register
class EndpointsFollowOneImage(_Interpolate):
    name = "lam_0_and_1_follow_one_image"
    title = "lam = 0 denoises x1 alone and lam = 1 x2 alone (and lam = 0.4 matches the reference)"

    def specs(self) -> list[InterpolateSpec]:
        return [InterpolateSpec("linear", 80, (2, 3, 4, 4), 431, lam=0.0, t=40),
                InterpolateSpec("linear", 80, (2, 3, 4, 4), 432, lam=1.0, t=40),
                InterpolateSpec("linear", 80, (2, 3, 4, 4), 433, lam=0.4, t=40)]


@register
class DrawsOneNoiseWhenNone(_Interpolate):
    name = "draws_one_noise_when_noise_is_none"
    title = "with noise=None, interpolate draws eps once with torch.randn_like(x1) and noises both images with it"

    def specs(self) -> list[InterpolateSpec]:
        return [InterpolateSpec("linear", 50, (2, 3, 4, 4), 441, lam=0.5, t=30, default_noise=True)]


@register
class KeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("interpolate returns x1's dtype (float32, float64, bfloat16 in a bfloat16 module) on x1's device, hands "
             "q_sample a (B,) int64 t on that device, and leaves x1, x2 and noise untouched")

    def call(self, reference: Reference) -> Call:
        # the cases whose values are compared (float32, float64) stop at a small t: the result still shows the start
        specs = [InterpolateSpec("linear", 50, (2, 3, 4, 4), 451, lam=0.5, t=3),
                 InterpolateSpec("cosine", 20, (2, 2, 4, 4), 452, lam=0.3, t=2),
                 InterpolateSpec("sigmoid", 20, (2, 3, 4, 4), 453, lam=0.5, t=5),
                 InterpolateSpec("linear", 50, (2, 3, 4, 4), 454, lam=0.5, t=20, default_noise=True)]
        call = interpolate_call(reference, specs)
        settings = ({"dtype": "float32"}, {"dtype": "float64"}, {"dtype": "bfloat16"}, {"device": "meta"})
        cases = [dict(case, **extra) for case, extra in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
