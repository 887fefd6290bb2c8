"""Expected-vs-got pictures of a failed check, drawn where a picture says it faster than a number.

A check that fails on values leaves a `Mismatch` (grader/checks/_compare.py): the reference's values
and the submission's, same shape. What is drawn depends on that shape:

    (T,)                      "curve": both as curves over t (a schedule, a buffer), |error| below
    (B, C, H, W), C in 1, 3   "images": a row of expected images, a row of got images, an |error| heat
    (C, H, W), C in 1, 3        map per image (summed over channels); at most MAX_IMAGES images
    (B, C, H, W), other C     "maps": an |error| heat map per image, summed over channels (the noise
                                and variance channels of an estimate)
    anything else, 2+ values  "heatmap": |error| as a 2-D map, the last axis across, the others down
    one value                 nothing: the message's two numbers say it all

The values come from student code, so nothing about them is trusted: NaN and infinities are drawn in
magenta (never used in a colour scale), the colour scales come from finite values only, values
beyond +-1e100 are drawn at +-1e100, at most MAX_VALUES are read, and any failure to draw means
"no picture", never an error. Drawing uses matplotlib's object API with the Agg canvas (no pyplot
state), so gradings in threads may draw at once.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import torch

from grader.checks._compare import Mismatch

MAX_VALUES = 1 << 18
MAX_IMAGES = 4
MAX_HEATMAP_ROWS = 1024  # more rows than pixels in the picture tell nothing more
BAD_COLOUR = "#ff00ff"  # NaN / infinity
DPI = 80
LARGEST = 1e100


def picture_kind(shape: tuple[int, ...]) -> str | None:
    """"curve", "images", "heatmap" or None (nothing worth drawing) for values of `shape`."""
    count = math.prod(shape) if shape else 1
    if count <= 1 or count > MAX_VALUES:
        return None
    if len(shape) == 1:
        return "curve"
    if len(shape) == 4 and shape[1] in (1, 3) and min(shape[2:]) >= 2:
        return "images"
    if len(shape) == 3 and shape[0] in (1, 3) and min(shape[1:]) >= 2:
        return "images"
    if len(shape) == 4 and min(shape[2:]) >= 2:
        return "maps"
    return "heatmap"


def draw_mismatch(mismatch: Mismatch, path: Path, title: str) -> bool:
    """Draw `mismatch` into the PNG file `path`; False (and no file) when there is nothing to draw or
    drawing failed. Never raises: a picture is a courtesy, the message is the feedback."""
    try:
        expected, got = _arrays(mismatch)
        kind = picture_kind(expected.shape)
        if kind is None or got.shape != expected.shape:
            return False
        figure = {"curve": _curve, "images": _images, "maps": _maps, "heatmap": _heatmap}[kind](expected, got)
        figure.suptitle(_short(title), fontsize=9)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(figure).print_png(str(path))
        return True
    except Exception:  # noqa: BLE001 - see the docstring
        try:
            Path(path).unlink(missing_ok=True)
        except Exception:  # noqa: BLE001
            pass
        return False


def _arrays(mismatch: Mismatch) -> tuple[np.ndarray, np.ndarray]:
    expected, got = mismatch.expected, mismatch.got
    if not isinstance(expected, torch.Tensor) or not isinstance(got, torch.Tensor):
        raise TypeError("a mismatch holds tensors")
    if expected.numel() > MAX_VALUES or got.numel() > MAX_VALUES:
        raise ValueError("too many values to draw")
    # Finite values beyond +-LARGEST are drawn there: axis ticks overflow on ranges near 1e308.
    arrays = []
    for values in (expected, got):
        array = values.detach().to("cpu", torch.float64).numpy().copy()
        arrays.append(np.where(np.isfinite(array), np.clip(array, -LARGEST, LARGEST), array))
    return arrays[0], arrays[1]


def _short(text: str, width: int = 80, lines: int = 2) -> str:
    """`text` wrapped at word boundaries into at most `lines` lines (" ..." when cut)."""
    wrapped = textwrap.wrap(" ".join(str(text).split()), width) or [""]
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] += " ..."
    return "\n".join(wrapped)


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)  # fixed margins: a layout engine costs most of the time


def _right_margin(figure, width: float, bottom: float, height: float):
    """Leave 1 inch at the right of `figure` for a colour bar; return the colour bar's axes."""
    right = 1 - 1.0 / width
    figure.subplots_adjust(left=0.03, right=right - 0.01)
    return figure.add_axes((right + 0.1 / width, bottom, 0.15 / width, height))


def _finite_range(*arrays: np.ndarray) -> tuple[float, float]:
    finite = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays])
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def _bad_note(got: np.ndarray) -> str:
    bad = int((~np.isfinite(got)).sum())
    return f"; {bad} NaN / infinite value(s) in magenta" if bad else ""


def _error(expected: np.ndarray, got: np.ndarray) -> np.ndarray:
    """|got - expected|, NaN where either side is not finite (drawn as a bad value)."""
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(got - expected)
    error[~(np.isfinite(got) & np.isfinite(expected))] = np.nan
    return error


def _colour_map(name: str):
    from matplotlib import colormaps

    return colormaps[name].with_extremes(bad=BAD_COLOUR)


def _curve(expected: np.ndarray, got: np.ndarray):
    figure = _figure(6.4, 4.2)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    figure.subplots_adjust(left=0.13, right=0.97, top=0.86, bottom=0.12, hspace=0.08)
    t = np.arange(expected.size)
    shown = np.where(np.isfinite(got), got, np.nan)
    low, high = _finite_range(expected, got)
    marker = "o" if expected.size <= 40 else None
    top.plot(t, expected, color="#1f77b4", linewidth=2.2, marker=marker, markersize=3, label="expected (reference)")
    top.plot(t, shown, color="#d62728", linewidth=1.2, linestyle="--", marker=marker, markersize=3, label="got (yours)")
    bad = ~np.isfinite(got)
    if bad.any():
        top.plot(t[bad], np.full(int(bad.sum()), low), linestyle="none", marker="x", color=BAD_COLOUR,
                 label="NaN / infinite")
    margin = 0.05 * (high - low)
    top.set_ylim(low - margin, high + margin)
    top.legend(fontsize=8, loc="best")
    top.set_ylabel("value")
    error = _error(expected, got)
    bottom.plot(t, np.where(np.isnan(error), np.nan, error), color="#d62728", linewidth=1)
    positive = error[np.isfinite(error) & (error > 0)]
    if positive.size and positive.max() / positive.min() > 100:
        bottom.set_yscale("log")
    bottom.set_ylabel("|got - expected|", fontsize=8)
    bottom.set_xlabel("t (index along the tensor)" + _bad_note(got))
    return figure


def _as_images(values: np.ndarray) -> np.ndarray:
    """(N, C, H, W) from (B, C, H, W) or (C, H, W), at most MAX_IMAGES of them."""
    if values.ndim == 3:
        values = values[None]
    return values[:MAX_IMAGES]


def _display(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """(C, H, W) -> what imshow draws: (H, W) in low..high for one channel, (H, W, 3) in 0..1 for three,
    non-finite pixels masked (one channel) or magenta (three)."""
    if image.shape[0] == 1:
        return np.ma.masked_invalid(image[0])
    scaled = np.clip((np.transpose(image, (1, 2, 0)) - low) / (high - low), 0.0, 1.0)
    bad = ~np.isfinite(scaled).all(axis=-1)
    scaled = np.nan_to_num(scaled, nan=0.0)
    scaled[bad] = (1.0, 0.0, 1.0)
    return scaled


def _error_maps(expected_images: np.ndarray, got_images: np.ndarray) -> np.ndarray:
    """(N, H, W): |error| summed over channels, NaN where any channel is not finite."""
    error = _error(expected_images, got_images)
    return np.where(np.isnan(error).any(axis=1), np.nan, np.nan_to_num(error).sum(axis=1))


def _maps(expected: np.ndarray, got: np.ndarray):
    maps = _error_maps(_as_images(expected), _as_images(got))
    count = maps.shape[0]
    width = 2.2 * count + 1.0
    figure = _figure(width, 2.8)
    axes = figure.subplots(1, count, squeeze=False)[0]
    colour_bar = _right_margin(figure, width, 0.16, 0.7)
    figure.subplots_adjust(top=0.78, bottom=0.12, wspace=0.08)
    high = max(_finite_range(maps)[1], 1e-12)
    shown = None
    for column, axis in enumerate(axes):
        shown = axis.imshow(np.ma.masked_invalid(maps[column]), cmap=_colour_map("magma"), vmin=0.0, vmax=high,
                            interpolation="nearest")
        axis.set_title(f"|error| [{column}]", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(shown, cax=colour_bar)
    more = f"first {count} of {expected.shape[0]}; " if expected.shape[0] > count else ""
    figure.supxlabel(f"{more}summed over the {expected.shape[1]} channels{_bad_note(got)}", fontsize=8)
    return figure


def _images(expected: np.ndarray, got: np.ndarray):
    expected_images, got_images = _as_images(expected), _as_images(got)
    count = expected_images.shape[0]
    low, high = _finite_range(expected_images)  # the reference's scale: a wrong range shows as clipping
    error_maps = _error_maps(expected_images, got_images)
    error_high = _finite_range(error_maps)[1]
    width = 1.9 * count + 1.0
    figure = _figure(width, 5.6)
    axes = figure.subplots(3, count, squeeze=False)
    colour_bar = _right_margin(figure, width, 0.07, 0.26)
    figure.subplots_adjust(top=0.89, bottom=0.06, hspace=0.25, wspace=0.08)
    grey = _colour_map("gray")
    heat = _colour_map("magma")
    shown = None
    for column in range(count):
        for row, (label, images) in enumerate((("expected", expected_images), ("got", got_images))):
            axis = axes[row][column]
            axis.imshow(_display(images[column], low, high), cmap=grey, vmin=low, vmax=high, interpolation="nearest")
            axis.set_title(f"{label} [{column}]", fontsize=8)
        shown = axes[2][column].imshow(np.ma.masked_invalid(error_maps[column]), cmap=heat, vmin=0.0,
                                       vmax=max(error_high, 1e-12), interpolation="nearest")
        axes[2][column].set_title(f"|error| [{column}]", fontsize=8)
    for axis in axes.ravel():
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(shown, cax=colour_bar)
    more = expected.shape[0] - count if expected.ndim == 4 else 0
    figure.supxlabel((f"first {count} of {expected.shape[0]} images; " if more > 0 else "")
                     + "colours on the reference's scale" + _bad_note(got), fontsize=8)
    return figure


def _heatmap(expected: np.ndarray, got: np.ndarray):
    error = _error(expected, got)
    rows = error.reshape(-1, error.shape[-1])
    note = ""
    if rows.shape[0] > MAX_HEATMAP_ROWS:
        note = f"; first {MAX_HEATMAP_ROWS} of {rows.shape[0]} rows"
        rows = rows[:MAX_HEATMAP_ROWS]
    figure = _figure(6.4, 4.0)
    axis = figure.subplots()
    figure.subplots_adjust(left=0.1, right=0.98, top=0.86, bottom=0.14)
    high = _finite_range(rows)[1]
    shown = axis.imshow(np.ma.masked_invalid(rows), cmap=_colour_map("magma"), vmin=0.0, vmax=max(high, 1e-12),
                        aspect="auto", interpolation="nearest")
    figure.colorbar(shown, ax=axis, label="|got - expected|")
    shape = " x ".join(map(str, expected.shape))
    axis.set_xlabel(f"last axis (shape {shape}: the other axes run down){note}{_bad_note(got)}", fontsize=8)
    return figure
