"""Drawn inputs are a function of (label, salt) alone: the same cases on every run, in every process,
whatever else is imported, so a regrade under the same salt reproduces a score."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.api import prepare_plans
from grader.checks import _strategies as st
from grader.checks._cases import draw, salted, schedule_and_T

REPO = Path(__file__).resolve().parents[2]
PINNED_STRATEGY = st.tuples(st.integers(0, 1000), st.floats(0.0, 1.0), st.sampled_from(["a", "b", "c"]))


def test_draw_gives_the_same_examples_every_time_and_different_ones_per_label():
    strategy = st.tuples(schedule_and_T(), st.integers(0, 10**9), st.floats(0, 1))
    first, again = draw(strategy, 12, "label-a"), draw(strategy, 12, "label-a")
    assert first == again and len(first) == 12
    assert draw(strategy, 12, "label-b") != first
    assert all(T >= 50 for (schedule, T), _, _ in first if schedule == "linear"), "linear schedules need T >= 50"


def test_a_salt_draws_other_cases_than_the_handout_and_other_salts():
    unsalted = draw(PINNED_STRATEGY, 6, "pinned")
    with salted("salt-one"):
        one = draw(PINNED_STRATEGY, 6, "pinned")
    with salted("salt-two"):
        two = draw(PINNED_STRATEGY, 6, "pinned")
    assert len({json.dumps(unsalted), json.dumps(one), json.dumps(two)}) == 3


def test_drawn_values_are_pinned():
    """The exact values, written down: they change only if the drawing code itself changes (never with
    another Python, torch or hypothesis version, or with what else is imported)."""
    assert draw(PINNED_STRATEGY, 3, "pinned") == PINNED_UNSALTED
    with salted("pinned-salt"):
        assert draw(PINNED_STRATEGY, 3, "pinned") == PINNED_SALTED


PINNED_UNSALTED = [(479, 0.9112544581759803, "b"), (64, 0.5346687746591403, "b"), (959, 0.8874871889202713, "c")]
PINNED_SALTED = [(829, 0.28655819917936887, "c"), (345, 0.937983681014334, "b"), (1000, 0.0, "b")]


@pytest.mark.parametrize("low, high", [(0, 0), (-3, 3), (1, 2**40)])
def test_integers_stay_in_range_and_reach_both_ends(low, high):
    values = draw(st.integers(low, high), 400, f"range-{low}-{high}")
    assert all(low <= v <= high for v in values)
    assert low in values and high in values


def test_floats_stay_in_range_and_reach_both_ends():
    values = draw(st.floats(-2.0, 20.0), 400, "float-range")
    assert all(-2.0 <= v <= 20.0 for v in values)
    assert -2.0 in values and 20.0 in values
    assert len(set(values)) > 300, "the interior is drawn, not only the endpoints"


def test_lists_respect_their_sizes_and_composites_compose():
    sizes = {len(v) for v in draw(st.lists(st.integers(2, 6), min_size=3, max_size=4), 100, "lists")}
    assert sizes == {3, 4}

    @st.composite
    def pair(draw_, offset):
        first = draw_(st.integers(0, 5))
        return first, first + offset

    assert all(b == a + 10 for a, b in draw(pair(10), 50, "pairs"))
    assert draw(st.one_of(st.none(), st.sampled_from([1.0])), 50, "one_of").count(None) not in (0, 50)


def test_plans_are_identical_when_built_twice(rubric):
    first, second = prepare_plans(rubric), prepare_plans(rubric)
    assert first.keys() == second.keys()
    for check_id in first:
        assert [c.digest() for c in first[check_id].calls] == [c.digest() for c in second[check_id].calls], check_id


PLAN_DIGESTS = textwrap.dedent("""
    import json, sys
    from grader.api import prepare_plans
    from grader.rubric import load_rubric
    plans = prepare_plans(load_rubric(), salt=sys.argv[1])
    print(json.dumps({check_id: [c.digest() for c in plan.calls] for check_id, plan in plans.items()}))
""")


def _plan_digests(salt: str, preamble: str, tmp_path: Path) -> dict:
    script = tmp_path / "plan_digests.py"
    script.write_text(preamble + PLAN_DIGESTS)
    result = subprocess.run([sys.executable, str(script), salt], cwd=REPO, capture_output=True, text=True,
                            env={"PYTHONPATH": f"{REPO}:{tmp_path}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.slow
def test_a_salts_cases_do_not_depend_on_what_else_is_loaded(tmp_path):
    """A grader module full of number literals (as any edit to the grader adds) changes nothing: the
    salted plan of every check is the same with it loaded as without it."""
    (tmp_path / "many_literals.py").write_text(
        "NUMBERS = [" + ", ".join(str(n) for n in [3, 7, 17, 49, 51, 63, 257, 999, 1001, 1999]) + "]\n"
        "FLOATS = [" + ", ".join(f"{x}" for x in [0.125, 0.3333, 0.999, 7.25, 12.5, -1.75]) + "]\n"
        "WORDS = ['cosine', 'linear', 'pred_v', 'scaled']\n"
    )
    plain = _plan_digests("pinned-salt", "", tmp_path)
    with_literals = _plan_digests("pinned-salt", "import many_literals\n", tmp_path)
    assert plain.keys() == with_literals.keys()
    changed = [check_id for check_id in plain if plain[check_id] != with_literals[check_id]]
    assert not changed, f"these checks draw other cases when an unrelated module is loaded: {changed}"
