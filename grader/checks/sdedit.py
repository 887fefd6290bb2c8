"""TODO 3.6 sdedit: noise the image to the t of time_pairs[i_start] with sampler.add_noise, then run the
fused loop over time_pairs[i_start:].

The estimator, the sampler and the one-view fused step are the grader's (grader/checks/_editing.py), and
the sampler records every call: which pairs were stepped, from which x, and what was noised at which t.
"""

from __future__ import annotations

import torch

from grader.checks import Call, CaseTableCheck, CheckRun, Fail, register
from grader.checks._compare import FLOAT32, check_tensor, fmt_values
from grader.checks._contract import ContractCheck
from grader.checks._editing import EditSpec, describe, edit_inputs
from grader.grading.reference import Reference

ITEM = "sdedit"


def sdedit_call(reference: Reference, specs: list[EditSpec]) -> Call:
    """One sdedit probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        case, tensors = edit_inputs(reference, index, spec)
        case["i_start"] = spec.i_start
        cases.append(case)
        inputs.update(tensors)
    return Call("sdedit", {"cases": cases}, inputs)


def context_of(case: dict) -> str:
    return f" (i_start = {case['i_start']}, {describe(case)})"


def check_start(got: dict, expected: dict, case: dict, context: str, public: bool) -> None:
    """Fail unless the image was noised once, at the t of pair i_start, and the loop's first step is that
    pair, from that noised image."""
    pairs, i_start = case["pairs"], case["i_start"]
    t_start = pairs[i_start][0]
    noised = got["add_noise_t"].tolist()
    if noised != [t_start]:
        if not noised:
            advice = "noise the image first: x_t = sampler.add_noise(image, noise, t)"
        elif noised == [i_start] and i_start != t_start:
            advice = f"i_start is an index into time_pairs, not a timestep: t = time_pairs[i_start][0] = {t_start}"
        elif noised == [pairs[i_start][1]]:
            advice = f"t is the first entry of the pair, time_pairs[i_start][0] = {t_start}, not its t_prev"
        else:
            advice = f"call it once, with t = time_pairs[i_start][0] = {t_start}"
        seen = f"with t = {fmt_values(noised, 6)}" if public else f"{len(noised)} times"
        raise Fail(f"sdedit called sampler.add_noise {seen}: {advice}{context}")
    steps = got["step_pairs"].tolist()
    if not steps or steps[0] != i_start:
        first = "never" if not steps else f"first with time_pairs[{steps[0]}]"
        raise Fail(f"sdedit's loop stepped {first}; its first step must be time_pairs[i_start] = "
                   f"{tuple(pairs[i_start])}: loop over time_pairs[i_start:]{context}")
    check_tensor(f"the x_t of sdedit's first step{context}", got.get("step_inputs", torch.zeros(0))[0:1],
                 expected["step_inputs"][0:1], FLOAT32, show_values=public,
                 hint="start the loop from x_t = sampler.add_noise(image, noise, t), the noised image itself")


def check_pairs(got: dict, case: dict, context: str, public: bool) -> None:
    """Fail unless the loop stepped through time_pairs[i_start:], each pair once, in order."""
    want = list(range(case["i_start"], len(case["pairs"])))
    steps = got["step_pairs"].tolist()
    if steps != want:
        seen = f"the pairs {fmt_values(steps, 8)}" if public else f"{len(steps)} pairs, not time_pairs[i_start:]"
        raise Fail(f"sdedit's loop stepped through {seen}; it must step through time_pairs[i_start:] (pairs "
                   f"{fmt_values(want, 8)}), skipping the ones before i_start{context}")


class _SDEdit(CaseTableCheck[EditSpec]):
    item = ITEM
    build_call = staticmethod(sdedit_call)

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        context = context_of(case)
        got = run.case(0, index, ITEM, context)
        expected = run.expected_case(0, index)
        check_start(got, expected, case, context, run.public)
        check_pairs(got, case, context, run.public)
        check_tensor(f"sdedit's result{context}", got.get("result"), expected["result"], FLOAT32,
                     show_values=run.public, hint="return what the loop returns")


@register
class MatchesReference(_SDEdit):
    name = "matches_reference"
    title = "sdedit(estimator, sampler, image, i_start, noise=...) matches the reference (guidance 1 and 3)"

    def specs(self) -> list[EditSpec]:
        return [EditSpec(100, 10, (2, 3, 6, 6), 601, i_start=4),
                EditSpec(50, 5, (1, 1, 4, 4), 602, guidance_scale=3.0, i_start=2)]


@register
class StartsAtPairIStartFromTheNoisedImage(_SDEdit):
    name = "starts_at_time_pairs_i_start_from_the_noised_image"
    title = ("sdedit noises the image once, to t = time_pairs[i_start][0], and steps through time_pairs[i_start:] "
             "from there, skipping the pairs before")

    def specs(self) -> list[EditSpec]:
        return [EditSpec(200, 8, (2, 2, 4, 4), 611, i_start=3), EditSpec(30, 6, (1, 3, 5, 5), 612, i_start=1)]

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        context = context_of(case)
        got = run.case(0, index, ITEM, context)
        check_start(got, run.expected_case(0, index), case, context, run.public)
        check_pairs(got, case, context, run.public)


@register
class FirstAndLastIStart(_SDEdit):
    name = "i_start_0_and_the_last_index"
    title = "sdedit with i_start = 0 (from almost pure noise) and with the last index (one step) matches the reference"

    def specs(self) -> list[EditSpec]:
        return [EditSpec(100, 5, (2, 3, 4, 4), 621, i_start=0), EditSpec(100, 5, (2, 3, 4, 4), 622, i_start=4)]


@register
class DrawsItsNoiseFromTheGenerator(_SDEdit):
    name = "draws_its_noise_from_the_generator"
    title = "with noise=None, sdedit draws the noise from `generator` in the image's shape, dtype and device"

    def specs(self) -> list[EditSpec]:
        return [EditSpec(100, 10, (2, 3, 4, 4), 631, i_start=5, default_noise=True)]


@register
class KeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("sdedit returns the image's dtype (float32, float64) on its device, draws its noise there, and leaves "
             "the image and the noise untouched")

    def call(self, reference: Reference) -> Call:
        specs = [EditSpec(50, 5, (2, 3, 4, 4), 641, i_start=2), EditSpec(50, 5, (2, 3, 4, 4), 642, i_start=1),
                 EditSpec(50, 5, (2, 3, 4, 4), 643, i_start=2, default_noise=True)]
        call = sdedit_call(reference, specs)
        settings = ({"dtype": "float32"}, {"dtype": "float64"}, {"device": "meta"})
        cases = [dict(case, **extra) for case, extra in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
