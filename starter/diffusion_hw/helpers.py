"""Tiny helpers that keep every formula in this package one line long."""

from __future__ import annotations

from typing import Any, Callable

import torch


def exists(x: Any) -> bool:
    return x is not None


def default(value: Any, fallback: Any | Callable[[], Any]) -> Any:
    """`value` unless it is None; otherwise `fallback` (called if it is a function)."""
    if exists(value):
        return value
    return fallback() if callable(fallback) else fallback


def extract(a: torch.Tensor, t: torch.Tensor, x_shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Pick a[t] for each batch element and shape it to broadcast against x.

    a: (T,) per-timestep buffer; t: (B,) int64 timesteps; returns (B, 1, 1, ..., 1) with
    len(x_shape) dimensions, so that `extract(a, t, x.shape) * x` scales sample b by a[t_b].
    """
    batch = t.shape[0]
    out = a.gather(-1, t.to(a.device).long())
    return out.reshape(batch, *((1,) * (len(x_shape) - 1)))


def normalize_to_neg_one_to_one(img: torch.Tensor) -> torch.Tensor:
    """[0, 1] pixels -> [-1, 1], the range the diffusion model works in."""
    return img * 2 - 1


def unnormalize_to_zero_to_one(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] model space -> [0, 1] pixels."""
    return (x + 1) * 0.5


def identity(x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


def slerp(z1: torch.Tensor, z2: torch.Tensor, alpha: float) -> torch.Tensor:
    """Spherical linear interpolation between two noise tensors (to morph one sample into another).

        theta = arccos(<z1, z2> / (|z1| |z2|))          the angle between the two, in 0 .. pi
        slerp(z1, z2; a) = sin((1 - a) theta) / sin(theta) z1 + sin(a theta) / sin(theta) z2

    <., .> and |.| run over every element at once (the tensors flattened): one angle for the whole
    tensor, even for a batch. Unlike the straight line (1 - a) z1 + a z2, whose midpoint has norm
    about |z| / sqrt(2) for independent Gaussians, slerp keeps the norm of the noise near sqrt(D), so
    every interpolant still looks like a sample of N(0, I) to the denoiser.

    Args:
        z1, z2: two tensors of the same shape (e.g. (1, C, H, W) starting noises), float32 or float64.
        alpha: a, in [0, 1]: a = 0 gives z1, a = 1 gives z2.
    Returns:
        a tensor of z1's shape, dtype and device; z1 and z2 are left as they are.
    Edge cases: when z1 and z2 are parallel or anti-parallel (sin(theta) = 0, e.g. z2 = 2 z1) the
    formula divides by zero: return the straight line (1 - a) z1 + a z2 there. Clamp the cosine into
    [-1, 1] before arccos (rounding can push it just past 1, and arccos then gives NaN).
    Hint: compute theta in float64; torch.where picks between the two results without a Python `if`.
    """
    flat1, flat2 = z1.flatten().double(), z2.flatten().double()
    cos_theta = (flat1 @ flat2 / (flat1.norm() * flat2.norm())).clamp(-1.0, 1.0)
    theta = torch.arccos(cos_theta)
    sin_theta = torch.sin(theta)
    parallel = sin_theta.abs() < 1e-7
    safe_sin = torch.where(parallel, torch.ones_like(sin_theta), sin_theta)
    w1 = torch.where(parallel, 1.0 - cos_theta.new_tensor(alpha), torch.sin((1 - alpha) * theta) / safe_sin)
    w2 = torch.where(parallel, cos_theta.new_tensor(alpha), torch.sin(alpha * theta) / safe_sin)
    return (w1 * z1.double() + w2 * z2.double()).to(z1.dtype)
