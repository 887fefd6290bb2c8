"""Tolerant tensor comparison that explains itself: shape, dtype, NaN, and the worst error and where.

Every value is compared in float64 as |got - expected| <= atol + rtol * |expected|. The tolerances
admit every correct implementation (float32 or float64 buffers, gather or indexing, diffusers-style
formulas) and reject every known mistake; tests/grader/test_corpus.py proves both on a corpus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from grader.checks import Fail

Tensor = torch.Tensor


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"{self.atol:g} + {self.rtol:g}*|expected|"


SCHEDULE = Tolerance(rtol=1e-5, atol=1e-7)  # float64 schedules (float32 ones pass too)
BUFFERS = Tolerance(rtol=1e-5, atol=1e-7)
FLOAT32 = Tolerance(rtol=1e-4, atol=1e-4)  # outputs computed with float32 buffers (diffusers-style formulas lose ~1e-4 at small t)
SCALAR_LOSS = Tolerance(rtol=1e-4, atol=1e-6)
PROPERTY = Tolerance(rtol=0.0, atol=2e-4)  # oracle chains: a few float32 steps of rounding
CHAIN = Tolerance(rtol=1e-4, atol=1e-4)  # a whole sampling chain against the reference's

Where = Callable[[tuple[int, ...]], str]


def _index(flat: int, shape: Sequence[int]) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))


def _fmt_index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, index)) + "]"


def check_tensor(
    what: str,
    got: Tensor | None,
    expected: Tensor,
    tol: Tolerance,
    *,
    where: Where | None = None,
    show_values: bool = True,
    hint: str = "",
) -> None:
    """Raise Fail with a specific message unless `got` matches `expected` within `tol`."""
    if got is None:
        raise Fail(f"{what} is missing from the result")
    if not isinstance(got, Tensor):
        raise Fail(f"{what} is a {type(got).__name__}, not a tensor")
    check_shape(what, got, tuple(expected.shape))
    if not (got.is_floating_point() or got.is_complex()):
        raise Fail(f"{what} has dtype {got.dtype}; a floating-point tensor was expected (e.g. {expected.dtype})")
    if got.is_complex():
        raise Fail(f"{what} has complex dtype {got.dtype}; a real floating-point tensor was expected")
    g, e = got.detach().to(torch.float64).flatten(), expected.detach().to(torch.float64).flatten()
    located = (lambda i: where(_index(i, expected.shape))) if where else (lambda i: f"at index {_fmt_index(_index(i, expected.shape))}")
    suffix = f": {hint}" if hint else ""
    for bad, word in ((torch.isnan(g) & ~torch.isnan(e), "NaN"), (torch.isinf(g) & ~torch.isinf(e), "infinite")):
        if bool(bad.any()):
            first = int(torch.nonzero(bad)[0])
            count = int(bad.sum())
            raise Fail(f"{what} is {word} {located(first)} ({count} of {g.numel()} values){suffix}")
    both_equal = (g == e) | (torch.isnan(g) & torch.isnan(e))
    error = torch.where(both_equal, torch.zeros_like(g), (g - e).abs())
    bound = tol.atol + tol.rtol * e.abs()
    bad = (error > bound) & ~both_equal
    if bool(bad.any()):
        worst = int(torch.argmax(torch.where(bad, error, torch.zeros_like(error))))
        detail = f"max abs error {float(error[worst]):.3g} {located(worst)}"
        if show_values:
            detail += f" (got {float(g[worst]):.7g}, expected {float(e[worst]):.7g})"
        detail += f"; {int(bad.sum())} of {g.numel()} values are outside the tolerance {tol}"
        raise Fail(f"{what} has wrong values: {detail}{suffix}", float((error / bound).max()))


def check_shape(what: str, got: Tensor, expected: tuple[int, ...], hint: str = "") -> None:
    if tuple(got.shape) != tuple(expected):
        extra = f": {hint}" if hint else ""
        if got.dim() == 0 and len(expected) > 0:
            extra = extra or ": it should keep the input's shape, not reduce it to a scalar"
        raise Fail(f"{what} has shape {tuple(got.shape)} but {tuple(expected)} was expected{extra}")


def close(got: Tensor | None, expected: Tensor | None, tol: Tolerance) -> bool:
    """True when `got` has `expected`'s shape and values within `tol` (no message)."""
    if not isinstance(got, Tensor) or not isinstance(expected, Tensor):
        return False
    try:
        check_tensor("value", got, expected, tol)
    except Fail:
        return False
    return True


def fmt_values(values: Tensor | Sequence[float], limit: int = 8) -> str:
    # Only what is shown is converted: `values` may be a student's output of any size.
    items = values.flatten()[: limit + 1].tolist() if isinstance(values, Tensor) else list(values)[: limit + 1]
    text = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in items[:limit])
    return f"[{text}{', ...' if len(items) > limit else ''}]"
