"""TODO 3.1 IdentityView: view(x) = x and inverse_view(noise) = noise, every channel (the upright view)."""

from __future__ import annotations

from grader.checks import register
from grader.checks import _views

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
