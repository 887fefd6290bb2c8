"""TODO 4.2.1 ResnetBlock.forward: the conditioning of a residual block, a per-channel scale and shift from
the embedding applied after block1's GroupNorm, then block2, plus the residual path res_conv(x).

Both sides build the block from the same given __init__ and then load the grader's weights (every
parameter drawn from a seed, GroupNorm's affine included: grader/grading/probes.py's `_resnet_block`), so
the student's forward and the reference's compute with the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.checks import Call, CaseTableCheck, CheckRun, Fail, register
from grader.checks._cases import case_seed, randn
from grader.checks._compare import FLOAT32, check_tensor, close
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "ResnetBlock"


@dataclass(frozen=True)
class BlockSpec:
    """One case: ResnetBlock(dim, dim_out, time_emb_dim, groups) with weights from `seed`, on x of (batch, dim,
    side, side); an embedding (batch, time_emb_dim) when `with_emb` (time_emb_dim None: a block without one)."""

    dim: int
    dim_out: int
    seed: int
    time_emb_dim: int | None = 16
    groups: int = 4
    batch: int = 2
    side: int = 4
    with_emb: bool = True


def block_call(reference: Reference, specs: list[BlockSpec]) -> Call:
    """One resnet_block probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        inputs[f"{index}.x"] = randn((spec.batch, spec.dim, spec.side, spec.side), spec.seed)
        if spec.with_emb and spec.time_emb_dim is not None:
            inputs[f"{index}.emb"] = randn((spec.batch, spec.time_emb_dim), spec.seed + 1)
        cases.append({"dim": spec.dim, "dim_out": spec.dim_out, "time_emb_dim": spec.time_emb_dim,
                      "groups": spec.groups, "seed": case_seed(spec.seed + 2), "with_emb": spec.with_emb})
    return Call("resnet_block", {"cases": cases}, inputs)


def describe(case: dict) -> str:
    emb = "with an embedding" if case["with_emb"] and case["time_emb_dim"] else "without an embedding"
    built = f"time_emb_dim={case['time_emb_dim']}" if case["time_emb_dim"] else "no time_emb_dim"
    return f"ResnetBlock({case['dim']}, {case['dim_out']}, {built}), {emb}"


class _Block(CaseTableCheck[BlockSpec]):
    item = ITEM
    build_call = staticmethod(block_call)

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        context = f" ({describe(case)})"
        got = run.case(0, index, "ResnetBlock.forward", context)
        expected = run.expected_case(0, index)
        out, plain = got.get("out"), got.get("out_without_emb")
        conditioned = case["with_emb"] and case["time_emb_dim"]
        hint = ("scale, shift = self.mlp(emb)[:, :, None, None].chunk(2, dim=1); h = block2(block1(x, (scale, "
                "shift))); return h + self.res_conv(x)")
        if conditioned and close(out, plain, FLOAT32) and not close(out, expected["out"], FLOAT32):
            hint = "the output does not depend on the embedding: hand block1 the scale and shift made from emb"
        elif conditioned and close(out, expected["out_without_emb"], FLOAT32):
            hint = "the embedding was ignored: scale, shift = the two halves of self.mlp(emb), given to block1"
        check_tensor(f"ResnetBlock(x, emb){context}" if conditioned else f"ResnetBlock(x){context}", out,
                     expected["out"], FLOAT32, show_values=run.public, hint=hint)
        if conditioned and not close(plain, expected["out_without_emb"], FLOAT32):
            raise Fail(f"ResnetBlock(x, None) differs from the reference{context}: without an embedding block1 gets "
                       "no scale and shift (scale_shift=None)")


@register
class MatchesReference(_Block):
    name = "matches_reference"
    title = "ResnetBlock(x, emb) with the grader's weights matches the reference"

    def specs(self) -> list[BlockSpec]:
        return [BlockSpec(8, 8, 951), BlockSpec(4, 4, 952, time_emb_dim=8, groups=2, batch=3)]


@register
class ConditionsBlock1WithScaleAndShift(_Block):
    name = "conditions_block1_with_scale_then_shift"
    title = ("the embedding becomes a scale (first half of mlp(emb)) and a shift (second half) for block1 only; "
             "without an embedding nothing is conditioned")

    def specs(self) -> list[BlockSpec]:
        return [BlockSpec(8, 8, 961, time_emb_dim=12), BlockSpec(8, 8, 962, time_emb_dim=12, with_emb=False),
                BlockSpec(4, 4, 963, time_emb_dim=None, groups=2)]


@register
class AddsTheResidualPath(_Block):
    name = "adds_the_residual_through_res_conv"
    title = "ResnetBlock adds res_conv(x) (a 1x1 conv when dim != dim_out) to the blocks' output"

    def specs(self) -> list[BlockSpec]:
        return [BlockSpec(4, 8, 971, groups=4), BlockSpec(8, 4, 972, groups=2, side=3)]


@register
class KeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = "ResnetBlock returns x's dtype (float32, float64) on x's device and leaves x and the embedding untouched"

    def call(self, reference: Reference) -> Call:
        call = block_call(reference, [BlockSpec(8, 8, 981), BlockSpec(4, 8, 982), BlockSpec(8, 8, 983)])
        settings = ({"dtype": "float32"}, {"dtype": "float64"}, {"device": "meta"})
        cases = [dict(case, **extra) for case, extra in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
