"""TODO 3.4 classifier_free_guidance: eps_u + g (eps_c - eps_u) on the C noise channels,
eps_c's variance channels as they are."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from grader.checks import Call, Check, CheckRun, Fail, Verdict, each_case, register
from grader.checks import _strategies as st
from grader.checks._cases import draw, randn, seeds, uniform
from grader.checks._compare import FLOAT32, check_shape, check_tensor, close
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "classifier_free_guidance"
Tensor = torch.Tensor


@dataclass(frozen=True)
class GuidanceSpec:
    """One case: the two estimates eps_uncond and eps_cond of images of `shape` (B, C, H, W), with C
    variance channels in (0, 1) after the C noise channels when `variance_channels`, guided with scale g
    (`guidance_scale`); both are drawn from `seed`."""

    shape: tuple[int, int, int, int]
    variance_channels: bool
    guidance_scale: float
    seed: int


def guidance_call(specs: list[GuidanceSpec]) -> Call:
    """One classifier_free_guidance probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        shape, seed = spec.shape, spec.seed
        b, c, h, w = shape
        for k, name in enumerate(("eps_uncond", "eps_cond")):
            noise = randn(shape, seed + k)
            variance = uniform(shape, seed + 2 + k, 0.05, 1.0)
            inputs[f"{index}.{name}"] = torch.cat([noise, variance], dim=1) if spec.variance_channels else noise
        cases.append({"shape": list(shape), "image_channels": c, "variance_channels": spec.variance_channels,
                      "guidance_scale": float(spec.guidance_scale)})
    return Call("classifier_free_guidance", {"cases": cases}, inputs)


def describe(case: dict) -> str:
    b, c, h, w = case["shape"]
    channels = f"{2 * c} channels ({c} noise + {c} variance)" if case["variance_channels"] else f"{c} channels"
    return f"g = {case['guidance_scale']:g}, estimates of {channels}, image_channels = {c}"


def diagnose(got: Tensor, u: Tensor, c_: Tensor, case: dict) -> str:
    """A hint naming the usual mistakes, or ""."""
    c, g = case["image_channels"], case["guidance_scale"]
    if got.dim() != 4 or got.shape[0] != u.shape[0]:
        return ""
    if case["variance_channels"] and got.shape[1] == c:
        return ("the variance channels were dropped: return all C' channels, eps_cond's variance channels "
                "after the guided noise")
    if got.shape != u.shape:
        return ""
    if not close(got[:, :c], torch.lerp(u[:, :c], c_[:, :c], g), FLOAT32):
        if close(got[:, :c], c_[:, :c] + g * (u[:, :c] - c_[:, :c]), FLOAT32):
            return "the guidance points the wrong way (eps_c + g (eps_u - eps_c)): it must be eps_u + g (eps_c - eps_u)"
        return "the noise channels must be eps_u + g (eps_c - eps_u)"
    if case["variance_channels"]:
        v = c_[:, c:]
        if close(got[:, c:], -v, FLOAT32):
            return "the variance channels were negated: keep eps_cond[:, C:] exactly as it is"
        if close(got[:, c:], u[:, c:], FLOAT32):
            return ("the variance channels come from the unconditional estimate: keep the conditional one's, "
                    "eps_cond[:, C:]")
        if close(got[:, c:], torch.lerp(u[:, c:], v, g), FLOAT32):
            return "guidance was applied to the variance channels too: it applies to the C noise channels only"
        return "the variance channels (C:) must be eps_cond[:, C:], unchanged"
    return ""


def compare(what: str, got: Tensor | None, expected: Tensor, *, show_values: bool, hint: str) -> None:
    """check_tensor, with the hint after a wrong shape too (a dropped variance channel shows as one)."""
    if isinstance(got, Tensor) and got.shape != expected.shape:
        check_shape(what, got, tuple(expected.shape), hint)
    check_tensor(what, got, expected, FLOAT32, show_values=show_values, hint=hint)


class _GuidanceMatches(Check):
    item = ITEM

    def specs(self) -> list[GuidanceSpec]:
        raise NotImplementedError

    def plan(self, reference: Reference) -> list[Call]:
        return [guidance_call(self.specs())]

    def judge_case(self, run: CheckRun, index: int, case: dict, got: Tensor, u: Tensor, c: Tensor) -> None:
        compare(f"classifier_free_guidance(...) ({describe(case)})", got, run.expected_case(0, index)["eps"],
                show_values=run.public, hint=diagnose(got, u, c, case) if isinstance(got, Tensor) else "")

    def judge(self, run: CheckRun) -> Verdict:
        call = run.calls[0]

        def judge_case(index: int, case: dict) -> None:
            got = run.case(0, index, ITEM, f" ({describe(case)})").get("eps")
            self.judge_case(run, index, case, got, call.inputs[f"{index}.eps_uncond"], call.inputs[f"{index}.eps_cond"])

        return each_case(call.params["cases"], judge_case)


@register
class GuidanceMatchesReference(_GuidanceMatches):
    name = "matches_reference"
    title = "classifier_free_guidance matches the reference, with and without variance channels (g = 7.5, 3, 0.25)"

    def specs(self) -> list[GuidanceSpec]:
        return [
            GuidanceSpec((2, 3, 4, 4), variance_channels=True, guidance_scale=7.5, seed=401),
            GuidanceSpec((3, 1, 5, 5), variance_channels=False, guidance_scale=3.0, seed=402),
            GuidanceSpec((1, 3, 6, 4), variance_channels=True, guidance_scale=0.25, seed=403),
        ]


@register
class GuidanceKeepsConditionalVariance(_GuidanceMatches):
    name = "keeps_the_conditional_variance_channels"
    title = ("classifier_free_guidance keeps eps_cond's variance channels (C:) unchanged: not guided, negated, "
             "dropped or unconditional")

    def specs(self) -> list[GuidanceSpec]:
        return [
            GuidanceSpec((2, 3, 4, 4), variance_channels=True, guidance_scale=4.0, seed=411),
            GuidanceSpec((1, 1, 3, 5), variance_channels=True, guidance_scale=2.0, seed=412),
            GuidanceSpec((2, 3, 5, 5), variance_channels=True, guidance_scale=0.0, seed=413),
        ]

    def judge_case(self, run, index, case, got, u, c):
        ch = case["image_channels"]
        what = f"classifier_free_guidance(...) ({describe(case)})"
        hint = diagnose(got, u, c, case) if isinstance(got, Tensor) else ""
        if isinstance(got, Tensor) and got.dim() == 4 and got.shape[1] == ch:
            raise Fail(f"{what} returned {ch} channels: {hint}")
        variance = got[:, ch:] if isinstance(got, Tensor) and got.dim() == 4 else got
        check_tensor(f"the variance channels of {what}", variance, c[:, ch:], FLOAT32, show_values=False, hint=hint)
        super().judge_case(run, index, case, got, u, c)


@register
class GuidanceScaleZeroAndOne(_GuidanceMatches):
    name = "guidance_0_is_unconditional_and_1_is_conditional"
    title = ("with g = 0 the noise channels are eps_uncond's, with g = 1 the whole result is eps_cond, and any other g "
             "lies on the line through those two")
    uses_reference = False
    OTHER_G = 2.5  # the gate: a function that knows only g = 0 and g = 1 is no guidance

    def specs(self) -> list[GuidanceSpec]:
        pairs = [GuidanceSpec((2, 3, 4, 4), variance_channels=True, guidance_scale=0.0, seed=421),
                 GuidanceSpec((1, 1, 4, 4), variance_channels=False, guidance_scale=0.0, seed=423)]
        return [replace(spec, guidance_scale=g) for spec in pairs for g in (0.0, 1.0, self.OTHER_G)]

    def judge_case(self, run, index, case, got, u, c):
        ch, g = case["image_channels"], case["guidance_scale"]
        hint = diagnose(got, u, c, case) if isinstance(got, Tensor) else ""
        if g not in (0.0, 1.0):
            self.judge_other_g(run, index, case, got, hint)
            return
        expected = c.clone() if g == 1 else torch.cat([u[:, :ch], c[:, ch:]], dim=1)
        which = "eps_cond (the conditional estimate), every channel" if g == 1 else \
            "eps_uncond on the noise channels (and eps_cond's variance channels)"
        compare(f"classifier_free_guidance(...) ({describe(case)})", got, expected, show_values=False,
                hint=f"with g = {g:g} the result must be {which}" + (f"; {hint}" if hint else ""))

    def judge_other_g(self, run, index, case, got, hint) -> None:
        """Case `index` (g not 0 or 1) must be result(0) + g (result(1) - result(0)), those two being the
        student's own results for the same inputs (cases index - 2 and index - 1)."""
        cases = run.calls[0].params["cases"]
        at_0, at_1 = (run.case(0, k, ITEM, f" ({describe(cases[k])})").get("eps") for k in (index - 2, index - 1))
        g = case["guidance_scale"]
        if not (isinstance(at_0, Tensor) and isinstance(at_1, Tensor) and at_0.shape == at_1.shape):
            raise Fail(f"classifier_free_guidance(...) ({describe(case)}) cannot be compared with g = 0 and 1, "
                       "whose results are missing")
        line = at_0.to(torch.float64) + g * (at_1.to(torch.float64) - at_0.to(torch.float64))
        compare(f"classifier_free_guidance(...) ({describe(case)})", got, line, show_values=False,
                hint=f"guidance is eps_u + g (eps_c - eps_u) for every g, so the result for g = {g:g} lies on the line "
                     "through those for g = 0 and g = 1" + (f"; {hint}" if hint else ""))


@st.composite
def guidance_specs(draw_) -> GuidanceSpec:
    shape = (
        draw_(st.integers(1, 3)), draw_(st.sampled_from([1, 3])), draw_(st.integers(1, 6)), draw_(st.integers(1, 6))
    )
    g = draw_(st.one_of(st.sampled_from([7.5, 2.0, 0.0, 1.0, -1.0]), st.floats(-2.0, 20.0, allow_subnormal=False)))
    return GuidanceSpec(shape, variance_channels=draw_(st.booleans()), guidance_scale=g, seed=draw_(seeds) % 100_000)


@register
class GuidanceMatchesReferenceOnRandomInputs(_GuidanceMatches):
    name = "matches_reference_on_random_inputs"
    title = "classifier_free_guidance matches the reference on random shapes, channel counts and guidance scales"

    def specs(self) -> list[GuidanceSpec]:
        return draw(guidance_specs(), 8, "classifier_free_guidance.random_inputs")


@register
class GuidanceKeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("classifier_free_guidance returns eps_cond's dtype (float32, float64, bfloat16) on its device (the meta "
             "device too, as on a GPU) and writes into neither estimate")

    def call(self, reference: Reference) -> Call:
        call = guidance_call([
            GuidanceSpec((2, 3, 4, 4), variance_channels=True, guidance_scale=3.0, seed=431),
            GuidanceSpec((1, 1, 4, 4), variance_channels=False, guidance_scale=5.5, seed=432),
            GuidanceSpec((2, 3, 4, 4), variance_channels=True, guidance_scale=2.0, seed=433),
            GuidanceSpec((2, 3, 4, 4), variance_channels=True, guidance_scale=7.5, seed=434),
        ])
        settings = ({}, {"dtype": "float64"}, {"dtype": "bfloat16"}, {"device": "meta"})
        cases = [dict(case, **setting) for case, setting in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
