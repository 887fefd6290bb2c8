"""Noise schedules beta_1..beta_T and the quantities the diffusion process derives from them.

Notation (Ho et al. 2020, "Denoising Diffusion Probabilistic Models"), with timesteps indexed
t = 0 .. T-1 in code (t = 0 is the first, least noisy step):

    alpha_t       = 1 - beta_t
    alpha_bar_t   = prod_{s <= t} alpha_s                (the signal kept after t + 1 steps)
    q(x_t | x_0)  = N(x_t; sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)

Every function here computes in float64: alpha_bar_t is a product of up to 1,000 factors, and in
float32 the posterior variance at t = 0 and the cosine tail near beta = 0.999 lose their digits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

BETA_SCHEDULES = ("linear", "cosine", "sigmoid")


def linear_beta_schedule(timesteps: int) -> torch.Tensor:
    """Linearly spaced betas (Ho et al. 2020), rescaled so that any T gives the same total noise.

        scale  = 1000 / T
        beta_t = linspace(scale * 1e-4, scale * 0.02, T)[t]        t = 0 .. T-1

    With T = 1000 this is the paper's beta_1 = 1e-4 ... beta_T = 0.02.

    Args:
        timesteps: T, the number of diffusion steps (>= 1).
    Returns:
        betas: (T,) float64, increasing, first element scale * 1e-4, last scale * 0.02.
    """
    scale = 1000 / timesteps
    return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)


def cosine_beta_schedule(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Cosine schedule (Nichol & Dhariwal 2021, "Improved DDPM", eq. 17).

        f(u)          = cos(((u / T) + s) / (1 + s) * pi / 2) ** 2      u = 0 .. T
        alpha_bar(u)  = f(u) / f(0)
        beta_t        = 1 - alpha_bar(t + 1) / alpha_bar(t)              t = 0 .. T-1
        beta_t        = clip(beta_t, 0, 0.999)

    The clip keeps the last steps (where alpha_bar -> 0) from having beta = 1, which would make the
    reverse process singular; it is the same as clipping alpha_t to [0.001, 1].

    Args:
        timesteps: T (>= 1).
        s: small offset so that beta_0 is not vanishingly small.
    Returns:
        betas: (T,) float64 in [0, 0.999]; the last one is exactly 0.999 for the usual T.
    """
    u = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64)
    f = torch.cos(((u / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
    alphas_bar = f / f[0]
    betas = 1 - (alphas_bar[1:] / alphas_bar[:-1])
    return torch.clip(betas, 0, 0.999)


def sigmoid_beta_schedule(
    timesteps: int, start: float = -3.0, end: float = 3.0, tau: float = 1.0
) -> torch.Tensor:
    """Sigmoid schedule (Jabri et al. 2022, "Scalable Adaptive Computation", used by lucidrains).

        v(z)          = sigmoid(z / tau)
        g(u)          = (v(end) - sigmoid(((u / T) * (end - start) + start) / tau)) / (v(end) - v(start))
        alpha_bar(u)  = g(u) / g(0)                                         u = 0 .. T
        beta_t        = clip(1 - alpha_bar(t + 1) / alpha_bar(t), 0, 0.999)  t = 0 .. T-1

    Args:
        timesteps: T (>= 1).
        start, end, tau: the sigmoid's input range and temperature.
    Returns:
        betas: (T,) float64 in [0, 0.999].
    """
    u = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64) / timesteps
    v_start = torch.tensor(start / tau, dtype=torch.float64).sigmoid()
    v_end = torch.tensor(end / tau, dtype=torch.float64).sigmoid()
    g = (v_end - ((u * (end - start) + start) / tau).sigmoid()) / (v_end - v_start)
    alphas_bar = g / g[0]
    betas = 1 - (alphas_bar[1:] / alphas_bar[:-1])
    return torch.clip(betas, 0, 0.999)


LINEAR_MIN_TIMESTEPS = 21  # the smallest T whose last linear beta, 20 / T, is below 1


def make_beta_schedule(name: str, timesteps: int, **kwargs: float) -> torch.Tensor:
    """The betas of schedule `name` ("linear", "cosine" or "sigmoid"), float64 of shape (T,).

    This is what GaussianDiffusion uses, so it refuses a linear schedule with T < 21: the linear
    schedule's last beta is 20 / T, and beta >= 1 makes alpha_bar 0 (or negative) and the reverse
    process singular. linear_beta_schedule itself stays lucidrains' formula for every T.
    """
    if timesteps < 1:
        raise ValueError(f"timesteps must be a positive integer, got {timesteps!r}")
    if name == "linear" and timesteps < LINEAR_MIN_TIMESTEPS:
        raise ValueError(
            f"beta_schedule='linear' needs timesteps >= {LINEAR_MIN_TIMESTEPS} (its last beta is 20 / T, so "
            f"T = {timesteps} gives beta >= 1); use more timesteps or beta_schedule='cosine'"
        )
    if name == "linear":
        return linear_beta_schedule(timesteps, **kwargs)
    if name == "cosine":
        return cosine_beta_schedule(timesteps, **kwargs)
    if name == "sigmoid":
        return sigmoid_beta_schedule(timesteps, **kwargs)
    raise ValueError(f"unknown beta_schedule {name!r}: choose one of {', '.join(BETA_SCHEDULES)}")


def compute_diffusion_buffers(betas: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every per-timestep quantity the forward and reverse processes use.

    From betas (T,) compute, in float64, each of shape (T,), for t = 0 .. T-1:

        alphas                        = 1 - beta_t
        alphas_bar                    = cumprod(alphas)                     alpha_bar_t
        alphas_bar_prev               = [1, alphas_bar[0], ..., alphas_bar[T-2]]
                                        (alpha_bar_{t-1}, with alpha_bar_{-1} = 1: x_{-1} is x_0)
        posterior_variance            = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)
                                        (beta-tilde_t, the variance of q(x_{t-1} | x_t, x_0); it is 0 at t = 0)
        posterior_log_variance_clipped = log(max(posterior_variance, 1e-20))
                                        (clipped because the variance is 0 at t = 0)
        posterior_mean_coef1          = beta_t sqrt(alpha_bar_{t-1}) / (1 - alpha_bar_t)
        posterior_mean_coef2          = (1 - alpha_bar_{t-1}) sqrt(alpha_t) / (1 - alpha_bar_t)
                                        (mu-tilde_t(x_t, x_0) = coef1 * x_0 + coef2 * x_t, Ho et al. eq. 7)

    The square roots the other formulas need (sqrt_alphas_bar, sqrt_one_minus_alphas_bar,
    sqrt_recip_alphas_bar, sqrt_recipm1_alphas_bar) are derived from these for you.

    Args:
        betas: (T,) tensor of betas in (0, 1), any float dtype.
    Returns:
        dict name -> (T,) float64 tensor.
    """
    betas = betas.to(torch.float64)
    alphas = 1.0 - betas
    alphas_bar = torch.cumprod(alphas, dim=0)
    alphas_bar_prev = F.pad(alphas_bar[:-1], (1, 0), value=1.0)
    posterior_variance = betas * (1.0 - alphas_bar_prev) / (1.0 - alphas_bar)
    posterior_log_variance_clipped = torch.log(posterior_variance.clamp(min=1e-20))
    posterior_mean_coef1 = betas * torch.sqrt(alphas_bar_prev) / (1.0 - alphas_bar)
    posterior_mean_coef2 = (1.0 - alphas_bar_prev) * torch.sqrt(alphas) / (1.0 - alphas_bar)
    return {
        "betas": betas,
        "alphas": alphas,
        "alphas_bar": alphas_bar,
        "alphas_bar_prev": alphas_bar_prev,
        "sqrt_alphas_bar": torch.sqrt(alphas_bar),
        "sqrt_one_minus_alphas_bar": torch.sqrt(1.0 - alphas_bar),
        "sqrt_recip_alphas_bar": torch.sqrt(1.0 / alphas_bar),
        "sqrt_recipm1_alphas_bar": torch.sqrt(1.0 / alphas_bar - 1),
        "posterior_variance": posterior_variance,
        "posterior_log_variance_clipped": posterior_log_variance_clipped,
        "posterior_mean_coef1": posterior_mean_coef1,
        "posterior_mean_coef2": posterior_mean_coef2,
    }
