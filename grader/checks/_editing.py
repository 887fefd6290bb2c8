"""Inputs shared by the image-editing items (sdedit, inpaint): the grader's estimator, sampler and image.

Both items run on parts the grader supplies (grader/grading/probes.py): an affine stand-in estimator
eps(x, t, p) = gain_p x + offset_p, a recording Sampler whose step and add_noise are fixed affine maps
(add_noise uses a schedule's sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t)), and a one-view fused step,
so that neither item depends on the submission's views, fused estimate, guidance or DDIM step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.checks._cases import case_seed, randn, reference_buffers, uniform
from grader.grading.reference import Reference

Tensor = torch.Tensor
PROMPT = 0  # the one prompt: the estimator's "p0"


def time_pairs(T: int, S: int) -> list[tuple[int, int]]:
    """The (t, t_prev) pairs a DDIM sampler with S of T steps visits (ddim_time_pairs of the handout)."""
    times = list(reversed(torch.linspace(-1, T - 1, steps=S + 1).int().tolist()))
    return list(zip(times[:-1], times[1:]))


@dataclass(frozen=True)
class EditSpec:
    """One sdedit or inpaint case: an image of `shape` (B, C, H, W) in [-1, 1], a sampler over the DDIM pairs
    of S of T steps, guidance `guidance_scale`. Everything is drawn from `seed`; with `default_noise` the
    item draws its noise itself. Every case hands the item a generator seeded by the case (inpaint draws
    fresh noise at every step). `i_start` is sdedit's; `mask` is inpaint's: "pixels" (B, 1, H, W),
    "shared" (1, 1, H, W) or "none" (all ones: generate everything)."""

    T: int
    S: int
    shape: tuple[int, int, int, int]
    seed: int
    guidance_scale: float = 1.0
    default_noise: bool = False
    i_start: int = 0
    mask: str = "pixels"


def edit_inputs(reference: Reference, index: int, spec: EditSpec) -> tuple[dict, dict[str, Tensor]]:
    """The case parameters and input tensors common to sdedit and inpaint."""
    shape, seed = tuple(spec.shape), spec.seed
    b, c, h, w = shape
    pairs = time_pairs(spec.T, spec.S)
    buffers = reference_buffers(reference, "linear" if spec.T >= 50 else "cosine", spec.T)
    inputs = {
        "image": uniform(shape, seed, -1.0, 1.0),
        "a": buffers["sqrt_alphas_bar"].to(torch.float32),
        "b": buffers["sqrt_one_minus_alphas_bar"].to(torch.float32),
        "offsets": uniform((len(pairs), *shape), seed + 1, -0.2, 0.2),
        "gain.p0": torch.tensor(0.3),
        "offset.p0": uniform((1, c, h, w), seed + 2, -0.5, 0.5),
        "gain.null": torch.tensor(-0.2),
        "offset.null": uniform((1, c, h, w), seed + 3, -0.5, 0.5),
    }
    case = {"pairs": [list(pair) for pair in pairs], "guidance_scale": spec.guidance_scale, "prompt": PROMPT,
            "T": spec.T, "shape": list(shape), "seed": case_seed(seed + 4), "default_noise": spec.default_noise}
    if not spec.default_noise:
        inputs["noise"] = randn(shape, seed + 4)
    return case, {f"{index}.{name}": value for name, value in inputs.items()}


def describe(case: dict) -> str:
    text = f"{len(case['pairs'])} time pairs of T = {case['T']}, image of shape {tuple(case['shape'])}"
    if case["guidance_scale"] != 1.0:
        text += f", guidance_scale = {case['guidance_scale']:g}"
    return text + (", noise=None" if case["default_noise"] else "")
