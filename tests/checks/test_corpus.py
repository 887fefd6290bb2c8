"""Each known mistake loses points on its own TODO item only; every correct variant gets full marks."""

from __future__ import annotations

import pytest

from tests.support.corpus import CORRECT_VARIANTS, MISTAKES
from tests.support.grading import REPEATED

pytestmark = pytest.mark.slow


def lost_items(report) -> set[str]:
    return {check.function for check in report.checks if not check.passed}


@pytest.mark.parametrize("mutation", MISTAKES, ids=lambda m: m.name)
def test_each_known_mistake_loses_points_on_its_own_item_only(corpus_reports, rubric, mutation):
    report = corpus_reports[mutation.name]
    assert report.max_score == rubric.total == 130
    failed = {c.check_id: c.message for c in report.checks if not c.passed}
    assert lost_items(report) == set(mutation.loses), failed


@pytest.mark.parametrize("mutation", [m for m in MISTAKES if m.fails], ids=lambda m: m.name)
def test_each_contract_mistake_fails_only_its_items_contract_check(corpus_reports, mutation):
    report = corpus_reports[mutation.name]
    failed = {c.check_id: c.message for c in report.checks if not c.passed}
    assert set(failed) == set(mutation.fails), failed
    lost = sum(c.max_score - c.score for c in report.checks)
    assert report.max_score - report.score == lost == len(mutation.fails), failed


def test_the_issues_four_contract_mistakes_are_in_the_corpus():
    named = {m.name: m for m in MISTAKES}
    for name, item in [("q_sample_returns_float64_for_float32_input", "q_sample"),
                       ("q_sample_writes_x_t_into_x_start", "q_sample"),
                       ("p_sample_passes_t_as_a_one_element_tensor", "p_sample"),
                       ("p_sample_loop_draws_its_start_on_the_cpu", "p_sample_loop")]:
        assert named[name].fails == {f"{item}.keeps_the_docstring_contract"}, name


def test_contract_feedback_names_the_contract_and_what_to_do(corpus_reports):
    def message(name, item):
        check_id = f"{item}.keeps_the_docstring_contract"
        return next(c.message for c in corpus_reports[name].checks if c.check_id == check_id)

    assert "q_sample returned float64 for float32 input: return x_start's dtype" in message(
        "q_sample_returns_float64_for_float32_input", "q_sample")
    assert "returned float32 for bfloat16 input" in message("q_sample_casts_the_buffers_to_float32", "q_sample")
    assert "modified its argument x_start in place" in message("q_sample_writes_x_t_into_x_start", "q_sample")
    assert "t must be (4,) int64" in message("p_sample_passes_t_as_a_one_element_tensor", "p_sample")
    assert "device=self.device" in message("p_sample_loop_draws_its_start_on_the_cpu", "p_sample_loop")
    assert "denoise_backward returned float64 for float32 input: return pred_x_start's dtype" in message(
        "ddim_computes_in_float64_and_returns_float64", "denoise_backward")
    assert "another device (as on a GPU)" in message("ddim_pads_alphas_bar_with_a_cpu_one", "denoise_backward")
    assert "modified its argument x in place" in message("rotate180_view_rotates_x_in_place", "Rotate180View")
    assert "modified its argument eps_uncond in place" in message("guidance_writes_into_eps_uncond",
                                                                 "classifier_free_guidance")
    assert "return x_t's dtype" in message("fused_estimate_casts_each_estimate_to_float32", "fused_noise_estimate")


@pytest.mark.parametrize("mutation", CORRECT_VARIANTS, ids=lambda m: m.name)
def test_every_correct_variant_gets_full_marks(corpus_reports, rubric, mutation):
    report = corpus_reports[mutation.name]
    failed = {c.check_id: c.message for c in report.checks if not c.passed}
    assert report.score == report.max_score == rubric.total == 130, failed


def test_failed_checks_explain_themselves_without_reference_code(corpus_reports):
    for mutation in MISTAKES:
        for check in corpus_reports[mutation.name].checks:
            if not check.passed:
                assert len(check.message) > 30, (mutation.name, check.check_id, check.message)
                assert "def " not in check.message and "BEGIN SOLUTION" not in check.message


def test_feedback_names_the_problem(corpus_reports):
    def message(name, check_id):
        return next(c.message for c in corpus_reports[name].checks if c.check_id == check_id)

    assert "t = 0" in message("p_sample_adds_noise_at_the_last_step", "p_sample.adds_no_noise_at_t_0")
    assert "t_prev < 0" in message("ddim_no_t_prev_below_zero_branch",
                                   "denoise_backward.returns_x0_estimate_when_t_prev_is_negative")
    assert "0.999" in message("cosine_schedule_without_clip", "cosine_beta_schedule.clips_the_tail_at_0_999")
    assert "shift" in message("alphas_bar_prev_not_shifted",
                              "compute_diffusion_buffers.alphas_bar_prev_is_shifted_by_one")
    assert "infinite at t = 0" in message("posterior_log_variance_not_clipped",
                                          "compute_diffusion_buffers.posterior_variance_and_clipped_log")
    assert "reversed(range(T))" in message("p_sample_loop_iterates_t_upward",
                                           "p_sample_loop.visits_t_from_T_minus_1_down_to_0")
    assert "max abs error" in message("q_sample_missing_sqrt", "q_sample.matches_reference")
    assert "clip" in message("p_sample_forgets_to_clip_x0", "p_sample.clips_the_x0_estimate")
    assert "1000 / T" in message("linear_schedule_without_1000_over_T_scale", "linear_beta_schedule.matches_reference")


def test_two_runs_on_the_same_submission_give_identical_results(corpus_reports):
    first, second = corpus_reports[REPEATED], corpus_reports[f"{REPEATED}#again"]
    assert [(c.check_id, c.score, c.message) for c in first.checks] == [
        (c.check_id, c.score, c.message) for c in second.checks
    ]


def test_illusion_feedback_names_the_problem(corpus_reports):
    def message(name, check_id):
        return next(c.message for c in corpus_reports[name].checks if c.check_id == check_id)

    assert "view 2 (a rotation by 180 degrees) was not mapped back with views[1].inverse_view" in message(
        "fused_estimate_not_mapped_back_with_inverse_view", "fused_noise_estimate.matches_reference")
    assert "arguments are (eps_uncond, eps_cond" in message("fused_swaps_conditional_and_unconditional",
                                                            "fused_noise_estimate.matches_reference")
    assert "flipped left-right only" in message("rotate180_is_a_horizontal_flip",
                                                "Rotate180View.view_matches_reference")
    assert "flipped" in message("rotate180_inverse_view_is_not_its_inverse", "Rotate180View.inverse_view_undoes_view")
    assert "negated the variance channels" in message(
        "rotate180_inverse_view_negates_variance_channels",
        "Rotate180View.inverse_view_moves_variance_channels_with_their_pixels")
    assert "were dropped" in message("identity_inverse_view_drops_variance_channels",
                                     "IdentityView.inverse_view_moves_variance_channels_with_their_pixels")
    assert "are missing" in message("fused_drops_variance_channels",
                                    "fused_noise_estimate.variance_channels_are_averaged_over_views")
    assert "wrong way" in message("guidance_with_the_wrong_sign", "classifier_free_guidance.matches_reference")
    assert "negated" in message("guidance_negates_variance_channels",
                                "classifier_free_guidance.keeps_the_conditional_variance_channels")
    assert "dropped" in message("guidance_drops_variance_channels",
                                "classifier_free_guidance.keeps_the_conditional_variance_channels")
