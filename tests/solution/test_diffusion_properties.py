"""Behaviour of GaussianDiffusion (solution/diffusion_hw/gaussian_diffusion.py) that must hold for
any schedule, objective, seed and eta.

The workhorse is an *oracle* network: for one known image x0 it returns the exact answer for
whatever x_t it is shown, eps = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t) (or the matching x0 / v
for the other objectives), computed in float64 from the schedule. Any correct sampler driven by
such a network must end at x0, whatever noise it drew on the way; a sampler that adds noise at the
last step, stops one step early, indexes alpha_t instead of alpha_bar_t or mixes up t and t_prev
does not.

Hypothesis runs derandomized (fixed examples on every machine); the sampling tests use small T and
tiny images so that the file stays well under its time budget on 2 CPU cores.
"""

from __future__ import annotations

import math
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from diffusion_hw import GaussianDiffusion, ddim_time_pairs, make_beta_schedule, slerp

SCHEDULES = ("linear", "cosine", "sigmoid")
OBJECTIVES = ("pred_noise", "pred_x0", "pred_v")
LOSS_TYPES = ("l2", "l1", "huber")
LINEAR_MIN_T = 21  # below this lucidrains' rescaled linear schedule has beta >= 1 (see test_schedules.py)
SHAPE = (2, 3, 4, 4)


def settings_with(max_examples: int) -> settings:
    return settings(derandomize=True, deadline=None, max_examples=max_examples)


@st.composite
def schedule_and_timesteps(draw: st.DrawFn, max_timesteps: int = 200) -> tuple[str, int]:
    name = draw(st.sampled_from(SCHEDULES))
    low = LINEAR_MIN_T if name == "linear" else 1
    return name, draw(st.integers(min_value=low, max_value=max_timesteps))


def float64_alphas_bar(beta_schedule: str, timesteps: int) -> torch.Tensor:
    """alpha_bar_t computed here, in float64, independently of the module's float32 buffers."""
    return torch.cumprod(1 - make_beta_schedule(beta_schedule, timesteps), dim=0)


def as_column(values: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return values[t].reshape(-1, 1, 1, 1)


class OracleModel(nn.Module):
    """The perfect network for a data set of one image x0 (in model space [-1, 1])."""

    def __init__(self, x0: torch.Tensor, beta_schedule: str, timesteps: int, objective: str) -> None:
        super().__init__()
        self.channels = x0.shape[1]
        self.x0 = x0.to(torch.float64)
        self.alphas_bar = float64_alphas_bar(beta_schedule, timesteps)
        self.objective = objective

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        signal = as_column(self.alphas_bar, t).sqrt()
        sigma = as_column(1 - self.alphas_bar, t).sqrt()
        eps = (x_t.to(torch.float64) - signal * self.x0) / sigma
        if self.objective == "pred_noise":
            out = eps
        elif self.objective == "pred_x0":
            out = self.x0.expand_as(eps)
        else:
            out = signal * eps - sigma * self.x0
        return out.to(x_t.dtype)


class StubModel(nn.Module):
    """A fixed, smooth, input-dependent stand-in for a trained network."""

    channels = 3

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        return 0.9 * x_t + 0.05 * torch.sin(t.to(x_t.dtype) / 7).reshape(-1, 1, 1, 1)


class ConditionalStubModel(nn.Module):
    """Output depends on the class label; label `num_classes` is the null class."""

    channels = 3
    num_classes = 4

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = torch.full_like(t, self.num_classes) if class_labels is None else class_labels
        return x_t * (1 + labels).to(x_t.dtype).reshape(-1, 1, 1, 1) + 0.01 * t.to(x_t.dtype).reshape(-1, 1, 1, 1)


class RecordingModel(StubModel):
    def __init__(self) -> None:
        super().__init__()
        self.timesteps_seen: list[list[int]] = []
        self.inputs_seen: list[torch.Tensor] = []

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        self.timesteps_seen.append(t.tolist())
        self.inputs_seen.append(x_t.clone())
        return super().forward(x_t, t, class_labels)


def make_diffusion(
    model: nn.Module, beta_schedule: str = "linear", timesteps: int = 50, **kwargs
) -> GaussianDiffusion:
    return GaussianDiffusion(
        model, image_size=SHAPE[-1], timesteps=timesteps, beta_schedule=beta_schedule, **kwargs
    )


def image_in_model_space(seed: int, low: float = -0.9, high: float = 0.9) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(SHAPE, generator=generator) * (high - low) + low


def gaussian(seed: int, shape: tuple[int, ...] = SHAPE) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def randn_like_from(generator: torch.Generator):
    """A stand-in for torch.randn_like that draws from its own generator (the global one is untouched)."""

    def randn_like(x: torch.Tensor, **kwargs) -> torch.Tensor:
        return torch.randn(x.shape, generator=generator, dtype=kwargs.get("dtype", x.dtype))

    return randn_like


# ---------------------------------------------------------------------------- forward process q


@pytest.mark.parametrize("beta_schedule", SCHEDULES)
def test_q_sample_has_mean_sqrt_alpha_bar_x0_and_variance_one_minus_alpha_bar(beta_schedule: str) -> None:
    timesteps, n = 1000, 20_000
    diffusion = make_diffusion(StubModel(), beta_schedule, timesteps)
    alphas_bar = float64_alphas_bar(beta_schedule, timesteps)
    x0 = torch.tensor([-0.8, -0.1, 0.3, 0.9]).reshape(1, 4, 1, 1).expand(n, 4, 1, 1)
    torch.manual_seed(1234)
    for t in (0, 10, 500, 999):
        x_t = diffusion.q_sample(x0, torch.full((n,), t)).to(torch.float64)
        expected_mean = math.sqrt(alphas_bar[t]) * x0[0].to(torch.float64)
        expected_var = float(1 - alphas_bar[t])
        mean, var = x_t.mean(dim=0), x_t.var(dim=0)
        # 5 standard errors: the mean's is sqrt(var / n), the variance's about var sqrt(2 / n)
        assert torch.all((mean - expected_mean).abs() < 5 * math.sqrt(expected_var / n) + 1e-7), (t, mean)
        assert torch.all((var - expected_var).abs() < 5 * expected_var * math.sqrt(2 / n)), (t, var)


@settings_with(40)
@given(schedule_and_timesteps(max_timesteps=1000), st.integers(0, 2**16))
def test_q_sample_with_given_noise_is_the_closed_form_per_sample_timestep(
    case: tuple[str, int], seed: int
) -> None:
    beta_schedule, timesteps = case
    diffusion = make_diffusion(StubModel(), beta_schedule, timesteps)
    alphas_bar = float64_alphas_bar(beta_schedule, timesteps)
    x0, noise = image_in_model_space(seed), gaussian(seed + 1)
    t = torch.tensor([0, timesteps - 1])
    expected = as_column(alphas_bar, t).sqrt() * x0 + as_column(1 - alphas_bar, t).sqrt() * noise
    got = diffusion.q_sample(x0, t, noise)
    assert got.shape == x0.shape and got.dtype == x0.dtype
    torch.testing.assert_close(got, expected.to(torch.float32), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- conversions


@settings_with(40)
@given(schedule_and_timesteps(max_timesteps=1000), st.data())
def test_x0_from_v_inverts_predict_v_on_a_q_sample(case: tuple[str, int], data: st.DataObject) -> None:
    beta_schedule, timesteps = case
    t_value = data.draw(st.integers(0, timesteps - 1), label="t")
    diffusion = make_diffusion(StubModel(), beta_schedule, timesteps)
    x0, eps, t = image_in_model_space(t_value), gaussian(t_value + 7), torch.full((SHAPE[0],), t_value)
    x_t = diffusion.q_sample(x0, t, eps)
    v = diffusion.predict_v(x0, t, eps)
    torch.testing.assert_close(diffusion.predict_start_from_v(x_t, t, v), x0, rtol=0, atol=2e-6)


@settings_with(40)
@given(schedule_and_timesteps(max_timesteps=1000), st.data())
def test_x0_from_noise_and_noise_from_x0_invert_each_other(case: tuple[str, int], data: st.DataObject) -> None:
    beta_schedule, timesteps = case
    t_value = data.draw(st.integers(0, timesteps - 1), label="t")
    diffusion = make_diffusion(StubModel(), beta_schedule, timesteps)
    x0, eps, t = image_in_model_space(t_value), gaussian(t_value + 7), torch.full((SHAPE[0],), t_value)
    x_t = diffusion.q_sample(x0, t, eps)
    # float32 buffers: recovering x0 from eps amplifies rounding by 1 / sqrt(ab_t), recovering eps
    # from x0 by 1 / sqrt(1 / ab_t - 1); the tolerances scale with those condition numbers.
    x0_condition = float(diffusion.sqrt_recip_alphas_bar[t_value])
    eps_condition = 1 / float(diffusion.sqrt_recipm1_alphas_bar[t_value])
    x0_hat = diffusion.predict_start_from_noise(x_t, t, eps)
    torch.testing.assert_close(x0_hat, x0, rtol=0, atol=1e-6 * (1 + x0_condition))
    eps_hat = diffusion.predict_noise_from_start(x_t, t, x0_hat)
    torch.testing.assert_close(eps_hat, eps, rtol=0, atol=1e-6 * (1 + eps_condition) * (1 + x0_condition))


# ---------------------------------------------------------------------------- the loss


def manual_loss(out: torch.Tensor, target: torch.Tensor, loss_type: str) -> torch.Tensor:
    diff = (out - target).to(torch.float64)
    if loss_type == "l2":
        return (diff**2).mean()
    if loss_type == "l1":
        return diff.abs().mean()
    return torch.where(diff.abs() < 1, 0.5 * diff**2, diff.abs() - 0.5).mean()


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_p_losses_equals_the_hand_computed_loss_for_each_objective(objective: str, loss_type: str) -> None:
    timesteps, beta_schedule = 100, "cosine"
    diffusion = make_diffusion(StubModel(), beta_schedule, timesteps, objective=objective, loss_type=loss_type)
    alphas_bar = float64_alphas_bar(beta_schedule, timesteps)
    x0, eps = image_in_model_space(0, -1, 1), 2 * gaussian(1)  # 2 * eps: some |out - target| > 1 (huber)
    t = torch.tensor([3, 97])
    signal, sigma = as_column(alphas_bar, t).sqrt(), as_column(1 - alphas_bar, t).sqrt()
    x_t = signal * x0 + sigma * eps
    out = StubModel()(x_t.to(torch.float32), t)
    target = {"pred_noise": eps, "pred_x0": x0, "pred_v": signal * eps - sigma * x0}[objective]
    assert (out - target).abs().max() > 1 and (out - target).abs().min() < 1
    loss = diffusion.p_losses(x0, t, eps)
    assert loss.ndim == 0
    torch.testing.assert_close(loss.to(torch.float64), manual_loss(out, target, loss_type), rtol=1e-5, atol=1e-7)


def test_p_losses_is_differentiable_with_respect_to_the_model() -> None:
    class OneByOneConv(nn.Module):
        channels = 3

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels=None) -> torch.Tensor:
            return self.conv(x_t)

    model = OneByOneConv()
    diffusion = make_diffusion(model, "linear", 50)
    diffusion.p_losses(image_in_model_space(0), torch.tensor([0, 49]), gaussian(1)).backward()
    assert model.conv.weight.grad is not None and model.conv.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------------------- DDPM steps


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_p_sample_at_t_zero_adds_no_noise_and_returns_the_x0_estimate(objective: str) -> None:
    diffusion = make_diffusion(StubModel(), "linear", 50, objective=objective)
    x = gaussian(3)
    first, x0_first = diffusion.p_sample(x, 0, noise=gaussian(4))
    second, _ = diffusion.p_sample(x, 0, noise=100 * gaussian(5))
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    torch.testing.assert_close(first, x0_first, rtol=1e-6, atol=1e-6)  # coef1_0 = 1, coef2_0 = 0
    assert x0_first.abs().max() <= 1  # the x0 estimate is clipped
    # control: at t = 1 the noise argument does matter
    at_t1_first, _ = diffusion.p_sample(x, 1, noise=gaussian(4))
    at_t1_second, _ = diffusion.p_sample(x, 1, noise=gaussian(5))
    assert not torch.allclose(at_t1_first, at_t1_second)


@settings_with(30)
@given(schedule_and_timesteps(max_timesteps=1000), st.sampled_from(OBJECTIVES), st.data())
def test_p_sample_is_posterior_mean_of_clipped_x0_plus_posterior_std_times_noise(
    case: tuple[str, int], objective: str, data: st.DataObject
) -> None:
    beta_schedule, timesteps = case
    t_value = data.draw(st.integers(0, timesteps - 1), label="t")
    diffusion = make_diffusion(StubModel(), beta_schedule, timesteps, objective=objective)
    x, noise, t = 2 * gaussian(t_value), gaussian(t_value + 1), torch.full((SHAPE[0],), t_value)
    _, x0_hat = diffusion.model_predictions(x, t, clip_x_start=True)
    mean, variance, _ = diffusion.q_posterior(x0_hat, x, t)
    expected = mean + (variance.sqrt() * noise if t_value > 0 else 0)
    x_prev, x0_returned = diffusion.p_sample(x, t_value, noise=noise)
    torch.testing.assert_close(x0_returned, x0_hat)
    torch.testing.assert_close(x_prev, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------- DDIM steps


@settings_with(30)
@given(st.sampled_from(SCHEDULES), st.floats(0, 1), st.integers(0, 999), st.integers(0, 2**16))
def test_denoise_backward_to_t_prev_minus_one_returns_the_x0_estimate(
    beta_schedule: str, eta: float, t_value: int, seed: int
) -> None:
    diffusion = make_diffusion(StubModel(), beta_schedule, 1000)
    x0_hat = image_in_model_space(seed, -1, 1)
    out = diffusion.denoise_backward(x0_hat, t_value, -1, gaussian(seed + 1), gaussian(seed + 2), eta)
    torch.testing.assert_close(out, x0_hat, rtol=0, atol=0)


@settings_with(40)
@given(schedule_and_timesteps(max_timesteps=1000), st.sampled_from(OBJECTIVES), st.data())
def test_ddim_with_eta_one_over_consecutive_steps_is_the_ddpm_posterior(
    case: tuple[str, int], objective: str, data: st.DataObject
) -> None:
    beta_schedule, timesteps = case
    if timesteps < 2:
        timesteps = 2
    t_value = data.draw(st.integers(1, timesteps - 1), label="t")
    diffusion = make_diffusion(StubModel(), beta_schedule, timesteps, objective=objective)
    x, t = 2 * gaussian(t_value), torch.full((SHAPE[0],), t_value)
    eps_hat, x0_hat = diffusion.model_predictions(x, t, clip_x_start=True, rederive_pred_noise=True)
    mean, variance, _ = diffusion.q_posterior(x0_hat, x, t)
    ddim_mean = diffusion.denoise_backward(x0_hat, t_value, t_value - 1, eps_hat, torch.zeros_like(x), eta=1.0)
    ddim_mean_plus_std = diffusion.denoise_backward(x0_hat, t_value, t_value - 1, eps_hat, torch.ones_like(x), eta=1.0)
    ddim_std = ddim_mean_plus_std - ddim_mean
    # denoise_backward works from the float32 alphas_bar: near t = 0, 1 - ab_{t-1} - sigma^2 and
    # 1 - ab_t / ab_{t-1} = beta_t are small differences that keep only ~4 digits, and eps_hat is
    # large there (|x_t - x0| / sqrt(1 - ab_t)); q_posterior uses float64-derived coefficients.
    torch.testing.assert_close(ddim_mean, mean, rtol=1e-4, atol=5e-5 + 5e-6 * float(eps_hat.abs().max()))
    torch.testing.assert_close(ddim_std, variance.sqrt().expand_as(ddim_std), rtol=5e-3, atol=1e-6)


@settings_with(30)
@given(st.sampled_from(SCHEDULES), st.integers(1, 999), st.integers(0, 2**16))
def test_denoise_backward_with_eta_zero_ignores_the_noise(beta_schedule: str, t_value: int, seed: int) -> None:
    diffusion = make_diffusion(StubModel(), beta_schedule, 1000)
    x0_hat, eps_hat = image_in_model_space(seed, -1, 1), gaussian(seed + 1)
    t_prev = t_value // 2
    first = diffusion.denoise_backward(x0_hat, t_value, t_prev, eps_hat, gaussian(seed + 2), eta=0.0)
    second = diffusion.denoise_backward(x0_hat, t_value, t_prev, eps_hat, gaussian(seed + 3), eta=0.0)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    ab_prev = float64_alphas_bar(beta_schedule, 1000)[t_prev]
    expected = ab_prev.sqrt() * x0_hat + (1 - ab_prev).sqrt() * eps_hat  # DDIM eq. 12 with sigma = 0
    torch.testing.assert_close(first, expected.to(torch.float32), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eta, noise_matters", [(0.0, False), (0.5, True)])
def test_ddim_sample_with_eta_zero_depends_only_on_the_starting_noise(eta: float, noise_matters: bool) -> None:
    diffusion = make_diffusion(StubModel(), "cosine", 100, sampling_timesteps=10, objective="pred_v")

    def sample_with_step_noise_seed(step_seed: int) -> torch.Tensor:
        torch.manual_seed(0)  # the same x_T every time
        with mock.patch.object(torch, "randn_like", randn_like_from(torch.Generator().manual_seed(step_seed))):
            return diffusion.ddim_sample(SHAPE, eta=eta)

    first, second = sample_with_step_noise_seed(1), sample_with_step_noise_seed(2)
    assert torch.equal(first, second) is not noise_matters


def test_ddim_sample_uses_the_constructor_eta_by_default() -> None:
    diffusion = make_diffusion(StubModel(), "linear", 50, sampling_timesteps=5, ddim_sampling_eta=0.0)
    torch.manual_seed(0)
    default = diffusion.ddim_sample(SHAPE)
    torch.manual_seed(0)
    explicit = diffusion.ddim_sample(SHAPE, eta=0.0)
    torch.manual_seed(0)
    noisy = diffusion.ddim_sample(SHAPE, eta=1.0)
    assert torch.equal(default, explicit) and not torch.allclose(default, noisy)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("beta_schedule", SCHEDULES)
def test_ddim_with_eta_one_and_every_step_reproduces_ddpm_sampling_from_the_same_seed(
    beta_schedule: str, objective: str
) -> None:
    # Both draw x_T with torch.randn, then one randn_like per step (DDPM skips it at t = 0 and DDIM's
    # last draw is unused), so the same seed feeds them the same noise.
    ddpm = make_diffusion(StubModel(), beta_schedule, 50, objective=objective)
    ddim = make_diffusion(StubModel(), beta_schedule, 50, objective=objective, sampling_timesteps=50)
    torch.manual_seed(3)
    ddpm_images = ddpm.p_sample_loop(SHAPE)
    torch.manual_seed(3)
    ddim_images = ddim.ddim_sample(SHAPE, eta=1.0)
    torch.testing.assert_close(ddim_images, ddpm_images, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------- whole samplers, oracle model


@settings_with(25)
@given(schedule_and_timesteps(max_timesteps=120), st.sampled_from(OBJECTIVES), st.integers(0, 2**16))
def test_ddpm_sampling_with_an_oracle_model_returns_x0(case: tuple[str, int], objective: str, seed: int) -> None:
    beta_schedule, timesteps = case
    x0 = image_in_model_space(seed)
    diffusion = make_diffusion(OracleModel(x0, beta_schedule, timesteps, objective), beta_schedule, timesteps,
                               objective=objective)
    torch.manual_seed(seed)
    images = diffusion.p_sample_loop(SHAPE)
    torch.testing.assert_close(images, (x0 + 1) / 2, rtol=0, atol=1e-5)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("beta_schedule", SCHEDULES)
def test_ddpm_sampling_with_an_oracle_model_returns_x0_at_T_1000(beta_schedule: str, objective: str) -> None:
    x0 = image_in_model_space(11)
    diffusion = make_diffusion(OracleModel(x0, beta_schedule, 1000, objective), beta_schedule, 1000,
                               objective=objective, auto_normalize=False)
    torch.manual_seed(5)
    torch.testing.assert_close(diffusion.sample(batch_size=SHAPE[0]), x0, rtol=0, atol=1e-5)


@settings_with(30)
@given(schedule_and_timesteps(max_timesteps=150), st.sampled_from(OBJECTIVES), st.floats(0, 1), st.data())
def test_ddim_sampling_with_an_oracle_model_returns_x0_for_any_eta_and_step_count(
    case: tuple[str, int], objective: str, eta: float, data: st.DataObject
) -> None:
    beta_schedule, timesteps = case
    sampling_timesteps = data.draw(st.integers(1, timesteps), label="sampling_timesteps")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    x0 = image_in_model_space(seed)
    diffusion = make_diffusion(OracleModel(x0, beta_schedule, timesteps, objective), beta_schedule, timesteps,
                               objective=objective, sampling_timesteps=sampling_timesteps, ddim_sampling_eta=eta)
    torch.manual_seed(seed)
    images = diffusion.ddim_sample(SHAPE)
    # the result is the x0 estimate at the last pair's t; with eps or v in float32 it carries rounding
    # amplified by 1 / sqrt(ab_t), large when few steps end far from t = 0
    last_t = ddim_time_pairs(timesteps, sampling_timesteps)[-1][0]
    tolerance = 1e-6 * (1 + float(diffusion.sqrt_recip_alphas_bar[last_t]))
    torch.testing.assert_close(images, (x0 + 1) / 2, rtol=0, atol=tolerance)


@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("sampling_timesteps", [50, 37])
@pytest.mark.parametrize("beta_schedule", SCHEDULES)
def test_ddim_sampling_with_an_oracle_model_returns_x0_at_T_1000(
    beta_schedule: str, sampling_timesteps: int, eta: float
) -> None:
    x0 = image_in_model_space(12)
    diffusion = make_diffusion(OracleModel(x0, beta_schedule, 1000, "pred_noise"), beta_schedule, 1000,
                               sampling_timesteps=sampling_timesteps, ddim_sampling_eta=eta, auto_normalize=False)
    torch.manual_seed(6)
    torch.testing.assert_close(diffusion.sample(batch_size=SHAPE[0]), x0, rtol=0, atol=1e-5)


@pytest.mark.parametrize("sampler, sampling_timesteps, steps", [("ddpm", 20, 20), ("ddim", 5, 5)])
def test_return_all_timesteps_stacks_the_start_noise_and_every_step(
    sampler: str, sampling_timesteps: int, steps: int
) -> None:
    diffusion = make_diffusion(StubModel(), "cosine", 20, sampling_timesteps=sampling_timesteps)
    torch.manual_seed(0)
    trajectory = diffusion.sample(batch_size=SHAPE[0], return_all_timesteps=True)
    torch.manual_seed(0)
    final = diffusion.sample(batch_size=SHAPE[0])
    torch.manual_seed(0)
    start = (torch.randn(SHAPE) + 1) / 2
    assert trajectory.shape == (SHAPE[0], steps + 1, *SHAPE[1:])
    torch.testing.assert_close(trajectory[:, 0], start)
    torch.testing.assert_close(trajectory[:, -1], final)


# ---------------------------------------------------------------------------- DDIM schedule of timesteps


@pytest.mark.parametrize(
    "timesteps, sampling_timesteps, expected",
    [
        (10, 5, [(9, 7), (7, 5), (5, 3), (3, 1), (1, -1)]),
        (10, 3, [(9, 5), (5, 2), (2, -1)]),
        (7, 7, [(6, 5), (5, 4), (4, 3), (3, 2), (2, 1), (1, 0), (0, -1)]),
        (1000, 1, [(999, -1)]),
        (1000, 4, [(999, 749), (749, 499), (499, 249), (249, -1)]),
        (1000, 7, [(999, 856), (856, 713), (713, 570), (570, 427), (427, 284), (284, 141), (141, -1)]),
        (1, 1, [(0, -1)]),
    ],
)
def test_ddim_time_pairs_match_pinned_lists(
    timesteps: int, sampling_timesteps: int, expected: list[tuple[int, int]]
) -> None:
    assert ddim_time_pairs(timesteps, sampling_timesteps) == expected


def test_ddim_time_pairs_with_50_of_1000_steps_go_down_by_20_from_999() -> None:
    pairs = ddim_time_pairs(1000, 50)
    assert pairs[:3] == [(999, 979), (979, 959), (959, 939)]
    assert pairs[-2:] == [(39, 19), (19, -1)]
    assert all(t - t_prev == 20 for t, t_prev in pairs)


@settings_with(100)
@given(st.integers(1, 2000).flatmap(lambda T: st.tuples(st.just(T), st.integers(1, T))))
def test_ddim_time_pairs_chain_from_T_minus_1_to_minus_1_in_S_decreasing_steps(case: tuple[int, int]) -> None:
    timesteps, sampling_timesteps = case
    pairs = ddim_time_pairs(timesteps, sampling_timesteps)
    assert len(pairs) == sampling_timesteps
    assert pairs[0][0] == timesteps - 1 and pairs[-1][1] == -1
    assert all(t > t_prev for t, t_prev in pairs)
    assert all(pairs[i][1] == pairs[i + 1][0] for i in range(len(pairs) - 1))
    assert all(0 <= t < timesteps for t, _ in pairs)


@pytest.mark.parametrize("sampling_timesteps", [0, 11])
def test_ddim_time_pairs_and_the_constructor_reject_step_counts_outside_1_to_T(sampling_timesteps: int) -> None:
    with pytest.raises(ValueError, match="sampling_timesteps must be in 1 .. timesteps"):
        ddim_time_pairs(10, sampling_timesteps)
    with pytest.raises(ValueError, match="sampling_timesteps"):
        make_diffusion(StubModel(), "cosine", 10, sampling_timesteps=sampling_timesteps)


# ---------------------------------------------------------------------------- classifier-free guidance


def test_guidance_scale_zero_gives_the_unconditional_output() -> None:
    model = ConditionalStubModel()
    diffusion = make_diffusion(model, "linear", 50)
    x, t, labels = gaussian(0), torch.tensor([5, 40]), torch.tensor([0, 2])
    null = torch.full_like(labels, model.num_classes)
    torch.testing.assert_close(diffusion.model_output(x, t, labels, guidance_scale=0.0), model(x, t, null))


def test_guidance_scale_one_gives_the_conditional_output() -> None:
    model = ConditionalStubModel()
    diffusion = make_diffusion(model, "linear", 50)
    x, t, labels = gaussian(0), torch.tensor([5, 40]), torch.tensor([0, 2])
    torch.testing.assert_close(diffusion.model_output(x, t, labels, guidance_scale=1.0), model(x, t, labels))


def test_guidance_scale_three_extrapolates_from_unconditional_past_conditional() -> None:
    model = ConditionalStubModel()
    diffusion = make_diffusion(model, "linear", 50)
    x, t, labels = gaussian(0), torch.tensor([5, 40]), torch.tensor([1, 3])
    conditional, unconditional = model(x, t, labels), model(x, t, torch.full_like(labels, model.num_classes))
    expected = unconditional + 3.0 * (conditional - unconditional)
    torch.testing.assert_close(diffusion.model_output(x, t, labels, guidance_scale=3.0), expected)


def test_without_class_labels_guidance_is_not_applied() -> None:
    model = ConditionalStubModel()
    diffusion = make_diffusion(model, "linear", 50)
    x, t = gaussian(0), torch.tensor([5, 40])
    torch.testing.assert_close(diffusion.model_output(x, t, None, guidance_scale=5.0), model(x, t, None))


# ---------------------------------------------------------------------------- slerp and interpolate


@settings_with(40)
@given(st.integers(0, 2**16), st.floats(0, 1))
def test_slerp_keeps_the_norm_of_equal_norm_endpoints_and_moves_at_constant_angle(seed: int, alpha: float) -> None:
    z1 = gaussian(seed, (3, 8, 8))
    z2 = gaussian(seed + 1, (3, 8, 8))
    z2 = z2 * (z1.norm() / z2.norm())
    mixed = slerp(z1, z2, alpha)
    assert mixed.shape == z1.shape and mixed.dtype == z1.dtype
    torch.testing.assert_close(mixed.norm(), z1.norm(), rtol=1e-5, atol=0)

    def angle(a: torch.Tensor, b: torch.Tensor) -> float:
        a, b = a.flatten().double(), b.flatten().double()
        return math.acos(max(-1.0, min(1.0, float(a @ b / (a.norm() * b.norm())))))

    theta = angle(z1, z2)
    assert angle(z1, mixed) == pytest.approx(alpha * theta, abs=1e-3)
    assert angle(mixed, z2) == pytest.approx((1 - alpha) * theta, abs=1e-3)


@settings_with(20)
@given(st.integers(0, 2**16))
def test_slerp_returns_its_endpoints_at_alpha_zero_and_one(seed: int) -> None:
    z1, z2 = gaussian(seed, (2, 5, 5)), 3 * gaussian(seed + 1, (2, 5, 5))
    torch.testing.assert_close(slerp(z1, z2, 0.0), z1, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(slerp(z1, z2, 1.0), z2, rtol=1e-5, atol=1e-5)


def test_slerp_midpoint_keeps_more_norm_than_the_straight_line() -> None:
    z1, z2 = gaussian(0, (3, 32, 32)), gaussian(1, (3, 32, 32))
    assert slerp(z1, z2, 0.5).norm() > 1.3 * (0.5 * z1 + 0.5 * z2).norm()


def test_slerp_of_parallel_vectors_falls_back_to_the_straight_line() -> None:
    z = gaussian(0, (2, 4, 4))
    mixed = slerp(z, 2 * z, 0.25)
    assert torch.isfinite(mixed).all()
    torch.testing.assert_close(mixed, 1.25 * z)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_interpolate_with_lam_zero_and_an_oracle_model_returns_x1(objective: str) -> None:
    x1, x2 = (image_in_model_space(0) + 1) / 2, (image_in_model_space(1) + 1) / 2  # [0, 1] pixels
    diffusion = make_diffusion(OracleModel(2 * x1 - 1, "cosine", 60, objective), "cosine", 60, objective=objective)
    torch.manual_seed(0)
    torch.testing.assert_close(diffusion.interpolate(x1, x2, lam=0.0), x1, rtol=0, atol=1e-5)
    torch.testing.assert_close(diffusion.interpolate(x1, x2, t=20, lam=0.0), x1, rtol=0, atol=1e-5)


def test_interpolate_denoises_every_step_from_t_down_to_zero() -> None:
    model = RecordingModel()
    diffusion = make_diffusion(model, "linear", 50)
    diffusion.interpolate((image_in_model_space(0) + 1) / 2, (image_in_model_space(1) + 1) / 2, t=7, lam=0.5)
    assert model.timesteps_seen == [[t, t] for t in range(7, -1, -1)]


@pytest.mark.parametrize("lam", [0.0, 0.25, 1.0])
def test_interpolate_starts_from_the_lam_weighted_mix_of_the_noised_images(lam: float) -> None:
    model = RecordingModel()
    diffusion = make_diffusion(model, "linear", 50)
    x1, x2 = (image_in_model_space(0) + 1) / 2, (image_in_model_space(1) + 1) / 2
    with mock.patch.object(torch, "randn_like", torch.zeros_like):  # q_sample without noise
        diffusion.interpolate(x1, x2, t=7, lam=lam)
    signal = float64_alphas_bar("linear", 50)[7].sqrt()
    expected = signal * ((1 - lam) * (2 * x1 - 1) + lam * (2 * x2 - 1))
    torch.testing.assert_close(model.inputs_seen[0], expected.to(torch.float32), rtol=1e-5, atol=1e-6)
