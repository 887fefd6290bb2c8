"""TODO 3.7 make_hybrid: the hybrid-image reduction, HybridReduction(kernel_size, sigma)([e_far, e_near], C) =
low_pass(e_far) + high_pass(e_near) on the C noise channels, the variance channels averaged.

The filters (views.low_pass, views.high_pass) are given code. Each check also asks the reference about
the same estimates swapped (far <-> near), so that feedback can tell a swap from other mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.checks import Call, Check, CheckRun, Verdict, each_case, register
from grader.checks._cases import randn
from grader.checks._compare import FLOAT32, check_tensor, close
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "make_hybrid"


@dataclass(frozen=True)
class HybridSpec:
    """One case: far and near estimates of `shape` (B, C', H, W) drawn from `seed`, C = `image_channels`
    noise channels (C' - C variance channels), filtered with a Gaussian blur of `kernel_size` and `sigma`."""

    shape: tuple[int, int, int, int]
    seed: int
    image_channels: int
    kernel_size: int = 33
    sigma: float = 2.0


def hybrid_call(reference: Reference, specs: list[HybridSpec], swapped: bool = False) -> Call:
    """One make_hybrid probe call with a case per spec; `swapped` hands the near estimate as the far one."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        far, near = randn(spec.shape, spec.seed), randn(spec.shape, spec.seed + 1)
        inputs[f"{index}.far"], inputs[f"{index}.near"] = (near, far) if swapped else (far, near)
        cases.append({"shape": list(spec.shape), "image_channels": spec.image_channels,
                      "kernel_size": spec.kernel_size, "sigma": spec.sigma})
    return Call("make_hybrid", {"cases": cases}, inputs)


def describe(case: dict) -> str:
    variance = case["shape"][1] - case["image_channels"]
    extra = f" and {variance} variance channels" if variance else ""
    return (f"estimates of shape {tuple(case['shape'])}: {case['image_channels']} noise channels{extra}, "
            f"kernel_size = {case['kernel_size']}, sigma = {case['sigma']:g}")


class _Hybrid(Check):
    item = ITEM
    specs: list[HybridSpec] = []

    def plan(self, reference: Reference) -> list[Call]:
        return [hybrid_call(reference, self.specs), hybrid_call(reference, self.specs, swapped=True)]

    def judge(self, run: CheckRun) -> Verdict:
        def judge_case(index: int, case: dict) -> None:
            context = f" ({describe(case)})"
            eps = run.case(0, index, "HybridReduction", context).get("eps")
            expected, swapped = run.expected_case(0, index)["eps"], run.expected_case(1, index)["eps"]
            c = case["image_channels"]
            noise_hint = ("the far estimate (estimates[0]) gives the low frequencies and the near one the high: "
                          "low_pass(e_far) + high_pass(e_near), not the other way round"
                          if close(eps, swapped, FLOAT32) else
                          f"eps[:, :C] = low_pass(e_far[:, :C], {case['kernel_size']}, {case['sigma']:g}) + "
                          f"high_pass(e_near[:, :C], {case['kernel_size']}, {case['sigma']:g}), with the reduction's "
                          "own kernel_size and sigma")
            if not isinstance(eps, torch.Tensor) or eps.dim() != 4 or tuple(eps.shape) != tuple(expected.shape):
                check_tensor(f"HybridReduction's result{context}", eps, expected, FLOAT32, show_values=run.public,
                             hint="return (B, C', H, W): the noise channels, then the averaged variance channels")
            check_tensor(f"the noise channels of HybridReduction's result{context}", eps[:, :c], expected[:, :c],
                         FLOAT32, show_values=run.public, hint=noise_hint)
            check_tensor(f"the variance channels of HybridReduction's result{context}", eps[:, c:], expected[:, c:],
                         FLOAT32, show_values=run.public,
                         hint="the variance channels are averaged, never filtered: (e_far[:, C:] + e_near[:, C:]) / 2")

        return each_case(run.calls[0].params["cases"], judge_case)


@register
class MatchesReference(_Hybrid):
    name = "matches_reference"
    title = "HybridReduction(kernel_size, sigma)([e_far, e_near], C) matches the reference"
    specs = [HybridSpec((2, 3, 12, 12), 801, 3, kernel_size=5, sigma=1.0),
             HybridSpec((1, 1, 9, 9), 802, 1, kernel_size=7, sigma=1.5)]


@register
class UsesItsKernelSizeAndSigma(_Hybrid):
    name = "uses_its_kernel_size_and_sigma"
    title = ("HybridReduction filters with its own kernel_size and sigma (the defaults 33 and 2 too, on an image "
             "smaller than the kernel)")
    specs = [HybridSpec((1, 3, 10, 10), 811, 3, kernel_size=3, sigma=0.5),
             HybridSpec((2, 2, 16, 16), 812, 2, kernel_size=11, sigma=3.0),
             HybridSpec((1, 3, 16, 16), 813, 3)]


@register
class AveragesTheVarianceChannels(_Hybrid):
    name = "averages_the_variance_channels"
    title = "with C' = 2 C channels, the noise channels are filtered and the variance channels averaged"
    specs = [HybridSpec((2, 6, 8, 8), 821, 3, kernel_size=5, sigma=1.0),
             HybridSpec((1, 2, 12, 12), 822, 1, kernel_size=9, sigma=2.0)]


@register
class KeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("HybridReduction returns the estimates' dtype (float32, float64) on their device and leaves them "
             "untouched")

    def call(self, reference: Reference) -> Call:
        specs = [HybridSpec((2, 6, 8, 8), 831, 3, kernel_size=5), HybridSpec((1, 3, 8, 8), 832, 3, kernel_size=5),
                 HybridSpec((1, 2, 8, 8), 833, 1, kernel_size=3)]
        call = hybrid_call(reference, specs)
        settings = ({"dtype": "float32"}, {"dtype": "float64"}, {"device": "meta"})
        cases = [dict(case, **extra) for case, extra in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
