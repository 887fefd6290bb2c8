"""The checks shared by the two view items (TODO 3.1 IdentityView, 3.2 Rotate180View).

A view is an orthogonal map of images, here a permutation of pixels: view(x) must equal the
reference's, inverse_view must undo it exactly, no value may change on the way (each (b, c) slice is
a permutation of itself), and the denoiser's extra variance channels (B, 2C, H, W) move with their
pixels in inverse_view, never negated or dropped.

The two properties have gates that the identity cannot pass when the view is not the identity:
inverse_view must also undo the reference's view (given as the input x_viewed; a stub that is its own
inverse undoes only itself), and a view that moves pixels must not leave x as it is.
"""

from __future__ import annotations

import torch

from grader.checks import Call, Check, CheckRun, Fail, Verdict, each_case
from grader.checks import _strategies as st
from grader.checks._cases import draw, randn, seeds, uniform
from grader.checks._compare import Tolerance, check_shape, check_tensor
from grader.checks._contract import ContractCheck
from grader.grading.reference import Reference

Tensor = torch.Tensor
EXACT = Tolerance(rtol=0.0, atol=0.0)  # a permutation of pixels moves values, it never rounds them

PUBLIC_SHAPES = [(2, 3, 4, 4), (1, 3, 5, 7), (3, 1, 6, 6)]


def view_call(reference: Reference, item: str, shapes: list[tuple[int, int, int, int]], seed: int) -> Call:
    """x (B, C, H, W) and noise (B, 2C, H, W): C noise channels, then C variance channels in (0, 1);
    x_viewed, the reference's view of x, for inverse_view to undo."""
    cases, inputs = [], {}
    for index, shape in enumerate(shapes):
        b, c, h, w = shape
        inputs[f"{index}.x"] = randn(shape, seed + 10 * index)
        noise = randn(shape, seed + 10 * index + 1)
        variance = uniform(shape, seed + 10 * index + 2, 0.05, 1.0)
        inputs[f"{index}.noise"] = torch.cat([noise, variance], dim=1)
        cases.append({"shape": list(shape)})
    params = {"view": item, "cases": cases}
    viewed = reference.run("view", inputs, params)
    for index in range(len(cases)):
        inputs[f"{index}.x_viewed"] = viewed[f"{index}.viewed"]
    return Call("view", params, inputs)


@st.composite
def view_shapes(draw_, max_side: int = 7) -> tuple[int, int, int, int]:
    """(B, C, H, W), H and W independent (views must handle non-square images)."""
    return (
        draw_(st.integers(1, 3)),
        draw_(st.sampled_from([1, 3])),
        draw_(st.integers(1, max_side)),
        draw_(st.integers(1, max_side)),
    )


def hidden_view_call(reference: Reference, item: str) -> Call:
    shapes = draw(view_shapes(), 5, f"{item}.hidden_shapes") + [(2, 3, 8, 8)]
    return view_call(reference, item, shapes, draw(seeds, 1, f"{item}.hidden_seed")[0] % 100_000)


def output(run: CheckRun, got: dict[str, Tensor], key: str, what: str) -> Tensor:
    error = got.get(f"{key}_error")
    if error is not None:
        raise Fail(f"{what} raised {run.shown_error(error)}")
    value = got.get(key)
    if value is None:
        raise Fail(f"{what} returned nothing")
    return value


def _equal(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and bool(torch.equal(a.to(torch.float64), b.to(torch.float64)))


def describe_view(x: Tensor, got: Tensor) -> str:
    """What a wrong view(x) is, when it is one of the usual mistakes; "" otherwise."""
    candidates = [
        ("x unchanged", x),
        ("x flipped left-right only (the W axis reversed)", x.flip(-1)),
        ("x flipped upside down only (the H axis reversed)", x.flip(-2)),
        ("x rotated by 90 degrees", torch.rot90(x, 1, dims=(-2, -1))),
        ("x rotated by 90 degrees", torch.rot90(x, -1, dims=(-2, -1))),
        ("x transposed (H and W swapped)", x.transpose(-2, -1)),
        ("-x", -x),
    ]
    for words, candidate in candidates:
        if _equal(got, candidate):
            return words
    return ""


def shape_text(case: dict) -> str:
    return f"x of shape {tuple(case['shape'])}"


class _ViewCheck(Check):
    """Subclasses set item, name, title, hidden (which call) and judge_case."""

    hidden: bool = False
    hint: str = ""  # what a correct implementation does, said after a failure

    def plan(self, reference: Reference) -> list[Call]:
        if self.hidden:
            return [hidden_view_call(reference, self.item)]
        return [view_call(reference, self.item, PUBLIC_SHAPES, 3100 if self.item == "IdentityView" else 3200)]

    def judge(self, run: CheckRun) -> Verdict:
        call = run.calls[0]

        def judge_case(index: int, case: dict) -> None:
            got = run.case(0, index, self.item, f" ({shape_text(case)})")
            self.judge_case(run, index, case, got, call.inputs[f"{index}.x"], call.inputs[f"{index}.noise"])

        return each_case(call.params["cases"], judge_case)

    def judge_case(self, run: CheckRun, index: int, case: dict, got: dict, x: Tensor, noise: Tensor) -> None:
        raise NotImplementedError

    @staticmethod
    def x_viewed(run: CheckRun, index: int) -> Tensor:
        """The reference's view of case `index`'s x."""
        return run.calls[0].inputs[f"{index}.x_viewed"]


class ViewMatchesReference(_ViewCheck):
    name = "view_matches_reference"

    def judge_case(self, run, index, case, got, x, noise):
        viewed = output(run, got, "viewed", f"{self.item}().view(x) ({shape_text(case)})")
        mistake = describe_view(x, viewed) if viewed.shape == x.shape else ""
        hint = f"view(x) returned {mistake}; {self.hint}" if mistake else self.hint
        expected = run.expected_case(0, index)["viewed"]
        check_tensor(f"{self.item}().view(x) ({shape_text(case)})", viewed, expected, EXACT,
                     show_values=run.public, hint=hint)


class InverseViewUndoesView(_ViewCheck):
    name = "inverse_view_undoes_view"
    uses_reference = False

    def judge_case(self, run, index, case, got, x, noise):
        output(run, got, "viewed", f"{self.item}().view(x) ({shape_text(case)})")
        round_trip = output(run, got, "round_trip", f"{self.item}().inverse_view(view(x)) ({shape_text(case)})")
        mistake = describe_view(x, round_trip) if round_trip.shape == x.shape else ""
        came_back = f"inverse_view(view(x)) came back as {mistake}, not x: " if mistake else ""
        check_tensor(f"{self.item}().inverse_view(view(x)) ({shape_text(case)})", round_trip, x, EXACT,
                     show_values=run.public,
                     hint=f"{came_back}inverse_view must undo view exactly and give x back; {self.hint}")
        # the gate: any map is undone by itself when view does nothing, so inverse_view must also undo
        # the view the homework asks for
        undone = output(run, got, "undone",
                        f"{self.item}().inverse_view on the expected view of x ({shape_text(case)})")
        check_tensor(f"{self.item}().inverse_view(A x), A x being the view the homework asks for ({shape_text(case)})",
                     undone, x, EXACT, show_values=run.public,
                     hint=f"inverse_view(view(x)) == x holds for your view, but inverse_view does not undo the "
                          f"expected view; {self.hint}")


class ViewPermutesTheEntries(_ViewCheck):
    name = "view_permutes_the_entries"
    uses_reference = False
    hidden = True

    def judge_case(self, run, index, case, got, x, noise):
        what = f"{self.item}().view(x) ({shape_text(case)})"
        viewed = output(run, got, "viewed", what)
        check_shape(what, viewed, tuple(x.shape),
                    "a view only moves pixels: it keeps the batch, channel and image sizes")
        if _equal(viewed, x) and not _equal(self.x_viewed(run, index), x):  # the gate: the identity permutes too
            raise Fail(f"{what} returned x unchanged, but this view moves pixels; {self.hint}")
        b, c = x.shape[:2]
        for i in range(b):
            for j in range(c):
                if not _equal(viewed[i, j].flatten().sort().values, x[i, j].flatten().sort().values):
                    raise Fail(f"{what}: sample {i}, channel {j} holds values that are not those of x in that "
                               "channel; a view must only move pixels within each channel (a permutation), "
                               "never change, scale, negate, interpolate or mix them")


class InverseViewKeepsVarianceChannels(_ViewCheck):
    name = "inverse_view_moves_variance_channels_with_their_pixels"
    hidden = True

    def judge_case(self, run, index, case, got, x, noise):
        c = x.shape[1]
        what = (f"{self.item}().inverse_view(noise) on a ({noise.shape[0]}, {2 * c}, H, W) estimate "
                f"with {c} noise channels")
        inverse = output(run, got, "inverse", what)
        expected = run.expected_case(0, index)["inverse"]
        if inverse.dim() == 4 and inverse.shape[1] == c and inverse.shape[0] == noise.shape[0]:
            raise Fail(f"{what} returned only {c} channels: the {c} variance channels after the noise were dropped; "
                       "inverse_view must return all C' channels, the variance ones moved like the noise")
        check_shape(what, inverse, tuple(expected.shape), "inverse_view keeps every channel and the image size")
        if _equal(inverse[:, :c], expected[:, :c]) and not _equal(inverse[:, c:], expected[:, c:]):
            if _equal(inverse[:, c:], -expected[:, c:]):
                raise Fail(f"{what} negated the variance channels: they are noise levels, not directions, so a view "
                           "moves them with their pixels and never changes their sign")
            if _equal(inverse[:, c:], noise[:, c:]):
                raise Fail(f"{what} left the variance channels where they were: they describe pixels, so they must "
                           "move with their pixels exactly like the noise channels")
        check_tensor(what, inverse, expected, EXACT, show_values=False, hint=self.hint)


class ViewContract(ContractCheck):
    """view(x) and inverse_view(noise) return their input's dtype (float32, float64, bfloat16) on its
    device, and leave it untouched; one case runs on the meta device (as on a GPU). Subclasses set
    item, name and title."""

    def call(self, reference: Reference) -> Call:
        shapes = [(2, 3, 4, 4), (1, 3, 3, 5), (2, 1, 4, 4), (2, 3, 4, 4)]
        call = view_call(reference, self.item, shapes, 3300 if self.item == "IdentityView" else 3400)
        settings = ({}, {"dtype": "float64"}, {"dtype": "bfloat16"}, {"device": "meta"})
        cases = [dict(case, view=self.item, **setting) for case, setting in zip(call.params["cases"], settings)]
        inputs = {name: value for name, value in call.inputs.items() if not name.endswith(".x_viewed")}
        return Call("contract", {"item": self.item, "cases": cases}, inputs)
