"""A property earns points only with a gate a degenerate function cannot pass: each stub of the corpus
(an identity that is its own inverse, a loop that never loops, guidance for g = 0 and 1 only, a loss
that is always 0, a constant estimate) scores 0 on its item, and nothing else changes."""

from __future__ import annotations

import pytest

from tests.support.corpus import DEGENERATE_STUBS, stub_outcome

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("stub", DEGENERATE_STUBS, ids=lambda m: m.name)
def test_a_degenerate_stub_scores_0_on_its_item_and_costs_nothing_else(corpus_reports, stub):
    report = corpus_reports[stub.name]
    earned, lost = stub_outcome(report, stub)
    assert not earned, f"{stub.name} earned points with no implementation: {sorted(earned)}"
    assert not lost, lost
