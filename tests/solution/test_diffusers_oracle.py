"""An independent oracle: Hugging Face diffusers' DDPMScheduler and DDIMScheduler, built from config
arguments only (nothing is downloaded), must compute the same schedule, forward noising and reverse
steps as the solution on the same inputs and the same noise.

How the two line up (each point is asserted below):
  * betas: lucidrains' linear schedule is diffusers' "linear" with beta_start = (1000 / T) 1e-4 and
    beta_end = (1000 / T) 0.02; our cosine schedule *is* diffusers' "squaredcos_cap_v2" (Nichol &
    Dhariwal with s = 0.008 and the same max_beta = 0.999 clip), equal up to float32 rounding
    (diffusers builds it in float64 with `math` and stores float32). diffusers' "sigmoid" is GeoDiff's,
    a different schedule, so ours is passed as `trained_betas=`. diffusers keeps everything in float32.
  * objectives: pred_noise / pred_x0 / pred_v are prediction_type epsilon / sample / v_prediction.
  * DDPM: `p_sample` is `DDPMScheduler.step` with variance_type "fixed_small" and clip_sample=True.
    Without set_timesteps the scheduler steps t -> t - 1. Its noise is
    `torch.randn(shape, generator=g, dtype=float32)` (diffusers' randn_tensor on CPU), drawn only for
    t > 0, so a generator seeded alike reproduces it exactly.
  * DDIM: `denoise_backward` after `model_predictions(clip_x_start=True, rederive_pred_noise=True)` is
    `DDIMScheduler.step(..., use_clipped_model_output=True, variance_noise=z)` with clip_sample=True.
    diffusers steps t -> t - T // S; with timestep_spacing="trailing" its timesteps are
    T-1, T-1-T/S, ..., T/S - 1, which are exactly our `ddim_time_pairs` when S divides T (for other S
    the two spacings differ, so only divisors are compared). Our last step goes to t_prev = -1 and
    returns the x0 estimate; diffusers' last step uses alpha_prod_t_prev = final_alpha_cumprod, which
    is 1 with set_alpha_to_one=True, and then sigma = 0 and prev_sample = sqrt(1) x0_hat + sqrt(0) eps
    = pred_original_sample: the same thing. (set_alpha_to_one=False would use alphas_cumprod[0]
    instead and end one tiny step short of x0: not what the homework specifies.)

Tolerances: diffusers re-derives beta_t = 1 - ab_t / ab_{t-1} from its float32 alphas_cumprod, which
keeps only ~3 digits where beta_t ~ 1e-4 (t near 0), and recovering x0 from eps amplifies float32
rounding by 1 / sqrt(ab_t) (t near T). `step_tolerance` widens the comparison exactly there.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from torch import nn

from diffusion_hw import GaussianDiffusion, compute_diffusion_buffers, ddim_time_pairs, make_beta_schedule

SCHEDULES = ("linear", "cosine", "sigmoid")
PREDICTION_TYPE = {"pred_noise": "epsilon", "pred_x0": "sample", "pred_v": "v_prediction"}
SHAPE = (2, 3, 8, 8)


class ConstantModel(nn.Module):
    """Returns whatever `output` is set to: lets the same model output feed both implementations."""

    channels = 3

    def __init__(self) -> None:
        super().__init__()
        self.output: torch.Tensor | None = None

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.output


class StubModel(nn.Module):
    """A fixed, smooth, input-dependent stand-in for a trained network."""

    channels = 3

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        return 0.9 * x_t + 0.05 * torch.sin(t.to(x_t.dtype) / 7).reshape(-1, 1, 1, 1)


def make_diffusion(model: nn.Module, beta_schedule: str, timesteps: int, objective: str = "pred_noise", **kwargs):
    return GaussianDiffusion(model, image_size=SHAPE[-1], timesteps=timesteps, beta_schedule=beta_schedule,
                             objective=objective, **kwargs)


def ddpm_scheduler(beta_schedule: str, timesteps: int, objective: str = "pred_noise") -> DDPMScheduler:
    return DDPMScheduler(
        num_train_timesteps=timesteps,
        trained_betas=make_beta_schedule(beta_schedule, timesteps).numpy(),
        variance_type="fixed_small",
        clip_sample=True,
        prediction_type=PREDICTION_TYPE[objective],
    )


def ddim_scheduler(beta_schedule: str, timesteps: int, sampling_timesteps: int, objective: str) -> DDIMScheduler:
    scheduler = DDIMScheduler(
        num_train_timesteps=timesteps,
        trained_betas=make_beta_schedule(beta_schedule, timesteps).numpy(),
        clip_sample=True,
        set_alpha_to_one=True,
        prediction_type=PREDICTION_TYPE[objective],
        timestep_spacing="trailing",
    )
    scheduler.set_timesteps(sampling_timesteps)
    return scheduler


def gaussian(seed: int, shape: tuple[int, ...] = SHAPE) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def realistic_step_inputs(diffusion: GaussianDiffusion, t: int, objective: str, seed: int):
    """x_t from an x0 partly outside [-1, 1] (so clipping matters) and a model output near the truth."""
    generator = torch.Generator().manual_seed(seed)
    x0 = torch.rand(SHAPE, generator=generator) * 3 - 1.5
    eps = torch.randn(SHAPE, generator=generator)
    signal, sigma = diffusion.alphas_bar[t].sqrt(), (1 - diffusion.alphas_bar[t]).sqrt()
    x_t = signal * x0 + sigma * eps
    truth = {"pred_noise": eps, "pred_x0": x0, "pred_v": signal * eps - sigma * x0}[objective]
    return x_t, truth + 0.1 * torch.randn(SHAPE, generator=generator)


def step_tolerance(diffusion: GaussianDiffusion, t: int, sample: torch.Tensor) -> float:
    scale = 1 + float(sample.abs().max())
    beta = float(diffusion.betas[t])
    return 2e-5 + scale * (4e-8 / beta + 3e-7 * float(diffusion.sqrt_recip_alphas_bar[t]))


# ---------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("timesteps", [21, 50, 1000, 2000])
def test_linear_schedule_is_diffusers_linear_with_betas_scaled_by_1000_over_T(timesteps: int) -> None:
    scale = 1000 / timesteps
    scheduler = DDPMScheduler(num_train_timesteps=timesteps, beta_schedule="linear",
                              beta_start=scale * 1e-4, beta_end=scale * 0.02)
    betas = make_beta_schedule("linear", timesteps)
    torch.testing.assert_close(scheduler.betas.double(), betas, rtol=3e-7, atol=0)
    alphas_bar = compute_diffusion_buffers(betas)["alphas_bar"]
    torch.testing.assert_close(scheduler.alphas_cumprod.double(), alphas_bar, rtol=5e-6, atol=0)


@pytest.mark.parametrize("timesteps", [1, 10, 50, 1000, 2000])
def test_cosine_schedule_is_diffusers_squaredcos_cap_v2_up_to_float32_rounding(timesteps: int) -> None:
    scheduler = DDPMScheduler(num_train_timesteps=timesteps, beta_schedule="squaredcos_cap_v2")
    betas = make_beta_schedule("cosine", timesteps)
    # one float32 ulp: diffusers computes the same float64 numbers with `math` and rounds to float32
    torch.testing.assert_close(scheduler.betas, betas.to(torch.float32), rtol=1.2e-7, atol=0)
    assert scheduler.betas[-1].item() == pytest.approx(0.999, rel=1e-7)  # the same max_beta clip
    alphas_bar = compute_diffusion_buffers(betas)["alphas_bar"]
    # diffusers' float32 cumprod drifts ~1e-5 relative by the tail, where alpha_bar ~ 1e-9
    torch.testing.assert_close(scheduler.alphas_cumprod.double(), alphas_bar, rtol=5e-5, atol=0)


@pytest.mark.parametrize("beta_schedule", SCHEDULES)
def test_alphas_bar_matches_diffusers_alphas_cumprod_from_the_same_betas(beta_schedule: str) -> None:
    diffusion = make_diffusion(StubModel(), beta_schedule, 1000)
    scheduler = ddpm_scheduler(beta_schedule, 1000)
    torch.testing.assert_close(diffusion.alphas_bar, scheduler.alphas_cumprod, rtol=5e-5, atol=0)


# ---------------------------------------------------------------------------- forward process


@pytest.mark.parametrize("beta_schedule", SCHEDULES)
def test_q_sample_matches_diffusers_add_noise(beta_schedule: str) -> None:
    diffusion = make_diffusion(StubModel(), beta_schedule, 1000)
    scheduler = ddpm_scheduler(beta_schedule, 1000)
    x0 = torch.rand((6, 3, 8, 8), generator=torch.Generator().manual_seed(0)) * 2 - 1
    noise = gaussian(1, (6, 3, 8, 8))
    t = torch.tensor([0, 1, 10, 500, 998, 999])
    # atol: diffusers' float32 cumprod drifts up to ~1e-5 relative from the float64 one over 1000 steps
    torch.testing.assert_close(
        diffusion.q_sample(x0, t, noise), scheduler.add_noise(x0, noise, t), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("beta_schedule", SCHEDULES)
def test_predict_v_matches_diffusers_get_velocity(beta_schedule: str) -> None:
    diffusion = make_diffusion(StubModel(), beta_schedule, 1000)
    scheduler = ddpm_scheduler(beta_schedule, 1000)
    x0, noise = gaussian(0, (4, 3, 8, 8)).clamp(-1, 1), gaussian(1, (4, 3, 8, 8))
    t = torch.tensor([0, 300, 700, 999])
    torch.testing.assert_close(
        diffusion.predict_v(x0, t, noise), scheduler.get_velocity(x0, noise, t), rtol=1e-5, atol=1e-5
    )


# ---------------------------------------------------------------------------- DDPM step


@pytest.mark.parametrize("objective", list(PREDICTION_TYPE))
@pytest.mark.parametrize("beta_schedule", SCHEDULES)
def test_p_sample_matches_diffusers_ddpm_step_with_the_same_noise(beta_schedule: str, objective: str) -> None:
    model = ConstantModel()
    diffusion = make_diffusion(model, beta_schedule, 1000, objective)
    scheduler = ddpm_scheduler(beta_schedule, 1000, objective)
    for t in (0, 1, 2, 10, 100, 500, 900, 998, 999):
        x_t, model.output = realistic_step_inputs(diffusion, t, objective, seed=t)
        expected = scheduler.step(model.output, t, x_t, generator=torch.Generator().manual_seed(100 + t))
        noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(100 + t), dtype=torch.float32)
        x_prev, x0_hat = diffusion.p_sample(x_t, t, noise=noise)
        tolerance = step_tolerance(diffusion, t, x_t)
        torch.testing.assert_close(x0_hat, expected.pred_original_sample, rtol=0, atol=tolerance,
                                   msg=f"x0_hat, t={t}")
        torch.testing.assert_close(x_prev, expected.prev_sample, rtol=0, atol=tolerance, msg=f"x_prev, t={t}")


@pytest.mark.parametrize("objective", list(PREDICTION_TYPE))
@pytest.mark.parametrize("beta_schedule", SCHEDULES)
def test_p_sample_loop_matches_a_diffusers_ddpm_loop_fed_the_same_random_stream(
    beta_schedule: str, objective: str
) -> None:
    # A CPU torch.Generator seeded with s yields the same stream as torch.manual_seed(s). Our loop
    # draws x_T with torch.randn, then one randn_like per step with t > 0; diffusers' loop below draws
    # x_T, then its step draws one randn for each t > 0: the same numbers in the same order.
    timesteps, model = 50, StubModel()
    diffusion = make_diffusion(model, beta_schedule, timesteps, objective, auto_normalize=False)
    scheduler = ddpm_scheduler(beta_schedule, timesteps, objective)
    generator = torch.Generator().manual_seed(8)
    theirs = torch.randn(SHAPE, generator=generator)
    for t in scheduler.timesteps.tolist():
        theirs = scheduler.step(model(theirs, torch.full((SHAPE[0],), t)), t, theirs, generator=generator).prev_sample
    torch.manual_seed(8)
    ours = diffusion.p_sample_loop(SHAPE)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    assert ours.abs().max() <= 1 + 1e-6  # the last step returns the clipped x0 estimate


# ---------------------------------------------------------------------------- DDIM step


@pytest.mark.parametrize(
    "timesteps, sampling_timesteps", [(1000, 1000), (1000, 50), (1000, 10), (1000, 1), (50, 50), (50, 5)]
)
def test_ddim_time_pairs_are_diffusers_trailing_timesteps_when_S_divides_T(
    timesteps: int, sampling_timesteps: int
) -> None:
    scheduler = ddim_scheduler("linear", timesteps, sampling_timesteps, "pred_noise")
    stride = timesteps // sampling_timesteps  # diffusers' prev_timestep = t - T // S
    theirs = [(int(t), int(t) - stride) for t in scheduler.timesteps]
    assert ddim_time_pairs(timesteps, sampling_timesteps) == theirs
    # "leading" spacing with steps_offset = T // S - 1 lands on the same timesteps
    leading = DDIMScheduler(num_train_timesteps=timesteps, timestep_spacing="leading", steps_offset=stride - 1)
    leading.set_timesteps(sampling_timesteps)
    assert leading.timesteps.tolist() == scheduler.timesteps.tolist()


def ddim_step_pairs(timesteps: int, sampling_timesteps: int) -> list[tuple[int, int]]:
    pairs = ddim_time_pairs(timesteps, sampling_timesteps)
    if len(pairs) <= 8:
        return pairs
    picks = (0, 1, len(pairs) // 2, len(pairs) - 10, len(pairs) - 3, len(pairs) - 2, len(pairs) - 1)
    return [pairs[i] for i in picks]


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("objective", list(PREDICTION_TYPE))
@pytest.mark.parametrize("beta_schedule", SCHEDULES)
@pytest.mark.parametrize("sampling_timesteps", [1000, 50])
def test_denoise_backward_matches_diffusers_ddim_step_with_the_same_noise(
    sampling_timesteps: int, beta_schedule: str, objective: str, eta: float
) -> None:
    timesteps, model = 1000, ConstantModel()
    diffusion = make_diffusion(model, beta_schedule, timesteps, objective)
    scheduler = ddim_scheduler(beta_schedule, timesteps, sampling_timesteps, objective)
    for t, t_prev in ddim_step_pairs(timesteps, sampling_timesteps):
        x_t, model.output = realistic_step_inputs(diffusion, t, objective, seed=t)
        z = gaussian(10_000 + t)
        expected = scheduler.step(model.output, t, x_t, eta=eta, use_clipped_model_output=True, variance_noise=z)
        eps_hat, x0_hat = diffusion.model_predictions(
            x_t, torch.full((SHAPE[0],), t), clip_x_start=True, rederive_pred_noise=True
        )
        x_prev = diffusion.denoise_backward(x0_hat, t, t_prev, eps_hat, z, eta)
        tolerance = step_tolerance(diffusion, t, x_t)
        torch.testing.assert_close(x0_hat, expected.pred_original_sample, rtol=0, atol=tolerance,
                                   msg=f"x0_hat, t={t}")
        torch.testing.assert_close(x_prev, expected.prev_sample, rtol=0, atol=tolerance,
                                   msg=f"x_prev, {t}->{t_prev}")


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_last_ddim_step_equals_diffusers_with_set_alpha_to_one_which_returns_the_x0_estimate(eta: float) -> None:
    model = ConstantModel()
    diffusion = make_diffusion(model, "cosine", 1000)
    scheduler = ddim_scheduler("cosine", 1000, 50, "pred_noise")
    t, t_prev = ddim_time_pairs(1000, 50)[-1]
    assert (t, t_prev) == (19, -1) and int(scheduler.timesteps[-1]) == 19
    x_t, model.output = realistic_step_inputs(diffusion, t, "pred_noise", seed=3)
    expected = scheduler.step(model.output, t, x_t, eta=eta, use_clipped_model_output=True,
                              variance_noise=gaussian(4))
    torch.testing.assert_close(expected.prev_sample, expected.pred_original_sample, rtol=0, atol=0)
    eps_hat, x0_hat = diffusion.model_predictions(x_t, torch.full((SHAPE[0],), t), clip_x_start=True,
                                                  rederive_pred_noise=True)
    x_prev = diffusion.denoise_backward(x0_hat, t, t_prev, eps_hat, gaussian(4), eta)
    torch.testing.assert_close(x_prev, expected.prev_sample, rtol=0, atol=1e-5)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("objective", list(PREDICTION_TYPE))
@pytest.mark.parametrize("beta_schedule", SCHEDULES)
def test_ddim_sample_matches_a_diffusers_ddim_loop_fed_the_same_random_stream(
    beta_schedule: str, objective: str, eta: float
) -> None:
    # ddim_sample draws x_T with torch.randn, then one randn_like per step (the last is unused):
    # the diffusers loop below draws the same numbers and passes them as variance_noise.
    timesteps, sampling_timesteps, model = 50, 10, StubModel()
    diffusion = make_diffusion(model, beta_schedule, timesteps, objective, sampling_timesteps=sampling_timesteps,
                               ddim_sampling_eta=eta, auto_normalize=False)
    scheduler = ddim_scheduler(beta_schedule, timesteps, sampling_timesteps, objective)
    assert [t for t, _ in ddim_time_pairs(timesteps, sampling_timesteps)] == scheduler.timesteps.tolist()
    generator = torch.Generator().manual_seed(8)
    theirs = torch.randn(SHAPE, generator=generator)
    for t in scheduler.timesteps.tolist():
        z = torch.randn(SHAPE, generator=generator)
        theirs = scheduler.step(model(theirs, torch.full((SHAPE[0],), t)), t, theirs, eta=eta,
                                use_clipped_model_output=True, variance_noise=z).prev_sample
    torch.manual_seed(8)
    ours = diffusion.ddim_sample(SHAPE)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_step_tolerance_is_tight_away_from_both_ends_of_the_schedule() -> None:
    # guards the guard: the widened tolerance must stay far below the size of a real mistake
    diffusion = make_diffusion(StubModel(), "linear", 1000)
    x_t = torch.full(SHAPE, 2.0)
    assert step_tolerance(diffusion, 500, x_t) < 5e-5
    assert step_tolerance(diffusion, 2, x_t) < 2e-3
    assert math.isfinite(step_tolerance(diffusion, 999, x_t)) and step_tolerance(diffusion, 999, x_t) < 2e-4
    assert np.isclose(float(diffusion.betas[2]), 1e-4 + 2 * (0.02 - 1e-4) / 999, rtol=1e-6)
