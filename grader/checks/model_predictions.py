"""TODO 2.6 model_predictions: eps_hat and x0_hat from the network's output for every objective, x0_hat
clamped to [-1, 1] on request, and eps_hat re-derived from the clamped x0_hat.

The network is a ScriptedModel (a fixed output whatever x_t is) and the buffers are the reference's, so
only model_predictions is graded. The item's other users (p_sample, the sampling loops) are graded on
the grader's own model_predictions, so a mistake here costs points here only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.checks import Call, CaseTableCheck, CheckRun, register
from grader.checks import _strategies as st
from grader.checks._cases import (
    OBJECTIVES,
    buffer_inputs,
    draw,
    generator,
    image_shapes,
    randn,
    reference_buffers,
    schedule_and_T,
    seeds,
    timesteps_tensor,
)
from grader.checks._compare import FLOAT32, check_tensor, close
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "model_predictions"
NUM_CLASSES = 3


@dataclass(frozen=True)
class PredictionSpec:
    """One model_predictions case: x_t of `shape` (B, C, H, W) under `schedule` with T steps and a network
    of `objective` whose output is drawn from `seed` and scaled by `out_scale` (large outputs put x0_hat
    outside [-1, 1]); the timesteps include T-1 and 0. With a `guidance_scale` the call gets class labels."""

    schedule: str
    T: int
    shape: tuple[int, int, int, int]
    seed: int
    objective: str
    clip: bool = False
    rederive: bool = False
    out_scale: float = 1.0
    guidance_scale: float | None = None


def model_predictions_call(reference: Reference, specs: list[PredictionSpec]) -> Call:
    """One model_predictions probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        shape, seed, T = tuple(spec.shape), spec.seed, spec.T
        inputs.update(buffer_inputs(index, reference_buffers(reference, spec.schedule, T)))
        inputs[f"{index}.x"] = randn(shape, seed)
        inputs[f"{index}.t"] = timesteps_tensor(shape[0], T, seed + 1, include=(T - 1, 0))
        inputs[f"{index}.model_out"] = spec.out_scale * randn(shape, seed + 2)
        case = {"schedule": spec.schedule, "T": T, "shape": list(shape), "image_size": shape[-1],
                "objective": spec.objective, "clip": spec.clip, "rederive": spec.rederive}
        if spec.guidance_scale is not None:
            inputs[f"{index}.class_labels"] = torch.randint(0, NUM_CLASSES, (shape[0],), generator=generator(seed + 3))
            case.update(num_classes=NUM_CLASSES, guidance_scale=spec.guidance_scale)
        cases.append(case)
    return Call("model_predictions", {"cases": cases}, inputs)


def describe(case: dict) -> str:
    text = (f"objective={case['objective']!r}, clip_x_start={case['clip']}, rederive_pred_noise={case['rederive']}, "
            f"{case['schedule']} schedule, T = {case['T']}, x of shape {tuple(case['shape'])}")
    if "guidance_scale" in case:
        text += f", class_labels given, guidance_scale = {case['guidance_scale']:g}"
    return text


X0_FORMULAS = {
    "pred_noise": "x0_hat = (x_t - sqrt(1 - alpha_bar_t) out) / sqrt(alpha_bar_t) (predict_start_from_noise)",
    "pred_x0": "x0_hat is the network's output itself",
    "pred_v": "x0_hat = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) out (predict_start_from_v)",
}


class _Matches(CaseTableCheck[PredictionSpec]):
    item = ITEM
    build_call = staticmethod(model_predictions_call)

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        context = f" ({describe(case)})"
        got = run.case(0, index, ITEM, context)
        expected = run.expected_case(0, index)
        t = call.inputs[f"{index}.t"]
        where = (lambda i: f"in sample {i[0]} (t = {int(t[i[0]])})") if run.public else (lambda i: f"in sample {i[0]}")
        x0_hat, eps_hat = got.get("pred_x_start"), got.get("pred_noise")
        check_tensor(f"pred_x_start{context}", x0_hat, expected["pred_x_start"], FLOAT32, where=where,
                     show_values=run.public, hint=self.x0_hint(case, x0_hat))
        check_tensor(f"pred_noise{context}", eps_hat, expected["pred_noise"], FLOAT32, where=where,
                     show_values=run.public, hint=self.noise_hint(case, eps_hat, call.inputs[f"{index}.model_out"]))

    @staticmethod
    def x0_hint(case: dict, x0_hat: torch.Tensor | None) -> str:
        if case["clip"] and isinstance(x0_hat, torch.Tensor) and x0_hat.is_floating_point() and x0_hat.numel() \
                and float(x0_hat.abs().max()) > 1 + 1e-6:
            return "x0_hat is outside [-1, 1]: with clip_x_start, clamp it (x0_hat.clamp(-1, 1))"
        return f"for objective {case['objective']!r}, {X0_FORMULAS[case['objective']]}"

    @staticmethod
    def noise_hint(case: dict, eps_hat: torch.Tensor | None, model_out: torch.Tensor) -> str:
        raw = close(eps_hat, model_out, FLOAT32)
        if case["objective"] == "pred_noise":
            if case["clip"] and case["rederive"] and raw:
                return ("with clip_x_start and rederive_pred_noise, re-derive eps_hat from the clamped x0_hat "
                        "(predict_noise_from_start), not the network's output")
            if not (case["clip"] and case["rederive"]):
                return "for pred_noise, eps_hat is the network's output as it is unless both flags are set"
        return ("eps_hat = (x_t - sqrt(alpha_bar_t) x0_hat) / sqrt(1 - alpha_bar_t) (predict_noise_from_start), "
                "computed from x0_hat after the clamp")


@register
class MatchesReference(_Matches):
    name = "matches_reference"
    title = "model_predictions matches the reference for pred_noise, pred_x0 and pred_v (no clamp)"

    def specs(self) -> list[PredictionSpec]:
        return [
            PredictionSpec("linear", 1000, (4, 3, 6, 6), 301, "pred_noise"),
            PredictionSpec("cosine", 50, (3, 2, 5, 5), 302, "pred_x0"),
            PredictionSpec("linear", 200, (3, 3, 4, 4), 303, "pred_v"),
        ]


@register
class ClampsX0ToTheDataRange(_Matches):
    name = "clamps_x0_to_minus_1_1"
    title = "with clip_x_start, x0_hat is clamped to [-1, 1] and, for pred_x0 and pred_v, eps_hat follows the clamp"

    def specs(self) -> list[PredictionSpec]:
        return [PredictionSpec("linear", 1000, (4, 3, 6, 6), 311 + k, objective, clip=True, out_scale=3.0)
                for k, objective in enumerate(OBJECTIVES)]


@register
class RederivesTheNoise(_Matches):
    name = "rederives_eps_from_the_clamped_x0"
    title = "with clip_x_start and rederive_pred_noise, eps_hat is re-derived from the clamped x0_hat (all objectives)"

    def specs(self) -> list[PredictionSpec]:
        return [PredictionSpec("cosine", 100, (4, 2, 5, 5), 321 + k, objective, clip=True, rederive=True, out_scale=3.0)
                for k, objective in enumerate(OBJECTIVES)]


@register
class MatchesReferenceOnRandomInputs(_Matches):
    name = "matches_reference_on_random_inputs"
    title = ("model_predictions matches the reference on random schedules, shapes, objectives and flags, and passes "
             "class labels and the guidance scale to the network")

    def specs(self) -> list[PredictionSpec]:
        strategy = st.tuples(schedule_and_T(), image_shapes(), seeds, st.sampled_from(OBJECTIVES), st.booleans(),
                             st.booleans())
        specs = [PredictionSpec(schedule, T, shape, seed % 2**30, objective, clip, rederive, out_scale=2.0)
                 for (schedule, T), shape, seed, objective, clip, rederive
                 in draw(strategy, 8, "model_predictions.random_inputs")]
        specs.append(PredictionSpec("linear", 100, (3, 2, 4, 4), 331, "pred_noise", guidance_scale=3.0))
        specs.append(PredictionSpec("cosine", 40, (2, 1, 4, 4), 332, "pred_v", clip=True, rederive=True,
                                    out_scale=2.0, guidance_scale=0.0))
        return specs


@register
class KeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("model_predictions returns x's dtype (float32, float64, bfloat16 in a bfloat16 module) on x's device, "
             "hands the network x_t, t and class_labels as given, and leaves its inputs untouched")

    def call(self, reference: Reference) -> Call:
        both = {"clip": True, "rederive": True}
        specs = [PredictionSpec("linear", 100, (3, 2, 4, 4), 341, "pred_noise", out_scale=3.0, **both),
                 PredictionSpec("cosine", 20, (2, 3, 4, 4), 342, "pred_v", clip=True, out_scale=3.0),
                 PredictionSpec("sigmoid", 50, (2, 3, 4, 4), 343, "pred_x0", guidance_scale=2.0),
                 PredictionSpec("linear", 100, (2, 2, 4, 4), 344, "pred_noise", guidance_scale=2.0, **both)]
        call = model_predictions_call(reference, specs)
        settings = ({"dtype": "float32"}, {"dtype": "float64"}, {"dtype": "bfloat16"}, {"device": "meta"})
        cases = [dict(case, **extra) for case, extra in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
