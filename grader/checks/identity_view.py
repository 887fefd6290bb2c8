"""TODO 3.1 IdentityView: view(x) = x and inverse_view(noise) = noise, every channel (the upright view)."""

from __future__ import annotations

from grader.checks import _views, register

ITEM = "IdentityView"
HINT = "the identity view returns its input unchanged, all channels"


@register
class IdentityViewMatchesReference(_views.ViewMatchesReference):
    item = ITEM
    title = "IdentityView().view(x) returns x unchanged"
    hint = HINT


@register
class IdentityInverseUndoesView(_views.InverseViewUndoesView):
    item = ITEM
    title = "IdentityView().inverse_view(view(x)) == x exactly"
    hint = HINT


@register
class IdentityViewPermutesTheEntries(_views.ViewPermutesTheEntries):
    item = ITEM
    title = "IdentityView().view(x) keeps every value of x (a permutation of each channel)"
    hint = HINT


@register
class IdentityInverseKeepsVarianceChannels(_views.InverseViewKeepsVarianceChannels):
    item = ITEM
    title = "IdentityView().inverse_view keeps the variance channels of a (B, 2C, H, W) estimate, unchanged"
    hint = HINT


@register
class IdentityViewKeepsTheContract(_views.ViewContract):
    item = ITEM
    name = "keeps_the_docstring_contract"
    title = ("IdentityView().view and inverse_view return their input's dtype (float32, float64, bfloat16) "
             "on its device (the meta device too, as on a GPU) and leave it untouched")
