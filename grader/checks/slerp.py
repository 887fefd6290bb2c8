"""TODO 2.8 slerp: spherical interpolation of two noise tensors, with the straight line as the fallback for
parallel (or anti-parallel) ones.

Every property check (the endpoints, the parallel fallback) also holds one ordinary case that must
match the reference: the straight line (1 - a) z1 + a z2 has the right endpoints and the right
fallback, and earns nothing for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.checks import Call, CaseTableCheck, CheckRun, register
from grader.checks import _strategies as st
from grader.checks._cases import draw, randn, seeds
from grader.checks._compare import FLOAT32, check_tensor, close
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "slerp"
KINDS = {
    "independent": "two independent Gaussian noises",
    "scaled": "two independent noises of different norms",
    "parallel": "z2 = 2 z1 (parallel)",
    "anti-parallel": "z2 = -0.5 z1 (anti-parallel)",
}


@dataclass(frozen=True)
class SlerpSpec:
    """One slerp case: z1 of `shape` from `seed`, z2 as `kind` says (KINDS), interpolated at `alpha`."""

    shape: tuple[int, ...]
    seed: int
    alpha: float
    kind: str = "independent"
    dtype: torch.dtype = torch.float32


def slerp_call(reference: Reference, specs: list[SlerpSpec]) -> Call:
    """One slerp probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        z1 = randn(spec.shape, spec.seed, spec.dtype)
        z2 = {"independent": lambda: randn(spec.shape, spec.seed + 1, spec.dtype),
              "scaled": lambda: 2.5 * randn(spec.shape, spec.seed + 1, spec.dtype),
              "parallel": lambda: 2 * z1,
              "anti-parallel": lambda: -0.5 * z1}[spec.kind]()
        inputs[f"{index}.z1"], inputs[f"{index}.z2"] = z1, z2
        cases.append({"alpha": spec.alpha, "kind": spec.kind, "shape": list(spec.shape)})
    return Call("slerp", {"cases": cases}, inputs)


def describe(case: dict) -> str:
    return f"alpha = {case['alpha']:g}, {KINDS[case['kind']]} of shape {tuple(case['shape'])}"


class _Slerp(CaseTableCheck[SlerpSpec]):
    item = ITEM
    build_call = staticmethod(slerp_call)

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        context = f" ({describe(case)})"
        z = run.case(0, index, ITEM, context).get("z")
        z1, z2 = call.inputs[f"{index}.z1"].double(), call.inputs[f"{index}.z2"].double()
        alpha = case["alpha"]
        check_tensor(f"slerp(z1, z2, alpha){context}", z, run.expected_case(0, index)["z"], FLOAT32,
                     show_values=run.public, hint=hint(case, z, z1, z2, alpha))


def hint(case: dict, z: torch.Tensor | None, z1: torch.Tensor, z2: torch.Tensor, alpha: float) -> str:
    if isinstance(z, torch.Tensor) and z.is_floating_point() and not bool(torch.isfinite(z).all()):
        return ("sin(theta) is 0 for parallel noises: fall back to (1 - alpha) z1 + alpha z2 there (and clamp the "
                "cosine into [-1, 1] before arccos)")
    if case["kind"] in ("parallel", "anti-parallel"):
        return ("sin(theta) is 0 for parallel or anti-parallel noises: fall back to the straight line "
                "(1 - alpha) z1 + alpha z2 there")
    if close(z, (1 - alpha) * z1 + alpha * z2, FLOAT32):
        return ("this is the straight line (1 - alpha) z1 + alpha z2: slerp weighs z1 by sin((1 - alpha) theta) / "
                "sin(theta) and z2 by sin(alpha theta) / sin(theta)")
    return ("theta = arccos(<z1, z2> / (|z1| |z2|)) over all elements at once (one angle for the whole tensor); "
            "z = sin((1 - alpha) theta) / sin(theta) z1 + sin(alpha theta) / sin(theta) z2")


@register
class MatchesReference(_Slerp):
    name = "matches_reference"
    title = "slerp(z1, z2, alpha) matches the reference on Gaussian noises (alpha = 0.3, 0.5, 0.8)"

    def specs(self) -> list[SlerpSpec]:
        return [SlerpSpec((1, 3, 8, 8), 501, 0.3), SlerpSpec((3, 6, 6), 502, 0.5), SlerpSpec((1, 1, 5, 5), 503, 0.8)]


@register
class ReturnsItsEndpoints(_Slerp):
    name = "returns_z1_at_0_and_z2_at_1"
    title = "slerp returns z1 at alpha = 0 and z2 at alpha = 1 (and matches the reference in between)"

    def specs(self) -> list[SlerpSpec]:
        return [SlerpSpec((1, 3, 6, 6), 511, 0.0), SlerpSpec((1, 3, 6, 6), 512, 1.0, kind="scaled"),
                SlerpSpec((2, 4, 4), 513, 0.6)]


@register
class FallsBackToTheLineForParallelNoises(_Slerp):
    name = "falls_back_to_the_line_for_parallel_noises"
    title = ("slerp of parallel or anti-parallel noises is the straight line, finite (and it matches the reference "
             "for independent noises)")

    def specs(self) -> list[SlerpSpec]:
        return [SlerpSpec((1, 3, 5, 5), 521, 0.25, kind="parallel"),
                SlerpSpec((1, 2, 4, 4), 522, 0.7, kind="anti-parallel"),
                SlerpSpec((1, 3, 5, 5), 523, 0.4)]


@register
class MatchesReferenceOnRandomInputs(_Slerp):
    name = "matches_reference_on_random_inputs"
    title = "slerp matches the reference on random shapes, norms and alphas (float32 and float64)"

    def specs(self) -> list[SlerpSpec]:
        shapes = st.lists(st.integers(2, 6), min_size=3, max_size=4).map(tuple)  # 8 or more elements
        strategy = st.tuples(shapes, seeds, st.floats(0.0, 1.0, allow_subnormal=False), st.sampled_from(
            ["independent", "scaled"]))
        specs = [SlerpSpec(shape, seed % 2**30, alpha, kind)
                 for shape, seed, alpha, kind in draw(strategy, 8, "slerp.random_inputs")]
        specs.append(SlerpSpec((1, 3, 8, 8), 531, 0.35, kind="scaled", dtype=torch.float64))
        return specs


@register
class KeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = "slerp returns z1's dtype (float32, float64) on z1's device and leaves z1 and z2 untouched"

    def call(self, reference: Reference) -> Call:
        specs = [SlerpSpec((1, 3, 4, 4), 541, 0.3), SlerpSpec((1, 3, 4, 4), 542, 0.6),
                 SlerpSpec((1, 3, 4, 4), 543, 0.5), SlerpSpec((1, 2, 4, 4), 544, 0.5, kind="parallel")]
        call = slerp_call(reference, specs)
        settings = ({"dtype": "float32"}, {"dtype": "float64"}, {"device": "meta"}, {"device": "meta"})
        cases = [dict(case, **extra) for case, extra in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
