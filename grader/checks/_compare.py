"""Tolerant tensor comparison that explains itself: shape, dtype, NaN, and the worst error and where.

Every value is compared in float64 as |got - expected| <= atol + rtol * |expected|. The tolerances
admit every correct implementation (float32 or float64 buffers, gather or indexing, diffusers-style
formulas) and reject every known mistake; tests/checks/test_corpus.py proves both on a corpus.

A failed comparison of values (wrong values, NaN, infinities: the shapes already agree) can also be
kept for a picture: inside `recording_mismatches()`, each such failure appends a `Mismatch` holding
the expected and the got values (float64 copies, bounded in size). The session keeps the one whose
message the check reported, and grader/output/check_pictures.py draws it next to that message in the report.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

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
# outputs computed with float32 buffers: diffusers-style formulas, also correct, differ from the reference's by up to
# this much at small t
FLOAT32 = Tolerance(rtol=1e-4, atol=1e-4)
SCALAR_LOSS = Tolerance(rtol=1e-4, atol=1e-6)
PROPERTY = Tolerance(rtol=0.0, atol=2e-4)  # oracle chains: a few float32 steps of rounding
CHAIN = Tolerance(rtol=1e-4, atol=1e-4)  # a whole sampling chain against the reference's

Where = Callable[[tuple[int, ...]], str]

MAX_RECORDED_VALUES = 1 << 18  # a mismatch larger than this is reported in words only (no picture)


@dataclass(frozen=True)
class Mismatch:
    """The values of one failed comparison: `expected` and `got` have the same shape (float64, CPU).

    `message` is the Fail message check_tensor raised for them; the check's reported message contains
    it when this is the case the check reports."""

    message: str
    expected: Tensor = field(repr=False)
    got: Tensor = field(repr=False)


_RECORDED: contextvars.ContextVar[list[Mismatch] | None] = contextvars.ContextVar("recorded_mismatches", default=None)


@contextlib.contextmanager
def recording_mismatches() -> Iterator[list[Mismatch]]:
    """Collect every value mismatch check_tensor fails on until the block ends (into the list yielded)."""
    found: list[Mismatch] = []
    token = _RECORDED.set(found)
    try:
        yield found
    finally:
        _RECORDED.reset(token)


@contextlib.contextmanager
def _not_recording() -> Iterator[None]:
    token = _RECORDED.set(None)
    try:
        yield
    finally:
        _RECORDED.reset(token)


def _failed_values(message: str, got: Tensor, expected: Tensor, severity: float = float("inf")) -> Fail:
    """The Fail for wrong values; recorded as a Mismatch when a recording is on."""
    recorded = _RECORDED.get()
    if recorded is not None and expected.numel() <= MAX_RECORDED_VALUES and tuple(got.shape) == tuple(expected.shape):
        recorded.append(Mismatch(message, expected.detach().to("cpu", torch.float64).clone(),
                                 got.detach().to("cpu", torch.float64).clone()))
    return Fail(message, severity)


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
    located = (
        (lambda i: where(_index(i, expected.shape)))
        if where
        else (lambda i: f"at index {_fmt_index(_index(i, expected.shape))}")
    )
    suffix = f": {hint}" if hint else ""
    for bad, word in ((torch.isnan(g) & ~torch.isnan(e), "NaN"), (torch.isinf(g) & ~torch.isinf(e), "infinite")):
        if bool(bad.any()):
            first = int(torch.nonzero(bad)[0])
            count = int(bad.sum())
            raise _failed_values(
                f"{what} is {word} {located(first)} ({count} of {g.numel()} values){suffix}", got, expected
            )
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
        raise _failed_values(f"{what} has wrong values: {detail}{suffix}", got, expected, float((error / bound).max()))


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
        with _not_recording():  # a probe of alternatives, not the check's verdict
            check_tensor("value", got, expected, tol)
    except Fail:
        return False
    return True


def fmt_values(values: Tensor | Sequence[float], limit: int = 8) -> str:
    # Only what is shown is converted: `values` may be a student's output of any size.
    items = values.flatten()[: limit + 1].tolist() if isinstance(values, Tensor) else list(values)[: limit + 1]
    text = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in items[:limit])
    return f"[{text}{', ...' if len(items) > limit else ''}]"
