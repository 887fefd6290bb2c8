"""Noise schedules and the buffers derived from them (solution/diffusion_hw/schedules.py).

Three kinds of test, in the order of the file:
  * properties that hold for every T (hypothesis, derandomized): dtype, range, monotonicity;
  * formulas re-derived here with `math`/`numpy`, independently of torch;
  * pinned numbers at T = 1000, written down as literals (diffusers-style), so that a change in
    any schedule shows up as a diff of a number, not just as "not close".
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from diffusion_hw import (
    compute_diffusion_buffers,
    cosine_beta_schedule,
    linear_beta_schedule,
    make_beta_schedule,
    sigmoid_beta_schedule,
)

SCHEDULES = ("linear", "cosine", "sigmoid")

# The linear schedule is lucidrains' `scale = 1000 / T; linspace(scale * 1e-4, scale * 0.02, T)`:
# its last beta is 20 / T, which is a valid variance only when T >= 21 (for T <= 20 it is >= 1 and
# alphas_bar goes to 0 or negative). The range-type properties are drawn over T where they can hold.
LINEAR_MIN_T = 21

DERANDOMIZED = settings(derandomize=True, deadline=None, max_examples=60)


def timesteps_for(schedule: str) -> st.SearchStrategy[int]:
    return st.integers(min_value=LINEAR_MIN_T if schedule == "linear" else 1, max_value=2000)


def schedule_and_timesteps() -> st.SearchStrategy[tuple[str, int]]:
    return st.sampled_from(SCHEDULES).flatmap(lambda name: st.tuples(st.just(name), timesteps_for(name)))


# ---------------------------------------------------------------------------- properties for every T


@DERANDOMIZED
@given(schedule_and_timesteps())
def test_betas_are_float64_of_length_T_in_zero_to_0_999(case: tuple[str, int]) -> None:
    name, timesteps = case
    betas = make_beta_schedule(name, timesteps)
    assert betas.dtype == torch.float64, f"{name} betas are {betas.dtype}, expected torch.float64"
    assert betas.shape == (timesteps,)
    assert bool((betas > 0).all()), f"{name} T={timesteps}: min beta {betas.min().item()} is not > 0"
    assert bool((betas <= 0.999).all()), f"{name} T={timesteps}: max beta {betas.max().item()} > 0.999"


@DERANDOMIZED
@given(schedule_and_timesteps())
def test_alphas_bar_is_strictly_decreasing_inside_zero_one(case: tuple[str, int]) -> None:
    name, timesteps = case
    alphas_bar = compute_diffusion_buffers(make_beta_schedule(name, timesteps))["alphas_bar"]
    assert bool((alphas_bar > 0).all()) and bool((alphas_bar < 1).all())
    assert bool((alphas_bar[1:] < alphas_bar[:-1]).all()), f"{name} T={timesteps}: alphas_bar not decreasing"


@DERANDOMIZED
@given(st.integers(min_value=2, max_value=2000))
def test_linear_endpoints_are_rescaled_by_1000_over_T(timesteps: int) -> None:
    betas = linear_beta_schedule(timesteps)
    scale = 1000 / timesteps
    assert betas[0].item() == pytest.approx(scale * 1e-4, rel=1e-14)
    assert betas[-1].item() == pytest.approx(scale * 0.02, rel=1e-14)
    steps = torch.diff(betas)
    expected_step = scale * (0.02 - 1e-4) / (timesteps - 1)
    torch.testing.assert_close(steps, torch.full_like(steps, expected_step), rtol=1e-9, atol=1e-15)


def test_linear_with_one_timestep_is_the_start_value() -> None:
    # linspace with a single point returns its start: scale * 1e-4 = 1000 * 1e-4.
    assert linear_beta_schedule(1).tolist() == [pytest.approx(0.1, rel=1e-15)]


def nichol_dhariwal_cosine_betas(timesteps: int, s: float = 0.008) -> list[float]:
    """Improved DDPM eq. 17, one beta at a time with `math`, clipped to 0.999."""

    def f(u: int) -> float:
        return math.cos((u / timesteps + s) / (1 + s) * math.pi / 2) ** 2

    return [min(1 - f(t + 1) / f(t), 0.999) for t in range(timesteps)]


@DERANDOMIZED
@given(st.integers(min_value=1, max_value=2000))
def test_cosine_betas_equal_nichol_dhariwal_formula_with_clip(timesteps: int) -> None:
    expected = torch.tensor(nichol_dhariwal_cosine_betas(timesteps), dtype=torch.float64)
    torch.testing.assert_close(cosine_beta_schedule(timesteps), expected, rtol=1e-10, atol=1e-14)


def test_cosine_last_beta_is_clipped_to_exactly_0_999_at_T_1000() -> None:
    betas = cosine_beta_schedule(1000)
    assert betas[-1].item() == 0.999
    # only the last step is clipped: f(T) = cos(pi / 2)^2 ~ 0, so 1 - f(T) / f(T-1) ~ 1
    assert bool((betas[:-1] < 0.999).all())
    assert betas[-2].item() == pytest.approx(nichol_dhariwal_cosine_betas(1000)[-2], rel=1e-12)


def test_cosine_offset_s_changes_the_schedule() -> None:
    expected = torch.tensor(nichol_dhariwal_cosine_betas(100, s=0.02), dtype=torch.float64)
    torch.testing.assert_close(make_beta_schedule("cosine", 100, s=0.02), expected, rtol=1e-10, atol=1e-14)
    assert not torch.allclose(cosine_beta_schedule(100, s=0.02), cosine_beta_schedule(100))


def jabri_sigmoid_betas(timesteps: int, start: float = -3.0, end: float = 3.0, tau: float = 1.0) -> list[float]:
    def sigmoid(z: float) -> float:
        return 1 / (1 + math.exp(-z))

    def g(u: int) -> float:
        return (sigmoid(end / tau) - sigmoid((u / timesteps * (end - start) + start) / tau)) / (
            sigmoid(end / tau) - sigmoid(start / tau)
        )

    return [min(1 - g(t + 1) / g(t), 0.999) for t in range(timesteps)]


@DERANDOMIZED
@given(st.integers(min_value=1, max_value=2000))
def test_sigmoid_betas_equal_jabri_formula_with_clip(timesteps: int) -> None:
    expected = torch.tensor(jabri_sigmoid_betas(timesteps), dtype=torch.float64)
    torch.testing.assert_close(sigmoid_beta_schedule(timesteps), expected, rtol=1e-10, atol=1e-14)


def test_sigmoid_arguments_are_passed_through_make_beta_schedule() -> None:
    expected = torch.tensor(jabri_sigmoid_betas(50, start=-2.0, end=4.0, tau=0.7), dtype=torch.float64)
    got = make_beta_schedule("sigmoid", 50, start=-2.0, end=4.0, tau=0.7)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", SCHEDULES)
def test_make_beta_schedule_dispatches_to_the_named_schedule(name: str) -> None:
    direct = {"linear": linear_beta_schedule, "cosine": cosine_beta_schedule, "sigmoid": sigmoid_beta_schedule}
    assert torch.equal(make_beta_schedule(name, 300), direct[name](300))


@pytest.mark.parametrize("bad_T", [0, -5])
def test_make_beta_schedule_rejects_non_positive_timesteps(bad_T: int) -> None:
    with pytest.raises(ValueError, match="timesteps must be a positive integer"):
        make_beta_schedule("linear", bad_T)


def test_make_beta_schedule_rejects_unknown_names_listing_the_choices() -> None:
    with pytest.raises(ValueError, match="linear, cosine, sigmoid"):
        make_beta_schedule("quadratic", 10)


# ---------------------------------------------------------------------------- pinned numbers, T = 1000
# Literals computed independently with numpy (np.linspace / np.cumprod) and math.cos / math.exp,
# not with the code under test.

PINNED_BETAS = {
    "linear": {0: 1e-4, 1: 0.00011991991991991993, 500: 0.010059959959959959, 999: 0.02},
    "cosine": {0: 4.128422482196914e-05, 500: 0.003155691441585007, 998: 0.7499993929011166, 999: 0.999},
    "sigmoid": {0: 0.00030027919974917605, 500: 0.003314364235860956, 998: 0.5013569029180894, 999: 0.999},
}
PINNED_ALPHAS_BAR = {
    "linear": {0: 0.9999, 499: 0.07858724288177824, 999: 4.035829765375676e-05},
    # cosine: alphas_bar_t = f(t + 1) / f(0) until the clip; alphas_bar_499 = f(500) / f(0)
    "cosine": {0: 0.999958715775178, 499: 0.4938435904406382, 998: 2.4287669070348544e-06,
               999: 2.4287669070348567e-09},
    # sigmoid with start = -end is symmetric: alphas_bar at the midpoint is exactly 1/2
    "sigmoid": {0: 0.9996997208002508, 499: 0.5, 998: 0.00030027919974932816, 999: 3.0027919974932843e-07},
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_betas_at_T_1000_match_pinned_values(name: str) -> None:
    betas = make_beta_schedule(name, 1000)
    for t, value in PINNED_BETAS[name].items():
        assert betas[t].item() == pytest.approx(value, rel=1e-11, abs=1e-17), f"{name} beta[{t}]"


@pytest.mark.parametrize("name", SCHEDULES)
def test_alphas_bar_at_T_1000_match_pinned_values(name: str) -> None:
    alphas_bar = compute_diffusion_buffers(make_beta_schedule(name, 1000))["alphas_bar"]
    for t, value in PINNED_ALPHAS_BAR[name].items():
        assert alphas_bar[t].item() == pytest.approx(value, rel=1e-11), f"{name} alphas_bar[{t}]"


def test_linear_posterior_variance_at_T_1000_matches_pinned_values() -> None:
    posterior_variance = compute_diffusion_buffers(linear_beta_schedule(1000))["posterior_variance"]
    assert posterior_variance[0].item() == 0.0
    assert posterior_variance[1].item() == pytest.approx(5.4531876613021935e-05, rel=1e-11)
    assert posterior_variance[999].item() == pytest.approx(0.01999998352656061, rel=1e-11)


# ---------------------------------------------------------------------------- buffer identities

BUFFER_NAMES = {
    "betas", "alphas", "alphas_bar", "alphas_bar_prev", "sqrt_alphas_bar", "sqrt_one_minus_alphas_bar",
    "sqrt_recip_alphas_bar", "sqrt_recipm1_alphas_bar", "posterior_variance",
    "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
}


def buffers_for(name: str, timesteps: int) -> dict[str, torch.Tensor]:
    return compute_diffusion_buffers(make_beta_schedule(name, timesteps))


@pytest.mark.parametrize("betas_dtype", [torch.float32, torch.float64])
def test_buffers_are_float64_of_shape_T_even_from_float32_betas(betas_dtype: torch.dtype) -> None:
    buffers = compute_diffusion_buffers(linear_beta_schedule(100).to(betas_dtype))
    assert set(buffers) == BUFFER_NAMES
    for key, value in buffers.items():
        assert value.dtype == torch.float64, f"{key} is {value.dtype}"
        assert value.shape == (100,), f"{key} has shape {tuple(value.shape)}"


@DERANDOMIZED
@given(schedule_and_timesteps())
def test_alphas_bar_is_the_cumulative_product_and_prev_is_shifted_with_one_in_front(
    case: tuple[str, int],
) -> None:
    name, timesteps = case
    betas = make_beta_schedule(name, timesteps)
    buffers = compute_diffusion_buffers(betas)
    betas_np = betas.numpy()
    np.testing.assert_array_equal(buffers["alphas"].numpy(), 1.0 - betas_np)
    np.testing.assert_allclose(buffers["alphas_bar"].numpy(), np.cumprod(1.0 - betas_np), rtol=1e-12)
    assert buffers["alphas_bar_prev"][0].item() == 1.0
    assert torch.equal(buffers["alphas_bar_prev"][1:], buffers["alphas_bar"][:-1])


@DERANDOMIZED
@given(schedule_and_timesteps())
def test_posterior_variance_is_beta_tilde_zero_at_t0_and_never_above_beta(case: tuple[str, int]) -> None:
    name, timesteps = case
    b = buffers_for(name, timesteps)
    beta, ab, ab_prev = b["betas"].numpy(), b["alphas_bar"].numpy(), b["alphas_bar_prev"].numpy()
    expected = beta * (1 - ab_prev) / (1 - ab)
    np.testing.assert_allclose(b["posterior_variance"].numpy(), expected, rtol=1e-12, atol=0)
    assert b["posterior_variance"][0].item() == 0.0
    assert bool((b["posterior_variance"] <= b["betas"] * (1 + 1e-12)).all())
    assert bool((b["posterior_variance"][1:] > 0).all())


@DERANDOMIZED
@given(schedule_and_timesteps())
def test_clipped_log_posterior_variance_is_finite_and_log_of_max_with_1e_minus_20(
    case: tuple[str, int],
) -> None:
    name, timesteps = case
    b = buffers_for(name, timesteps)
    log_var = b["posterior_log_variance_clipped"]
    assert bool(torch.isfinite(log_var).all())
    assert log_var[0].item() == pytest.approx(math.log(1e-20), rel=1e-15)
    expected = np.log(np.maximum(b["posterior_variance"].numpy(), 1e-20))
    np.testing.assert_allclose(log_var.numpy(), expected, rtol=1e-13)


@DERANDOMIZED
@given(schedule_and_timesteps())
def test_posterior_mean_of_a_noiseless_x_t_is_sqrt_alpha_bar_prev_times_x0(case: tuple[str, int]) -> None:
    """mu~(x_t, x0) with x_t = sqrt(ab_t) x0 (zero noise) is sqrt(ab_{t-1}) x0, i.e.

        coef1_t + coef2_t sqrt(ab_t) = sqrt(ab_{t-1})   (and at t = 0: coef1 = 1, coef2 = 0, mu~ = x0)
    """
    name, timesteps = case
    b = buffers_for(name, timesteps)
    lhs = b["posterior_mean_coef1"] + b["posterior_mean_coef2"] * b["sqrt_alphas_bar"]
    torch.testing.assert_close(lhs, b["alphas_bar_prev"].sqrt(), rtol=1e-10, atol=1e-14)
    assert b["posterior_mean_coef1"][0].item() == pytest.approx(1.0, rel=1e-9)
    assert b["posterior_mean_coef2"][0].item() == 0.0


@DERANDOMIZED
@given(schedule_and_timesteps())
def test_posterior_mean_noise_coefficient_squared_plus_posterior_variance_is_1_minus_alpha_bar_prev(
    case: tuple[str, int],
) -> None:
    """With x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps, mu~ = sqrt(ab_{t-1}) x0 + c eps with
    c = coef2_t sqrt(1 - ab_t) and c^2 + beta~_t = 1 - ab_{t-1}: the posterior keeps the marginal
    q(x_{t-1} | x0) = N(sqrt(ab_{t-1}) x0, 1 - ab_{t-1}). This is DDIM's eta = 1 form."""
    name, timesteps = case
    b = buffers_for(name, timesteps)
    noise_coef = b["posterior_mean_coef2"] * b["sqrt_one_minus_alphas_bar"]
    torch.testing.assert_close(
        noise_coef**2 + b["posterior_variance"], 1 - b["alphas_bar_prev"], rtol=1e-10, atol=1e-14
    )


@DERANDOMIZED
@given(schedule_and_timesteps())
def test_posterior_mean_coefficients_match_ho_et_al_eq_7(case: tuple[str, int]) -> None:
    name, timesteps = case
    b = buffers_for(name, timesteps)
    beta, ab, ab_prev = b["betas"].numpy(), b["alphas_bar"].numpy(), b["alphas_bar_prev"].numpy()
    np.testing.assert_allclose(b["posterior_mean_coef1"].numpy(), beta * np.sqrt(ab_prev) / (1 - ab), rtol=1e-12)
    np.testing.assert_allclose(
        b["posterior_mean_coef2"].numpy(), (1 - ab_prev) * np.sqrt(1 - beta) / (1 - ab), rtol=1e-12
    )


@DERANDOMIZED
@given(schedule_and_timesteps())
def test_square_root_buffers_are_consistent(case: tuple[str, int]) -> None:
    name, timesteps = case
    b = buffers_for(name, timesteps)
    ab = b["alphas_bar"]
    torch.testing.assert_close(b["sqrt_alphas_bar"] ** 2, ab, rtol=1e-13, atol=0)
    torch.testing.assert_close(b["sqrt_one_minus_alphas_bar"] ** 2, 1 - ab, rtol=1e-13, atol=0)
    torch.testing.assert_close(
        b["sqrt_recip_alphas_bar"] * b["sqrt_alphas_bar"], torch.ones_like(ab), rtol=1e-13, atol=0
    )
    torch.testing.assert_close(
        b["sqrt_recipm1_alphas_bar"], b["sqrt_one_minus_alphas_bar"] / b["sqrt_alphas_bar"], rtol=1e-10, atol=0
    )


@pytest.mark.parametrize("timesteps", [1, 10, 20])
def test_the_diffusion_refuses_a_linear_schedule_whose_betas_reach_one(timesteps: int) -> None:
    from diffusion_hw import make_beta_schedule

    with pytest.raises(ValueError, match="timesteps >= 21"):
        make_beta_schedule("linear", timesteps)
    assert make_beta_schedule("linear", 21)[-1].item() < 1
