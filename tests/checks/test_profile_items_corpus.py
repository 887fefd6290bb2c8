"""The items only some profiles ask for (model_predictions, interpolate, slerp, drop_class_labels, inpaint,
sdedit, make_hybrid, SinusoidalPosEmb, ResnetBlock): each known mistake loses points on its own item only,
under the profile that lists the item, each degenerate stub scores 0 on its item and costs nothing else there,
and every correct variant gets full marks there. The default homework, which lists none of them, loses nothing
to them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.api import grade_submission, prepare_plans
from grader.grading.plans import save_plans
from grader.rubric import DEFAULT_RUBRIC, load_rubric, profile_path
from tests.support.corpus import (
    NEW_ITEMS_BROKEN,
    PROFILE_DEGENERATE_STUBS,
    PROFILE_MISTAKES,
    PROFILE_OF_ITEM,
    PROFILE_VARIANTS,
    Mutation,
    profile_corpus,
    stub_outcome,
)

pytestmark = pytest.mark.slow

WORKERS = 2
CORPUS = profile_corpus()
GRADED = [(profile, mutation) for profile, mutations in CORPUS.items() for mutation in mutations]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Every submission of the profiles' corpus graded with its profile (plans built once per profile), and
    NEW_ITEMS_BROKEN with the default rubric (as '<default>')."""
    base = tmp_path_factory.mktemp("profile-corpus")
    plans = {}
    for profile in [*CORPUS, None]:
        rubric_path = profile_path(profile) if profile else DEFAULT_RUBRIC
        plans[profile] = base / f"plans-{profile or 'default'}.safetensors"
        save_plans(prepare_plans(load_rubric(rubric_path)), plans[profile])

    def grade(job: tuple[str | None, Mutation]):
        profile, mutation = job
        root = mutation.build(base / f"{profile or 'default'}-{mutation.name}")
        rubric_path = profile_path(profile) if profile else DEFAULT_RUBRIC
        return (profile or "<default>", mutation.name), grade_submission(root, rubric_path=rubric_path,
                                                                          plans=plans[profile])

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(grade, [*GRADED, (None, NEW_ITEMS_BROKEN)]))


def test_every_new_item_is_listed_by_the_profile_its_mistakes_are_graded_with():
    for item, profile in PROFILE_OF_ITEM.items():
        assert item in {i.function for i in load_rubric(profile_path(profile)).items}, (item, profile)
    assert not {i.function for i in load_rubric(DEFAULT_RUBRIC).items} & set(PROFILE_OF_ITEM)
    assert {next(iter(m.loses)) for m in PROFILE_MISTAKES} == set(PROFILE_OF_ITEM), "every new item has mistakes"


def test_every_new_item_has_degenerate_stubs_graded_with_its_profile():
    assert {next(iter(m.loses)) for m in PROFILE_DEGENERATE_STUBS} == set(PROFILE_OF_ITEM)
    assert all(len(m.loses) == 1 and not m.fails for m in PROFILE_DEGENERATE_STUBS)
    for stub in PROFILE_DEGENERATE_STUBS:
        assert stub in CORPUS[PROFILE_OF_ITEM[next(iter(stub.loses))]], stub.name
    names = [(profile, mutation.name) for profile, mutation in GRADED]
    assert len(names) == len(set(names)), "each submission of a profile has a name of its own"


@pytest.mark.parametrize("profile, mutation", [(p, m) for p, m in GRADED if m.loses],
                         ids=lambda value: value if isinstance(value, str) else value.name)
def test_each_known_mistake_loses_points_on_its_own_item_only(reports, profile, mutation):
    report = reports[profile, mutation.name]
    assert report.max_score == load_rubric(profile_path(profile)).total
    failed = {c.check_id: c.message for c in report.checks if not c.passed}
    assert {c.function for c in report.checks if not c.passed} == set(mutation.loses), failed


@pytest.mark.parametrize("profile, mutation", [(p, m) for p, m in GRADED if m.fails],
                         ids=lambda value: value if isinstance(value, str) else value.name)
def test_each_contract_mistake_fails_only_its_items_contract_check(reports, profile, mutation):
    report = reports[profile, mutation.name]
    failed = {c.check_id: c.message for c in report.checks if not c.passed}
    assert set(failed) == set(mutation.fails), failed
    assert report.max_score - report.score == 1, failed


@pytest.mark.parametrize("profile, mutation", [(p, m) for p, m in GRADED if not m.loses],
                         ids=lambda value: value if isinstance(value, str) else value.name)
def test_every_correct_variant_gets_full_marks(reports, profile, mutation):
    report = reports[profile, mutation.name]
    failed = {c.check_id: c.message for c in report.checks if not c.passed}
    assert report.score == report.max_score == load_rubric(profile_path(profile)).total, failed


@pytest.mark.parametrize("stub", PROFILE_DEGENERATE_STUBS, ids=lambda m: m.name)
def test_a_degenerate_stub_scores_0_on_its_item_and_costs_nothing_else(reports, stub):
    report = reports[PROFILE_OF_ITEM[next(iter(stub.loses))], stub.name]
    earned, lost = stub_outcome(report, stub)
    assert not earned, f"{stub.name} earned points with no implementation: {sorted(earned)}"
    assert not lost, lost


def test_the_default_homework_loses_nothing_to_mistakes_in_items_it_does_not_list(reports):
    report = reports["<default>", NEW_ITEMS_BROKEN.name]
    failed = {c.check_id: c.message for c in report.checks if not c.passed}
    assert report.score == report.max_score == 130, failed


def test_every_variant_is_graded(reports):
    assert {m.name for m in PROFILE_VARIANTS} <= {name for _, name in reports}


def test_feedback_names_the_problem(reports):
    def message(name: str, check_id: str) -> str:
        profile = PROFILE_OF_ITEM[check_id.split(".", 1)[0]]
        return next(c.message for c in reports[profile, name].checks if c.check_id == check_id)

    assert "clamp" in message("model_predictions_never_clips", "model_predictions.clamps_x0_to_minus_1_1")
    assert "predict_noise_from_start" in message("model_predictions_never_rederives_the_noise",
                                                 "model_predictions.rederives_eps_from_the_clamped_x0")
    assert "predict_start_from_v" in message("model_predictions_pred_v_read_as_noise",
                                             "model_predictions.matches_reference")
    assert "the same eps" in message("interpolate_noises_each_image_with_its_own_noise",
                                     "interpolate.matches_reference")
    assert "reversed(range(t + 1))" in message("interpolate_starts_one_step_too_low",
                                               "interpolate.runs_p_sample_from_t_down_to_0")
    assert "unnormalize" in message("interpolate_returns_model_space", "interpolate.runs_p_sample_from_t_down_to_0")
    assert "straight line" in message("slerp_is_the_straight_line", "slerp.matches_reference")
    assert "fall back" in message("slerp_without_the_parallel_fallback",
                                  "slerp.falls_back_to_the_line_for_parallel_noises")
    assert "other way round" in message("inpaint_mask_the_other_way_round", "inpaint.returns_the_image_where_mask_is_0")
    assert "to t_prev" in message("inpaint_noises_the_image_to_t_not_t_prev",
                                  "inpaint.blends_the_image_noised_to_t_prev_after_every_step")
    assert "not a timestep" in message("sdedit_treats_i_start_as_a_timestep", "sdedit.matches_reference")
    assert "loop over time_pairs[i_start:]" in message(
        "sdedit_runs_every_pair", "sdedit.starts_at_time_pairs_i_start_from_the_noised_image")
    assert "not the other way round" in message("hybrid_swaps_far_and_near", "make_hybrid.matches_reference")
    assert "averaged" in message("hybrid_keeps_the_far_variance", "make_hybrid.averages_the_variance_channels")
    assert "int64 tensor on x1's device" in message("interpolate_makes_t_on_the_cpu",
                                                    "interpolate.keeps_the_docstring_contract")
    assert "slerp returned float64 for float32 input" in message("slerp_returns_float64",
                                                                 "slerp.keeps_the_docstring_contract")
    assert "the sines come first" in message("time_embedding_cosines_first", "SinusoidalPosEmb.matches_reference")
    assert "does not depend on the embedding" in message("resnet_block_ignores_the_embedding",
                                                         "ResnetBlock.matches_reference")
    assert "not >" in message("label_dropout_keeps_with_probability_p",
                              "drop_class_labels.drops_labels_to_the_null_class_with_probability_p")
    assert "independent" in message("label_dropout_drops_the_first_samples",
                                    "drop_class_labels.draws_independently_per_sample_and_per_seed")
