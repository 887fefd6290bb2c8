"""TODO 4.3 drop_class_labels: label dropout for classifier-free guidance, each label replaced by the null
class (num_classes) with probability p_uncond = cond_drop_prob, independently.

The draws are random, so these checks judge properties of many draws rather than the reference's values:
every label is kept or becomes the null class, the dropped fraction is p within six standard errors, for
every class alike, independently from sample to sample (pairs of neighbours are dropped at the rate p^2),
and another torch seed drops other labels.

The contract earns its point only on code that drops labels: besides its own cases it holds one case at
p = 0.5 that must pass the property of drops_labels_to_the_null_class_with_probability_p. Keeping one
label and nulling another is not enough: a stub that returns random labels in 0 .. num_classes for
0 < p < 1 (and the labels at p = 0, the null class at p = 1) keeps the contract's promises without
computing the dropout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from grader.checks import Call, Check, CheckRun, Fail, Verdict, each_case, register
from grader.checks._cases import buffer_inputs, case_seed, generator, reference_buffers
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "drop_class_labels"
NUM_CLASSES = 10
SIGMAS = 6.0  # how many standard errors a rate may stray from p: a correct dropout almost never strays so far


@dataclass(frozen=True)
class DropSpec:
    """One case: `n` labels in 0 .. NUM_CLASSES-1 drawn from `seed`, dropped with probability `p` under two
    torch seeds derived from it."""

    p: float
    n: int
    seed: int


def drop_call(reference: Reference, specs: list[DropSpec]) -> Call:
    """One drop_class_labels probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        inputs.update(buffer_inputs(index, reference_buffers(reference, "cosine", 10)))
        inputs[f"{index}.labels"] = torch.randint(0, NUM_CLASSES, (spec.n,), generator=generator(spec.seed))
        cases.append({"p": spec.p, "num_classes": NUM_CLASSES, "n": spec.n,
                      "seeds": [case_seed(spec.seed + 1), case_seed(spec.seed + 2)]})
    return Call("drop_class_labels", {"cases": cases}, inputs)


def within(rate: float, p: float, n: int) -> bool:
    """Whether an observed rate over n Bernoulli(p) draws is p within SIGMAS standard errors."""
    return abs(rate - p) <= SIGMAS * math.sqrt(max(p * (1 - p), 1e-12) / max(n, 1)) + 1e-9


def judge_drops(got: dict, labels: torch.Tensor, case: dict, context: str, independence: bool) -> None:
    """Fail unless every run of case `case` keeps or nulls each label at the rate p (and, with `independence`,
    independently of the neighbours and of the seed)."""
    runs, p, null = got.get("dropped"), case["p"], case["num_classes"]
    if not isinstance(runs, torch.Tensor) or runs.dim() != 2 or tuple(runs.shape[1:]) != tuple(labels.shape):
        shape = tuple(runs.shape[1:]) if isinstance(runs, torch.Tensor) and runs.dim() else None
        raise Fail(f"drop_class_labels returned {shape} for ({labels.shape[0]},) labels: return one label per "
                   f"sample{context}")
    for run in runs:
        kept, dropped = run == labels, run == null
        if not bool((kept | dropped).all()):
            bad = int((~(kept | dropped)).nonzero()[0])
            raise Fail(f"drop_class_labels turned label {int(labels[bad])} into {int(run[bad])}: each label must stay "
                       f"as it is or become the null class num_classes = {null}{context}")
        rate = float((dropped & (labels != null)).double().mean())
        if not within(rate, p, labels.numel()):
            flipped = " (drop when torch.rand(B) < p, not >)" if within(rate, 1 - p, labels.numel()) else ""
            raise Fail(f"drop_class_labels dropped {rate:.2%} of the labels for p_uncond = {p:g}{flipped}: each label "
                       f"must be dropped with probability p_uncond{context}")
        for c in range(null):
            of_class = labels == c
            rate_c = float(dropped[of_class].double().mean()) if bool(of_class.any()) else p
            if not within(rate_c, p, int(of_class.sum())):
                raise Fail(f"drop_class_labels dropped {rate_c:.2%} of the labels of class {c} for p_uncond = {p:g}: "
                           f"every class is dropped at the same rate{context}")
        if independence:
            both = float((dropped[1:] & dropped[:-1]).double().mean())
            if not within(both, p * p, labels.numel() - 1):
                raise Fail(f"drop_class_labels dropped neighbouring samples together at the rate {both:.2%}, not "
                           f"p_uncond^2 = {p * p:.2%}: draw one independent uniform number per sample{context}")
    if independence and 0 < p < 1 and torch.equal(runs[0], runs[1]):
        raise Fail(f"drop_class_labels dropped the same labels under two different torch seeds: draw the dropout "
                   f"with torch.rand, not from a fixed pattern{context}")


class _Drops(Check):
    item = ITEM
    uses_reference = False
    specs: list[DropSpec] = []
    independence = False

    def plan(self, reference: Reference) -> list[Call]:
        return [drop_call(reference, self.specs)]

    def judge(self, run: CheckRun) -> Verdict:
        call = run.calls[0]

        def judge_case(index: int, case: dict) -> None:
            context = f" (p_uncond = {case['p']:g}, {case['n']} labels of {case['num_classes']} classes)"
            got = run.case(0, index, ITEM, context)
            judge_drops(got, call.inputs[f"{index}.labels"], case, context, self.independence)

        return each_case(call.params["cases"], judge_case)


@register
class DropsToTheNullClassWithProbabilityP(_Drops):
    name = "drops_labels_to_the_null_class_with_probability_p"
    title = "drop_class_labels replaces each label by the null class with probability p_uncond, for every class alike"
    specs = [DropSpec(0.3, 20000, 1001), DropSpec(0.1, 20000, 1002)]


@register
class KeepsAllAtP0AndDropsAllAtP1(_Drops):
    name = "p_0_keeps_every_label_and_p_1_drops_them_all"
    title = "p_uncond = 0 keeps every label and p_uncond = 1 drops them all (and p_uncond = 0.5 drops half)"
    specs = [DropSpec(0.0, 2000, 1011), DropSpec(1.0, 2000, 1012), DropSpec(0.5, 20000, 1013)]


@register
class DrawsIndependentlyPerSample(_Drops):
    name = "draws_independently_per_sample_and_per_seed"
    title = ("drop_class_labels drops each sample independently of its neighbours (pairs at the rate p^2), and "
             "another torch seed drops other samples")
    specs = [DropSpec(0.3, 20000, 1021)]
    independence = True


@register
class KeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("drop_class_labels returns (B,) int64 labels on their device and leaves class_labels untouched (and "
             "drops labels to the null class at the rate p_uncond = 0.5)")
    gate = DropSpec(0.5, 20000, 1033)  # the ordinary case: the labels must be dropped as the item says

    def call(self, reference: Reference) -> Call:
        call = drop_call(reference, [DropSpec(0.5, 64, 1031), DropSpec(0.5, 64, 1032)])
        settings = ({}, {"device": "meta"})
        cases = [dict(case, **extra) for case, extra in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)

    def plan(self, reference: Reference) -> list[Call]:
        return [self.call(reference), drop_call(reference, [self.gate])]

    def judge(self, run: CheckRun) -> Verdict:
        verdict = super().judge(run)
        if not verdict.passed:
            return verdict
        call = run.calls[1]
        case = call.params["cases"][0]
        context = f" (p_uncond = {case['p']:g}, {case['n']} labels of {case['num_classes']} classes)"
        try:
            judge_drops(run.case(1, 0, ITEM, context), call.inputs["0.labels"], case, context, independence=False)
        except Fail as failure:
            raise Fail(f"{failure} [its contract is only graded on code that computes the item: see its other checks "
                       "first]") from None
        return verdict
