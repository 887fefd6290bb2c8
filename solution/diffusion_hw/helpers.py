"""Tiny helpers that keep every formula in this package one line long."""

from __future__ import annotations

import math
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

        theta = arccos(<z1, z2> / (|z1| |z2|))
        slerp(z1, z2; a) = sin((1 - a) theta) / sin(theta) * z1 + sin(a theta) / sin(theta) * z2

    Unlike the straight line (1 - a) z1 + a z2, whose midpoint has norm about |z| / sqrt(2) for
    independent Gaussians, slerp keeps the norm of the noise near sqrt(D), so every interpolant still
    looks like a sample of N(0, I) to the denoiser. Falls back to linear interpolation when z1 and z2
    are (anti)parallel, where theta is 0 or pi and the formula divides by zero.
    """
    flat1, flat2 = z1.flatten().double(), z2.flatten().double()
    cos_theta = (flat1 @ flat2 / (flat1.norm() * flat2.norm())).clamp(-1.0, 1.0)
    theta = torch.arccos(cos_theta)
    if math.isclose(float(torch.sin(theta)), 0.0, abs_tol=1e-7):
        return (1 - alpha) * z1 + alpha * z2
    w1 = torch.sin((1 - alpha) * theta) / torch.sin(theta)
    w2 = torch.sin(alpha * theta) / torch.sin(theta)
    return (w1 * z1.double() + w2 * z2.double()).to(z1.dtype)
