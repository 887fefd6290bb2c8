"""TODO 4.1.1 SinusoidalPosEmb.forward: the U-Net's timestep embedding, sines then cosines of t at the
frequencies theta ** (-k / (half - 1)), k = 0 .. half-1.

The embedding has no weights: the same module built on both sides is compared value by value.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.checks import Call, CaseTableCheck, CheckRun, register
from grader.checks import _strategies as st
from grader.checks._cases import draw, generator, seeds
from grader.checks._compare import FLOAT32, check_tensor, close
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "SinusoidalPosEmb"


@dataclass(frozen=True)
class EmbeddingSpec:
    """One case: SinusoidalPosEmb(dim, theta) of `batch` timesteps drawn from `seed`: int64 in 0 .. T-1 (T =
    `T`), or, with `fraction`, float t / T in [0, 1)."""

    dim: int
    batch: int
    seed: int
    theta: float = 10000.0
    T: int = 1000
    fraction: bool = False


def embedding_call(reference: Reference, specs: list[EmbeddingSpec]) -> Call:
    """One sinusoidal_pos_emb probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        t = torch.randint(0, spec.T, (spec.batch,), generator=generator(spec.seed))
        t[0] = 0
        inputs[f"{index}.t"] = t.double().div(spec.T).float() if spec.fraction else t
        cases.append({"dim": spec.dim, "theta": spec.theta, "batch": spec.batch, "fraction": spec.fraction})
    return Call("sinusoidal_pos_emb", {"cases": cases}, inputs)


def describe(case: dict) -> str:
    t = "float t / T" if case["fraction"] else "int64 t"
    return f"dim = {case['dim']}, theta = {case['theta']:g}, {case['batch']} timesteps ({t})"


class _Embedding(CaseTableCheck[EmbeddingSpec]):
    item = ITEM
    build_call = staticmethod(embedding_call)

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        context = f" ({describe(case)})"
        emb = run.case(0, index, "SinusoidalPosEmb.forward", context).get("emb")
        expected = run.expected_case(0, index)["emb"]
        half = case["dim"] // 2
        hint = ("freq_k = exp(-k log(theta) / (half - 1)) for k = 0 .. half-1, then sin(t freq) and cos(t freq) "
                "side by side: (B, dim)")
        if isinstance(emb, torch.Tensor) and emb.shape == expected.shape:
            if close(emb[:, :half], expected[:, half:], FLOAT32) and close(emb[:, half:], expected[:, :half], FLOAT32):
                hint = "the sines come first, then the cosines: cat([sin(t freq), cos(t freq)], dim=-1)"
            elif close(emb.reshape(-1, half, 2).transpose(1, 2).reshape(emb.shape), expected, FLOAT32):
                hint = "put all the sines first and then all the cosines, not sin and cos of each frequency in turn"
        check_tensor(f"SinusoidalPosEmb(t){context}", emb, expected, FLOAT32, show_values=run.public,
                     where=lambda i: f"for timestep {i[0]}, entry {i[1]}", hint=hint)


@register
class MatchesReference(_Embedding):
    name = "matches_reference"
    title = "SinusoidalPosEmb(dim)(t) matches the reference for int64 timesteps (dim = 8 and 32)"

    def specs(self) -> list[EmbeddingSpec]:
        return [EmbeddingSpec(8, 5, 901), EmbeddingSpec(32, 4, 902)]


@register
class MatchesReferenceOnRandomInputs(_Embedding):
    name = "matches_reference_for_any_dim_theta_and_float_t"
    title = "SinusoidalPosEmb matches the reference for random even dims, thetas, and float timesteps t / T"

    def specs(self) -> list[EmbeddingSpec]:
        strategy = st.tuples(st.integers(2, 40).map(lambda h: 2 * h), st.integers(1, 6), seeds,
                             st.sampled_from([100.0, 1000.0, 10000.0]), st.booleans())
        return [EmbeddingSpec(dim, batch, seed % 2**30, theta, fraction=fraction)
                for dim, batch, seed, theta, fraction in draw(strategy, 8, "sinusoidal_pos_emb.random_inputs")]


@register
class KeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = "SinusoidalPosEmb returns float32 (B, dim) on t's device for int64 and float t, and leaves t untouched"

    def call(self, reference: Reference) -> Call:
        call = embedding_call(reference, [EmbeddingSpec(16, 4, 911), EmbeddingSpec(8, 3, 912, fraction=True),
                                          EmbeddingSpec(16, 4, 913)])
        settings = ({}, {}, {"device": "meta"})
        cases = [dict(case, **extra) for case, extra in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
