"""TODO 3.5 inpaint: after every reverse step, the kept pixels (mask = 0) are replaced by the image noised
to the step just reached, sampler.add_noise(image, z, t_prev) (the image itself at t_prev = -1).

The estimator, the sampler and the one-view fused step are the grader's (grader/checks/_editing.py); the
sampler records each step's x_t and each add_noise's t, so feedback can say which part of the step went
wrong.
"""

from __future__ import annotations

import torch

from grader.checks import Call, CaseTableCheck, CheckRun, Fail, register
from grader.checks._cases import uniform
from grader.checks._compare import FLOAT32, check_tensor, fmt_values
from grader.checks._contract import ContractCheck
from grader.checks._editing import EditSpec, describe, edit_inputs
from grader.grading.reference import Reference

ITEM = "inpaint"


def inpaint_call(reference: Reference, specs: list[EditSpec]) -> Call:
    """One inpaint probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        case, tensors = edit_inputs(reference, index, spec)
        b, _, h, w = spec.shape
        mask_shape = (1, 1, h, w) if spec.mask == "shared" else (b, 1, h, w)
        mask = (uniform(mask_shape, spec.seed + 5, 0.0, 1.0) < 0.5).to(torch.float32)
        tensors[f"{index}.mask"] = torch.ones(mask_shape) if spec.mask == "none" else mask
        case["mask"] = spec.mask
        cases.append(case)
        inputs.update(tensors)
    return Call("inpaint", {"cases": cases}, inputs)


def context_of(case: dict) -> str:
    masks = {"pixels": "a (B, 1, H, W) mask", "shared": "a (1, 1, H, W) mask", "none": "a mask of ones"}
    return f" ({masks[case['mask']]}, {describe(case)})"


def check_kept_pixels(got: dict, call: Call, index: int, context: str) -> None:
    """Fail unless every pixel with mask = 0 is exactly the image's."""
    result = got.get("result")
    image, mask = call.inputs[f"{index}.image"], call.inputs[f"{index}.mask"]
    if not isinstance(result, torch.Tensor) or tuple(result.shape) != tuple(image.shape):
        shape = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
        raise Fail(f"inpaint returned {shape} for an image of shape {tuple(image.shape)}{context}")
    keep = (mask == 0).expand_as(image)
    error = (result.double() - image.double()).abs()[keep]
    if error.numel() and float(error.max()) > 1e-5:
        generated = (mask == 1).expand_as(image)
        inverted = bool(generated.any()) and float((result.double() - image.double()).abs()[generated].max()) <= 1e-5
        advice = ("the mask is the other way round: 1 = generate, 0 = keep the image (x = mask * x + (1 - mask) * "
                  "known)" if inverted else
                  "after the last step (t_prev = -1) the kept pixels are the image itself: known = image there")
        raise Fail(f"inpaint's result differs from the image where mask = 0 (max abs error {float(error.max()):.3g}): "
                   f"{advice}{context}")


def check_steps(got: dict, expected: dict, case: dict, context: str, public: bool) -> None:
    """Fail unless every pair was stepped in order, the image noised to each t_prev >= 0, and each step
    started from the reference's blend."""
    pairs = case["pairs"]
    steps = got["step_pairs"].tolist()
    if steps != list(range(len(pairs))):
        raise Fail(f"inpaint stepped through {len(steps)} pairs, not every pair of sampler.time_pairs in order"
                   f"{context}")
    noised, want = got["add_noise_t"].tolist(), [t_prev for _, t_prev in pairs if t_prev >= 0]
    if noised != want:
        if noised == [t for t, t_prev in pairs if t_prev >= 0] or noised == [t for t, _ in pairs]:
            advice = "noise the image to t_prev, the step just reached, not to t"
        elif -1 in noised or len(noised) > len(want):
            advice = "at t_prev = -1 the known pixels are the image itself, with no add_noise"
        else:
            advice = "call sampler.add_noise(image, z, t_prev) once after each step with t_prev >= 0"
        seen = f"with t = {fmt_values(noised, 8)}" if public else f"{len(noised)} times"
        raise Fail(f"inpaint called sampler.add_noise {seen}: {advice}{context}")
    inputs = got.get("step_inputs")
    for k in range(len(pairs)):
        step = f"step {k + 1}" + (f" (t, t_prev) = {tuple(pairs[k])}" if public else "")
        start = "start from x = noise as it is" if k == 0 else "blend x = mask * x + (1 - mask) * known after each step"
        check_tensor(f"the x_t of inpaint's {step}{context}", None if inputs is None else inputs[k:k + 1],
                     expected["step_inputs"][k:k + 1], FLOAT32, show_values=public, hint=start)


class _Inpaint(CaseTableCheck[EditSpec]):
    item = ITEM
    build_call = staticmethod(inpaint_call)

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        context = context_of(case)
        got = run.case(0, index, ITEM, context)
        expected = run.expected_case(0, index)
        check_kept_pixels(got, call, index, context)
        check_steps(got, expected, case, context, run.public)
        check_tensor(f"inpaint's result{context}", got.get("result"), expected["result"], FLOAT32,
                     show_values=run.public, hint="return the blended x of the last step")


@register
class MatchesReference(_Inpaint):
    name = "matches_reference"
    title = "inpaint(estimator, sampler, image, mask, noise=...) matches the reference (guidance 1 and 2)"

    def specs(self) -> list[EditSpec]:
        return [EditSpec(100, 6, (2, 3, 6, 6), 701), EditSpec(50, 4, (1, 1, 5, 5), 702, guidance_scale=2.0,
                                                              mask="shared")]


@register
class KeepsTheImageWhereMaskIs0(_Inpaint):
    name = "returns_the_image_where_mask_is_0"
    title = "inpaint's result is exactly the image wherever mask = 0 (and matches the reference elsewhere)"

    def specs(self) -> list[EditSpec]:
        return [EditSpec(100, 5, (3, 2, 4, 4), 711), EditSpec(30, 3, (2, 3, 4, 4), 712, mask="shared")]


@register
class BlendsTheNoisedImageAtEveryStep(_Inpaint):
    name = "blends_the_image_noised_to_t_prev_after_every_step"
    title = ("after each step, inpaint puts the image noised to t_prev (add_noise) in the kept pixels, and the image "
             "itself after the last; a mask of ones is plain sampling")

    def specs(self) -> list[EditSpec]:
        return [EditSpec(200, 8, (2, 2, 4, 4), 721), EditSpec(50, 5, (2, 3, 4, 4), 722, mask="none")]

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        context = context_of(case)
        check_steps(run.case(0, index, ITEM, context), run.expected_case(0, index), case, context, run.public)


@register
class DrawsFreshNoiseFromTheGenerator(_Inpaint):
    name = "draws_its_noise_from_the_generator"
    title = "with noise=None, inpaint draws the start and each step's fresh noise from `generator`, in order"

    def specs(self) -> list[EditSpec]:
        return [EditSpec(100, 6, (2, 3, 4, 4), 731, default_noise=True)]


@register
class KeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("inpaint returns the image's dtype (float32, float64) on its device, draws its noise there, and leaves "
             "the image, the mask and the noise untouched")

    def call(self, reference: Reference) -> Call:
        specs = [EditSpec(50, 4, (2, 3, 4, 4), 741), EditSpec(50, 4, (2, 3, 4, 4), 742, mask="shared"),
                 EditSpec(50, 4, (2, 3, 4, 4), 743, default_noise=True)]
        call = inpaint_call(reference, specs)
        settings = ({"dtype": "float32"}, {"dtype": "float64"}, {"device": "meta"})
        cases = [dict(case, **extra) for case, extra in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
