"""TODO 3.2 Rotate180View: view(x)[..., i, j] = x[..., H-1-i, W-1-j], its own inverse, variance moved along."""

from __future__ import annotations

from grader.checks import _views, register

ITEM = "Rotate180View"
HINT = ("a rotation by 180 degrees reverses both H and W (view(x)[..., i, j] = x[..., H-1-i, W-1-j]) and is its own "
        "inverse")


@register
class Rotate180ViewMatchesReference(_views.ViewMatchesReference):
    item = ITEM
    title = "Rotate180View().view(x) is x rotated by 180 degrees (H and W reversed), square and non-square"
    hint = HINT


@register
class Rotate180InverseUndoesView(_views.InverseViewUndoesView):
    item = ITEM
    title = "Rotate180View().inverse_view(view(x)) == x exactly"
    hint = HINT


@register
class Rotate180ViewPermutesTheEntries(_views.ViewPermutesTheEntries):
    item = ITEM
    title = "Rotate180View().view(x) only moves pixels (each channel's values are a permutation of x's)"
    hint = HINT


@register
class Rotate180InverseKeepsVarianceChannels(_views.InverseViewKeepsVarianceChannels):
    item = ITEM
    title = ("Rotate180View().inverse_view rotates the variance channels of a (B, 2C, H, W) estimate with "
             "their pixels, never negating or dropping them")
    hint = HINT


@register
class Rotate180ViewKeepsTheContract(_views.ViewContract):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("Rotate180View().view and inverse_view return their input's dtype (float32, float64, bfloat16) "
             "on its device (the meta device too, as on a GPU) and leave it untouched")
