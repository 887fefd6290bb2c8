"""TODO 3.3 fused_noise_estimate: per view, the guided estimate of A_i x_t mapped back by A_i^-1, then reduced.

Only the TODO's own code is graded: the probe hands it grader-made views (fixed pixel permutations:
the identity, a rotation by 180 degrees, an upside-down flip, a seeded shuffle), an affine stand-in
estimator eps(x, t, p) = gain_p * x + offset_p, and a stand-in classifier_free_guidance, so mistakes
in TODO 3.1, 3.2 or 3.4 never cost points here. The oracle check picks gains and offsets that make
the estimator the exact denoiser of one image per prompt, whose fused estimate has a closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from grader.checks import Call, Check, CheckRun, Fail, Verdict, each_case, register
from grader.checks._cases import generator, randn, uniform
from grader.checks._compare import FLOAT32, PROPERTY, check_shape, check_tensor, close
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

ITEM = "fused_noise_estimate"
Tensor = torch.Tensor

VIEW_WORDS = {
    "identity": "the identity",
    "rotate_180": "a rotation by 180 degrees",
    "vertical_flip": "an upside-down flip",
    "shuffle": "a pixel shuffle",
}


def permutation(kind: str, h: int, w: int, seed: int) -> Tensor:
    """The grader view `kind` as a permutation of the H * W pixel positions: view(x) = x.flatten(-2)[..., perm]."""
    grid = torch.arange(h * w).reshape(h, w)
    if kind == "identity":
        return grid.flatten()
    if kind == "rotate_180":
        return grid.flip(0, 1).flatten()
    if kind == "vertical_flip":
        return grid.flip(0).flatten()
    return torch.randperm(h * w, generator=generator(seed))


def inverse_view(perm: Tensor, e: Tensor) -> Tensor:
    """The grader view's inverse, applied here to compute closed forms."""
    return e.flatten(-2)[..., torch.argsort(perm)].reshape(e.shape)


def prompt_keys(prompts: list[int]) -> list[str]:
    return ["null"] + [f"p{p}" for p in dict.fromkeys(prompts)]


@dataclass(frozen=True)
class FusedSpec:
    """One fused_noise_estimate case: x_t of `shape` (B, C, H, W) at timestep t, seen through the grader
    views `views` (names of VIEW_WORDS), view i with prompt `prompts[i]`, guided with scale g
    (`guidance_scale`).

    The estimates have C variance channels after the C noise ones when `variance_channels`; `weights`
    replaces the mean over views by that weighted sum (the reduce argument); with `oracle_alpha_bar` the
    stand-in estimator is the exact denoiser, at that alpha_bar_t, of one image x0_p per prompt. Every
    tensor is drawn from `seed`."""

    views: list[str]
    prompts: list[int]
    shape: tuple[int, int, int, int]
    guidance_scale: float
    t: int
    seed: int
    variance_channels: bool = False
    weights: list[float] | None = None
    oracle_alpha_bar: float | None = None


def fused_call(specs: list[FusedSpec]) -> Call:
    """One fused_noise_estimate probe call with a case per spec."""
    cases, inputs = [], {}
    for index, spec in enumerate(specs):
        b, c, h, w = shape = tuple(spec.shape)
        seed = spec.seed
        channels = 2 * c if spec.variance_channels else c
        inputs[f"{index}.x_t"] = randn(shape, seed)
        for i, kind in enumerate(spec.views):
            inputs[f"{index}.perm.{i}"] = permutation(kind, h, w, seed + 100)  # one shuffle per seed, wherever it is
        for key in prompt_keys(spec.prompts):
            k = 0 if key == "null" else int(key[1:]) + 1  # a prompt's estimator does not depend on its position
            if spec.oracle_alpha_bar is not None:
                ab = spec.oracle_alpha_bar
                s, r = math.sqrt(ab), math.sqrt(1 - ab)
                x0 = uniform((1, c, h, w), seed + 200 + k, -0.4, 0.4)
                gain = torch.cat([torch.full((1, c, 1, 1), 1 / r), torch.zeros(1, channels - c, 1, 1)], dim=1)
                offset = torch.cat([-s / r * x0, x0][: channels // c], dim=1)
            else:
                gain = uniform((1, channels, 1, 1), seed + 300 + k, 0.5, 1.5)
                noise = randn((1, c, h, w), seed + 400 + k)
                offset = torch.cat([noise, uniform((1, c, h, w), seed + 500 + k, 0.05, 1.0)][: channels // c], dim=1)
            inputs[f"{index}.gain.{key}"] = gain
            inputs[f"{index}.offset.{key}"] = offset
        case = {"views": list(spec.views), "prompts": list(spec.prompts), "shape": list(shape),
                "extra": bool(spec.variance_channels), "guidance_scale": float(spec.guidance_scale), "t": int(spec.t)}
        if spec.weights is not None:
            case["weights"] = list(spec.weights)
        if spec.oracle_alpha_bar is not None:
            case["oracle"] = {"alpha_bar": spec.oracle_alpha_bar}
        cases.append(case)
    return Call("fused_noise_estimate", {"cases": cases}, inputs)


def describe(case: dict) -> str:
    views = ", ".join(f"{VIEW_WORDS[v]} with prompt {p}" for v, p in zip(case["views"], case["prompts"]))
    b, c, h, w = case["shape"]
    channels = f"{2 * c} channels ({c} noise + {c} variance)" if case["extra"] else f"{c} channels"
    reduce = f", reduce = a weighted sum {case['weights']}" if "weights" in case else ""
    return (f"{len(case['views'])} views ({views}), g = {case['guidance_scale']:g}, t = {case['t']}, "
            f"estimates of {channels}{reduce}")


def diagnose(got: dict[str, Tensor], case: dict) -> str:
    """What the recorded calls say went wrong, or ""."""
    k, c, g = len(case["views"]), case["shape"][1], case["guidance_scale"]
    view_calls, inverse_calls = got.get("view_calls"), got.get("inverse_calls")
    if view_calls is not None and inverse_calls is not None:
        unmapped = [i for i in range(k) if int(inverse_calls[i]) == 0 or int(inverse_calls[i]) < int(view_calls[i])]
        if unmapped:  # name a view for which it matters (the identity's estimate needs no mapping back)
            i = next((i for i in unmapped if case["views"][i] != "identity"), unmapped[0])
            return (f"the estimate of view {i + 1} ({VIEW_WORDS[case['views'][i]]}) was not mapped back with "
                    f"views[{i}].inverse_view: each view's guided estimate must go back to x_t's frame before the "
                    "views are combined")
        unseen = [i for i in range(k) if int(view_calls[i]) == 0]
        if unseen:
            return (f"views[{unseen[0]}].view was never called: the estimator must see each view of x_t, "
                    "views[i].view(x_t)")
    if int(got.get("estimator_inputs_not_a_view", 0)) > 0:
        return "the estimator must be asked about each view of x_t, views[i].view(x_t), not x_t itself or anything else"
    if int(got.get("swapped_guidance_calls", 0)) > 0:
        return ("classifier_free_guidance got the conditional estimate as eps_uncond and the unconditional one as "
                "eps_cond: its arguments are (eps_uncond, eps_cond, guidance_scale, C)")
    seen_t = got.get("estimator_t")
    if seen_t is not None and seen_t.numel() and bool((seen_t != case["t"]).any()):
        return f"the estimator was called with another t than the t = {case['t']} given: pass t on unchanged"
    if g != 1 and int(got.get("estimator_null_calls", k)) < k:
        return (f"with g = {g:g} every view needs the unconditional estimate as well as the conditional one: "
                "estimator(x_i, t, None) and estimator(x_i, t, prompts[i])")
    if int(got.get("estimator_prompt_calls", k)) < k and g != 0:
        return "every view needs the conditional estimate with its own prompt: estimator(x_i, t, prompts[i])"
    if "weights" in case:
        if int(got.get("reduce_calls", 1)) == 0:
            return ("the reduce argument was ignored: combine the k estimates with reduce(estimates, C) "
                    "(mean_over_views when None)")
        if int(got.get("reduce_channels", c)) != c:
            return f"reduce was given another C than the image's channel count x_t.shape[1] = {c}, which it needs"
    eps = got.get("eps")
    if case["extra"] and isinstance(eps, Tensor) and eps.dim() == 4 and eps.shape[1] == c:
        return "the variance channels were dropped: return every channel of the reduced estimate (B, C', H, W)"
    return ""


def compare(what: str, got: Tensor | None, expected: Tensor, tol, *, show_values: bool, hint: str) -> None:
    """check_tensor, with the hint after a wrong shape too (dropped variance channels show as one)."""
    if isinstance(got, Tensor) and got.shape != expected.shape:
        check_shape(what, got, tuple(expected.shape), hint)
    check_tensor(what, got, expected, tol, show_values=show_values, hint=hint)


def _judge_cases(run: CheckRun, judge_case) -> Verdict:
    call = run.calls[0]

    def one(index: int, case: dict) -> None:
        got = run.case(0, index, ITEM, f" ({describe(case)})")
        judge_case(index, case, got, call)

    return each_case(call.params["cases"], one)


class _FusedMatches(Check):
    """Compare eps with the reference's for the same grader views, estimator and guidance stand-in."""

    item = ITEM

    def specs(self) -> list[FusedSpec]:
        raise NotImplementedError

    def plan(self, reference: Reference) -> list[Call]:
        return [fused_call(self.specs())]

    def judge(self, run: CheckRun) -> Verdict:
        def judge_case(index: int, case: dict, got: dict, call: Call) -> None:
            self.compare(run, index, case, got)

        return _judge_cases(run, judge_case)

    def compare(self, run: CheckRun, index: int, case: dict, got: dict) -> None:
        compare(f"fused_noise_estimate(...) ({describe(case)})", got.get("eps"), run.expected_case(0, index)["eps"],
                FLOAT32, show_values=run.public, hint=diagnose(got, case))


@register
class FusedMatchesReference(_FusedMatches):
    name = "matches_reference"
    title = ("fused_noise_estimate matches the reference for 2 and 3 views, with and without variance channels "
             "and a given reduce")

    def specs(self) -> list[FusedSpec]:
        return [
            FusedSpec(["identity", "rotate_180"], [0, 1], (2, 3, 4, 4), guidance_scale=7.5, t=500, seed=301,
                      variance_channels=True),
            FusedSpec(["identity", "shuffle", "vertical_flip"], [0, 1, 2], (1, 1, 5, 5), guidance_scale=2.0, t=10,
                      seed=302),
            FusedSpec(["identity", "rotate_180"], [3, 1], (2, 3, 4, 6), guidance_scale=3.0, t=999, seed=303,
                      variance_channels=True, weights=[0.7, 0.3]),
        ]


@register
class FusedMapsEachEstimateBack(_FusedMatches):
    name = "maps_each_estimate_back_with_inverse_view"
    title = ("fused_noise_estimate asks the estimator about views[i].view(x_t) and maps each guided estimate back "
             "with inverse_view")

    def specs(self) -> list[FusedSpec]:
        return [
            FusedSpec(["shuffle", "rotate_180"], [1, 0], (2, 3, 4, 4), guidance_scale=5.0, t=42, seed=311,
                      variance_channels=True),
            FusedSpec(["identity", "shuffle"], [0, 1], (1, 3, 3, 5), guidance_scale=1.0, t=7, seed=312),
        ]


@register
class FusedGuidanceZeroAndOne(_FusedMatches):
    name = "guidance_0_and_1_give_unconditional_and_conditional_estimates"
    title = ("with g = 0 fused_noise_estimate fuses the unconditional estimates, with g = 1 the conditional ones, and "
             "any other g lies on the line through those two")
    OTHER_G = 2.5  # the gate: a function that knows only g = 0 and g = 1 does not guide

    def specs(self) -> list[FusedSpec]:
        pair = FusedSpec(["identity", "rotate_180"], [0, 1], (2, 3, 4, 4), guidance_scale=0.0, t=300, seed=321,
                         variance_channels=True)
        return [
            pair, replace(pair, guidance_scale=1.0), replace(pair, guidance_scale=self.OTHER_G),
            FusedSpec(["vertical_flip"], [2], (1, 1, 4, 4), guidance_scale=0.0, t=3, seed=322),
        ]

    def compare(self, run, index, case, got):
        if case["guidance_scale"] in (0.0, 1.0):
            super().compare(run, index, case, got)
            return
        cases = run.calls[0].params["cases"]
        at_0, at_1 = (run.case(0, k, ITEM, f" ({describe(cases[k])})").get("eps") for k in (index - 2, index - 1))
        if not (isinstance(at_0, Tensor) and isinstance(at_1, Tensor) and at_0.shape == at_1.shape):
            raise Fail(f"fused_noise_estimate(...) ({describe(case)}) cannot be compared with g = 0 and 1, "
                       "whose results are missing")
        g = case["guidance_scale"]
        line = at_0.to(torch.float64) + g * (at_1.to(torch.float64) - at_0.to(torch.float64))
        compare(f"fused_noise_estimate(...) ({describe(case)})", got.get("eps"), line, FLOAT32, show_values=False,
                hint=diagnose(got, case) or f"the guided estimate is linear in g, so the fused one for g = {g:g} "
                                            "lies on the line through those for g = 0 and g = 1")


@register
class FusedAveragesVarianceChannels(_FusedMatches):
    name = "variance_channels_are_averaged_over_views"
    title = ("fused_noise_estimate keeps the variance channels, each moved back with its view and averaged, "
             "never negated or dropped")

    def specs(self) -> list[FusedSpec]:
        return [
            FusedSpec(["identity", "rotate_180"], [0, 1], (2, 3, 4, 4), guidance_scale=7.0, t=200, seed=331,
                      variance_channels=True),
            FusedSpec(["rotate_180", "shuffle", "identity"], [2, 0, 1], (1, 1, 5, 3), guidance_scale=1.0, t=9, seed=332,
                      variance_channels=True),
        ]

    def compare(self, run, index, case, got):
        c = case["shape"][1]
        what = f"the variance channels (C:) of fused_noise_estimate(...) ({describe(case)})"
        eps, expected = got.get("eps"), run.expected_case(0, index)["eps"]
        if isinstance(eps, Tensor) and eps.dim() == 4 and eps.shape[1] == c:
            raise Fail(f"{what} are missing: the result has {c} channels, not {2 * c}; return every channel of the "
                       "reduced estimate (the variance channels are averaged over the views like the noise)")
        if isinstance(eps, Tensor) and eps.shape == expected.shape and close(eps[:, c:], -expected[:, c:], FLOAT32):
            raise Fail(f"{what} are negated: variance channels are noise levels, so no step may change their sign")
        check_tensor(what, eps[:, c:] if isinstance(eps, Tensor) and eps.dim() == 4 else eps, expected[:, c:], FLOAT32,
                     show_values=False, hint=diagnose(got, case) or
                     "each view's variance channels must be moved back with inverse_view and averaged over the views")
        super().compare(run, index, case, got)


@register
class FusedOracleClosedForm(Check):
    item = ITEM
    name = "oracle_estimator_gives_the_closed_form"
    title = ("with an exact denoiser of one image x0_p per prompt, fused_noise_estimate is the exact denoiser of "
             "m = mean_i A_i^-1 (x0_null + g (x0_{p_i} - x0_null))")
    uses_reference = False

    def plan(self, reference: Reference) -> list[Call]:
        return [fused_call([
            FusedSpec(["identity", "rotate_180"], [0, 1], (2, 3, 4, 4), guidance_scale=1.0, t=600, seed=341,
                      variance_channels=True, oracle_alpha_bar=0.3),
            FusedSpec(["identity", "shuffle", "vertical_flip"], [0, 1, 2], (1, 1, 6, 6), guidance_scale=7.0, t=50,
                      seed=342, oracle_alpha_bar=0.9),
        ])]

    def judge(self, run: CheckRun) -> Verdict:
        def judge_case(index: int, case: dict, got: dict, call: Call) -> None:
            tensors = {name[len(f"{index}."):]: v for name, v in call.inputs.items() if name.startswith(f"{index}.")}
            c, g, ab = case["shape"][1], case["guidance_scale"], case["oracle"]["alpha_bar"]
            s, r = math.sqrt(ab), math.sqrt(1 - ab)
            x0 = {key: -r / s * tensors[f"offset.{key}"][:, :c] for key in prompt_keys(case["prompts"])}
            mapped = [inverse_view(tensors[f"perm.{i}"], x0["null"] + g * (x0[f"p{p}"] - x0["null"]))
                      for i, p in enumerate(case["prompts"])]
            m = torch.stack(mapped).mean(dim=0)
            expected = (tensors["x_t"] - s * m) / r
            if case["extra"]:
                variance = torch.stack([inverse_view(tensors[f"perm.{i}"], tensors[f"offset.p{p}"][:, c:])
                                        for i, p in enumerate(case["prompts"])]).mean(dim=0)
                expected = torch.cat([expected, variance.expand_as(expected)], dim=1)
            compare(f"fused_noise_estimate(...) with an exact denoiser ({describe(case)}, alpha_bar_t = {ab:g})",
                    got.get("eps"), expected, PROPERTY, show_values=False,
                    hint=diagnose(got, case) or "the result must be (x_t - sqrt(ab_t) m) / sqrt(1 - ab_t), "
                    "m = mean_i A_i^-1 (x0_null + g (x0_{p_i} - x0_null))")

        return _judge_cases(run, judge_case)


@register
class FusedIdenticalViewsAndViewOrder(Check):
    item = ITEM
    name = "identical_views_reduce_to_one_and_view_order_does_not_matter"
    title = ("fused_noise_estimate with the same view and prompt twice equals the (right) single-view estimate, and "
             "swapping the (view, prompt) pairs leaves the (right) mean unchanged")

    PAIRS = [  # (first, second, what the two must share); first and second give a FusedSpec's views and prompts
        ({"views": ["rotate_180"], "prompts": [1]}, {"views": ["rotate_180", "rotate_180"], "prompts": [1, 1]},
         "the same view and prompt twice must give the single-view estimate"),
        ({"views": ["identity", "shuffle"], "prompts": [0, 1]}, {"views": ["shuffle", "identity"], "prompts": [1, 0]},
         "the mean over views must not depend on the order of the (view, prompt) pairs"),
    ]

    def plan(self, reference: Reference) -> list[Call]:
        specs = [
            FusedSpec(**views_and_prompts, shape=(2, 3, 4, 4), guidance_scale=4.0, t=77, seed=351,
                      variance_channels=True)
            for first, second, _ in self.PAIRS for views_and_prompts in (first, second)
        ]
        return [fused_call(specs)]

    def judge(self, run: CheckRun) -> Verdict:
        call = run.calls[0]
        cases = call.params["cases"]
        def judge_pair(pair: int, _: tuple) -> None:
            a, b = 2 * pair, 2 * pair + 1
            got_a = run.case(0, a, ITEM, f" ({describe(cases[a])})")
            got_b = run.case(0, b, ITEM, f" ({describe(cases[b])})")
            words = self.PAIRS[pair][2]
            # the gate: a constant, or anything that ignores the views, has both properties
            compare(f"fused_noise_estimate(...) ({describe(cases[a])})", got_a.get("eps"),
                    run.expected_case(0, a)["eps"], FLOAT32, show_values=False, hint=diagnose(got_a, cases[a]))
            check_tensor(f"fused_noise_estimate(...) ({describe(cases[b])}) against ({describe(cases[a])})",
                         got_b.get("eps"), got_a.get("eps"), PROPERTY, show_values=False,
                         hint=diagnose(got_b, cases[b]) or diagnose(got_a, cases[a]) or words)

        return each_case(list(self.PAIRS), judge_pair)


@register
class FusedKeepsTheContract(ContractCheck):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("fused_noise_estimate hands the estimator views of x_t in x_t's shape, dtype and device, leaves x_t "
             "untouched, and returns x_t's dtype (float32, float64, bfloat16) on its device (the meta device too, "
             "as on a GPU)")

    def call(self, reference: Reference) -> Call:
        common = FusedSpec(["identity", "rotate_180"], [0, 1], (2, 3, 4, 4), guidance_scale=3.0, t=250, seed=361,
                           variance_channels=True)
        call = fused_call([
            common,
            replace(common, views=["shuffle", "identity"], guidance_scale=5.0, seed=362),
            replace(common, guidance_scale=2.0, seed=363),
            replace(common, guidance_scale=7.5, seed=364),
        ])
        settings = ({}, {"dtype": "float64"}, {"dtype": "bfloat16"}, {"device": "meta"})
        cases = [dict(case, **setting) for case, setting in zip(call.params["cases"], settings)]
        return Call("contract", {"item": ITEM, "cases": cases}, call.inputs)
