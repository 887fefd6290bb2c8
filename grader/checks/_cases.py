"""Grader-chosen inputs: drawn under a seed, so every run with the same salt grades the same cases.

`draw(strategy, n, label)` takes n examples of a strategy (grader/checks/_strategies.py) from a stream
seeded by `label`, and tensors are made from seeds with a private torch.Generator (`randn`, `uniform`,
`generator`). Both also depend on the *salt* of the plan being built, a secret string set with
`salted(salt)`:

  * no salt: the handout's fixed cases. grader/grading/public_expected.safetensors is planned so, and students
    replay it with `grade --public-only`; its inputs and the reference's outputs are public.
  * the instructor's salt (grader/grading/salt.py): every drawn example and every tensor is different, public
    checks included, so knowing the handout's cases, or a hidden case seen in an earlier term's
    feedback, tells nothing about what is graded. The same salt gives the same cases, so a regrade
    gives the same score.

Edge cases a check is about (t = 0, T = 1, t_prev = -1, g = 0) stay fixed; only values a student could
otherwise look up change. Seeds that travel to the sandbox as parameters (the noise a probe draws with
torch.manual_seed) go through `case_seed`, for the same reason.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from functools import lru_cache
from typing import Any, Iterator, TypeVar

import torch

from grader.checks import _strategies as st
from grader.grading.reference import Reference

T = TypeVar("T")
Tensor = torch.Tensor

SCHEDULES = ("linear", "cosine", "sigmoid")
OBJECTIVES = ("pred_noise", "pred_x0", "pred_v")
LOSS_TYPES = ("l2", "l1", "huber")
BUFFER_NAMES = (
    "betas", "alphas", "alphas_bar", "alphas_bar_prev", "sqrt_alphas_bar", "sqrt_one_minus_alphas_bar",
    "sqrt_recip_alphas_bar", "sqrt_recipm1_alphas_bar", "posterior_variance",
    "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
)


_SALT: contextvars.ContextVar[str | None] = contextvars.ContextVar("grading_salt", default=None)


@contextlib.contextmanager
def salted(salt: str | None) -> Iterator[None]:
    """Plan under `salt` (None: the handout's fixed cases) until the block ends."""
    token = _SALT.set(salt or None)
    try:
        yield
    finally:
        _SALT.reset(token)


def is_salted() -> bool:
    """True while planning the instructor's cases, False for the handout's fixed ones."""
    return _SALT.get() is not None


def _salted_number(kind: str, value: str, bits: int) -> int:
    digest = hashlib.sha256(f"{_SALT.get()}\0{kind}\0{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**bits)


def case_seed(seed_value: int) -> int:
    """The seed to use for the grader's seed `seed_value`: itself without a salt, else one derived
    from the salt too (in 0 .. 2**31 - 1, so it also fits params sent to torch.manual_seed)."""
    if not is_salted():
        return int(seed_value)
    return _salted_number("seed", str(int(seed_value)), 31)


def draw(strategy: st.SearchStrategy[T], n: int, label: str) -> list[T]:
    """n examples of `strategy`, identical on every run, machine and install for the same `label` and salt.

    Without a salt the stream is seeded by `label` alone (the handout's cases); with one, by a hash of
    the salt and `label`, so every example then depends on the salt."""
    source = st.Source(f"salted:{_salted_number('draw', label, 64)}" if is_salted() else f"label:{label}")
    return [strategy.example_from(source) for _ in range(max(n, 0))]


def fixed_or_salted(fixed: int, low: int, high: int, label: str) -> int:
    """The handout's value `fixed` without a salt; under one, an integer of low .. high other than
    `fixed`, picked by the salt and `label`. For public cases whose answer depends on this value alone
    (a schedule's betas depend on T only): the salted run must not ask what the handout answered."""
    if not is_salted():
        return fixed
    others = [value for value in range(low, high + 1) if value != fixed]
    return others[_salted_number("pick", label, 32) % len(others)]


# ---------------------------------------------------------------------------- strategies

seeds = st.integers(min_value=0, max_value=2**31 - 1)
etas = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(min_value=0.0, max_value=1.0, allow_subnormal=False))


@st.composite
def schedule_and_T(draw_: Any, max_T: int = 1000) -> tuple[str, int]:
    """A schedule and a T for which it is a valid schedule (linear needs T >= 50 to keep beta < 1)."""
    schedule = draw_(st.sampled_from(SCHEDULES))
    low = 50 if schedule == "linear" else 1
    return schedule, draw_(st.integers(min_value=low, max_value=max(low, max_T)))


@st.composite
def image_shapes(draw_: Any, max_batch: int = 4, max_side: int = 6) -> tuple[int, int, int, int]:
    """(B, C, H, W) with H = W (the model is built with image_size = H)."""
    side = draw_(st.integers(min_value=1, max_value=max_side))
    return (draw_(st.integers(1, max_batch)), draw_(st.integers(1, 3)), side, side)


# ---------------------------------------------------------------------------- tensors from seeds


def generator(seed_value: int) -> torch.Generator:
    """A private torch.Generator for the grader's seed `seed_value` (under the salt, if one is set)."""
    return torch.Generator().manual_seed(case_seed(seed_value) % (2**63))


def randn(shape: tuple[int, ...], seed_value: int, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.randn(shape, generator=generator(seed_value), dtype=dtype)


def uniform(
    shape: tuple[int, ...], seed_value: int, low: float, high: float, dtype: torch.dtype = torch.float32
) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator(seed_value), dtype=dtype)


def timesteps_tensor(batch: int, T: int, seed_value: int, include: tuple[int, ...] = ()) -> Tensor:
    """(B,) int64 timesteps in 0 .. T-1: `include` first (clamped into range), then random ones."""
    t = torch.randint(0, T, (batch,), generator=generator(seed_value), dtype=torch.long)
    for i, value in enumerate(include[:batch]):
        t[i] = min(max(int(value), 0), T - 1)
    return t


# ---------------------------------------------------------------------------- reference buffers


@lru_cache(maxsize=512)
def _reference_buffers(reference: Reference, schedule: str, T: int) -> dict[str, Tensor]:
    betas = reference.run("beta_schedule", {}, {"schedule": schedule, "cases": [{"T": T}]})["0.betas"]
    out = reference.run("diffusion_buffers", {"0.betas": betas}, {"cases": [{}]})
    return {name: out[f"0.buffers.{name}"].to(torch.float64) for name in BUFFER_NAMES}


def reference_buffers(reference: Reference, schedule: str, T: int) -> dict[str, Tensor]:
    """The reference's per-timestep buffers (float64, (T,)) of `schedule` with T steps."""
    return dict(_reference_buffers(reference, schedule, int(T)))


def buffer_inputs(index: int, buffers: dict[str, Tensor]) -> dict[str, Tensor]:
    """The probe inputs that install `buffers` in case `index`'s GaussianDiffusion."""
    return {f"{index}.buffers.{name}": value for name, value in buffers.items()}
