"""grader/rubric.toml is validated with one-line errors that say what to fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.checks import discover
from grader.errors import GraderError
from grader.rubric import DEFAULT_RUBRIC, load_rubric

TEXT = DEFAULT_RUBRIC.read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    return path


def test_the_shipped_rubric_totals_130_and_covers_every_check_of_its_functions():
    rubric = load_rubric()
    assert rubric.total == 130
    graded = {item.function for item in rubric.items}  # the checks of other functions belong to other profiles
    assert {c.id for c in rubric.checks()} == {cid for cid in discover() if cid.split(".", 1)[0] in graded}
    assert [item.function for item in rubric.items] == [
        "linear_beta_schedule", "cosine_beta_schedule", "sigmoid_beta_schedule", "compute_diffusion_buffers",
        "q_sample", "p_losses", "p_sample", "p_sample_loop", "denoise_backward",
        "IdentityView", "Rotate180View", "fused_noise_estimate", "classifier_free_guidance",
    ]
    assert sum(item.points for item in rubric.items if item.number.startswith("3.")) == 30
    assert all(any(c.public for c in item.checks) for item in rubric.items), "every item has a public check"
    assert all(any(not c.public for c in item.checks) for item in rubric.items), "every item has a hidden check"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("total = 130", "total = 90"), "add up to 130, but \\[rubric\\] total is 90"),
        (lambda t: t.replace('check = "matches_reference_for_any_T"', 'check = "matches_referense_for_any_T"'),
         "unknown check 'matches_referense_for_any_T'"),
        (lambda t: t.replace('visibility = "hidden"', 'visibility = "secret"', 1),
         "visibility must be 'public' or 'hidden'"),
        (lambda t: t.replace("points = 3", "points = -3", 1), "points must be a number >= 0"),
        (lambda t: t.replace("points = 3", "points = 3\n  weight = 2", 1), "unknown key\\(s\\) weight"),
        (lambda t: t.replace("[rubric]", "[rubric"), "not valid TOML"),
        (lambda t: re.sub(r'\[\[item.check\]\]\n  check = "single_step_T_1"\n  points = 1\n  visibility = "hidden"\n',
                          "", t).replace("total = 130", "total = 129"),
         "compute_diffusion_buffers.single_step_T_1 are implemented but not in the rubric"),
        (lambda t: t.replace('function = "q_sample"', 'function = "q_sampel"'),
         "no checks are implemented for function 'q_sampel'"),
    ],
)
def test_rubric_mistakes_are_reported_in_one_line(tmp_path, edit, message):
    with pytest.raises(GraderError, match=message) as caught:
        load_rubric(write(tmp_path, edit(TEXT)))
    assert "\n" not in str(caught.value) and str(caught.value).startswith(str(tmp_path))


def test_points_can_be_moved_between_checks(tmp_path):
    text = TEXT.replace("total = 130", "total = 131").replace('check = "single_step_T_1"\n  points = 1',
                                                               'check = "single_step_T_1"\n  points = 2')
    rubric = load_rubric(write(tmp_path, text))
    assert rubric.total == 131
