"""Pictures of the generative results, written into the results folder for report.md / report.html.

    samples_beside_real_images.png   up to 64 of the student's samples beside as many real reference images;
                                     samples the memorisation check flags as copies are framed in red
    metric_bands.png                 one bar per metric: the rubric's bands, the points each earns, and the
                                     student's value marked on it (the real data's value too, where known)
    smoke_run_loss_curves.png        the training loss of the student's smoke run and of the reference's,
                                     with the region loss_falls asks the last 10% of steps to reach

grader/output/report_files.py embeds every picture of the results folder, so writing the file is all it takes.

What is drawn comes from the grading, never from the student's files: the samples are the tensors the
sandbox decoded (student_images.py) or regenerated (smoke_probes.py), the losses the arrays the smoke
run returned. They are still the student's numbers, so everything here is bounded (MAX_TILES images of
at most MAX_TILE_PIXELS a side, MAX_CURVE_POINTS points a curve) and takes NaN, inf and absurd values
without raising. A picture is feedback, worth no points: `drawn(...)` runs a drawing function and turns
any failure into one line on stderr, so that a picture that cannot be drawn never costs a score.

Drawing uses matplotlib's Figure directly (the Agg canvas, no pyplot): no global backend, no window.
Text that carries a name (a data set's, a title) is drawn with parse_math=False: a "$" is a dollar sign.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SAMPLES_PICTURE = "samples_beside_real_images.png"
BANDS_PICTURE = "metric_bands.png"
SMOKE_PICTURE = "smoke_run_loss_curves.png"
PICTURES = (SAMPLES_PICTURE, BANDS_PICTURE, SMOKE_PICTURE)

MAX_TILES = 64  # samples shown (and as many real images)
GRID_COLUMNS = 8
MAX_TILE_PIXELS = 128  # a larger image is averaged down to this size before it is drawn
MIN_TILE_PIXELS = 48  # a smaller one (16 x 16 digits) is enlarged by whole pixels so that it can be seen
MAX_CURVE_POINTS = 4000  # a longer loss history is drawn from evenly spaced steps
MARK_COLOUR = "#d62728"  # the frames of copied samples, the student's curve
VALUE_COLOUR = "#000000"  # the student's value on a bar: black stands out on every band's colour
REAL_COLOUR = "#1f4e9c"
DPI = 100


# ---------------------------------------------------------------------------- running a drawing safely


def drawn(name: str, draw: Callable[[], object]) -> object | None:
    """draw()'s result, or None after one line on stderr when it fails: a picture is never worth a score."""
    try:
        return draw()
    except Exception as exc:  # noqa: BLE001 -- any failure to draw is logged, and grading goes on
        text = " ".join(str(exc).split())[:200]
        print(f"grade: the picture {name} was not drawn ({type(exc).__name__}: {text}); the scores are unaffected",
              file=sys.stderr, flush=True)
        return None


def remove_stale(folder: Path) -> None:
    """Remove this module's pictures from `folder`: a results folder graded again must not show the last run's."""
    for name in PICTURES:
        (Path(folder) / name).unlink(missing_ok=True)


def _figure(width_px: float, height_px: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)


def _save(figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    return path


# ---------------------------------------------------------------------------- samples beside real images


def as_rgb_uint8(images: torch.Tensor, limit: int = MAX_TILES) -> torch.Tensor:
    """The first `limit` images of a batch, as (n, 3, h, w) uint8 with h, w <= MAX_TILE_PIXELS.

    (N, C, H, W) with C = 1 (grey, repeated) or 3; uint8 as is, floats read as [0, 1] with NaN -> 0,
    +inf -> 1, -inf -> 0 and everything clamped. A larger image is area-averaged down, keeping its shape.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be (N, 1 or 3, H, W), got {shape}")
    images = images[:limit].detach().cpu()
    if images.dtype != torch.uint8:
        images = torch.nan_to_num(images.double(), nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1)
        images = (images * 255).round().to(torch.uint8)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    height, width = images.shape[2:]
    if max(height, width) > MAX_TILE_PIXELS:
        scale = MAX_TILE_PIXELS / max(height, width)
        size = (max(1, int(height * scale)), max(1, int(width * scale)))
        images = torch.nn.functional.adaptive_avg_pool2d(images.float(), size).round().to(torch.uint8)
    return images.contiguous()


def image_grid(images: torch.Tensor, columns: int = GRID_COLUMNS, pad: int = 2,
               framed: Sequence[bool] | None = None) -> np.ndarray:
    """(n, 3, h, w) uint8 -> one (rows * (h + pad) + pad, columns' width, 3) uint8 picture, row by row.

    Tiles are separated by `pad` light-grey pixels; a tile whose `framed` entry is True gets a frame of
    MARK_COLOUR in that gap instead. Fewer images than columns: the grid is as wide as the images.
    """
    n, _, height, width = images.shape
    columns = max(1, min(columns, n))
    rows = max(1, math.ceil(n / columns))
    grid = np.full((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), 235, dtype=np.uint8)
    mark = np.array([int(MARK_COLOUR[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)
    pixels = images.permute(0, 2, 3, 1).numpy()  # (n, h, w, 3)
    for index in range(n):
        top, left = pad + (index // columns) * (height + pad), pad + (index % columns) * (width + pad)
        if framed is not None and index < len(framed) and framed[index]:
            grid[top - pad:top + height + pad, left - pad:left + width + pad] = mark
        grid[top:top + height, left:left + width] = pixels[index]
    return grid


def _enlarged(grid: np.ndarray, tile: int) -> np.ndarray:
    factor = max(1, math.ceil(MIN_TILE_PIXELS / max(1, tile)))
    return np.kron(grid, np.ones((factor, factor, 1), dtype=np.uint8)) if factor > 1 else grid


def samples_picture(path: Path, samples: torch.Tensor, real: torch.Tensor, *, real_label: str = "real images",
                    copies: Sequence[bool] | None = None, total: int | None = None) -> Path:
    """Write the student's first samples (left) beside as many real images (right); return `path`.

    samples, real: (N, 1 or 3, H, W), uint8 or [0, 1] floats (see as_rgb_uint8). `copies` flags the
    samples the memorisation check found to be copies (framed in red); `total` is how many samples were
    scored, for the title (default: len(samples)).
    """
    shown = as_rgb_uint8(samples)
    if len(shown) == 0:
        raise ValueError("there are no samples to draw")
    real_shown = as_rgb_uint8(real, limit=len(shown))
    flags = [bool(f) for f in list(copies)[:len(shown)]] if copies is not None else None
    tile = max(shown.shape[2], shown.shape[3])
    left = _enlarged(image_grid(shown, framed=flags), tile)
    right = (_enlarged(image_grid(real_shown), max(real_shown.shape[2], real_shown.shape[3])) if len(real_shown)
             else np.full((MIN_TILE_PIXELS, MIN_TILE_PIXELS, 3), 235, dtype=np.uint8))
    margin, title_px, gap = 20, 60, 40
    width = left.shape[1] + right.shape[1] + 2 * margin + gap
    height = max(left.shape[0], right.shape[0]) + title_px + margin
    figure = _figure(width, height)
    total = len(samples) if total is None else total
    copied = sum(flags) if flags else 0
    framed = f" ({copied} framed: copies of training images)" if copied else ""
    titles = (f"your samples: {len(shown)} of {total}{framed}", f"{real_label}: {len(real_shown)}")
    x = margin
    for grid, title in zip((left, right), titles):
        axes = figure.add_axes((x / width, (height - title_px - grid.shape[0]) / height,
                                grid.shape[1] / width, grid.shape[0] / height))
        axes.imshow(grid, interpolation="nearest")
        axes.set_axis_off()
        axes.set_title(title, fontsize=10, parse_math=False)
        x += grid.shape[1] + gap
    return _save(figure, path)


# ---------------------------------------------------------------------------- metric bands


@dataclass(frozen=True)
class Segment:
    """A stretch [start, end] of a metric's axis and what a value there earns."""

    start: float
    end: float
    text: str  # "medium: 7 pts"
    shade: float  # 0 (earns nothing) .. 1 (the most): the colour


@dataclass(frozen=True)
class MetricBar:
    """One row of the bands picture: a metric's axis cut into segments, and the values to mark on it."""

    label: str  # "FID against anime-faces-64 (lower is better)"
    segments: tuple[Segment, ...]  # left to right, covering [low, high]
    value: float  # the student's (NaN: not computed)
    value_text: str  # "75.3"
    real: float | None = None  # the real data's value, drawn dashed
    real_text: str = ""
    note: str = ""  # why the band's points are not what the bar says (too few samples, copies, a gate)


@dataclass(frozen=True)
class Mark:
    """Where bands_picture drew a student's value: in data units and in the PNG's pixels."""

    label: str
    value: float
    x: float  # the value, clipped to the bar's [low, high]
    clipped: bool  # the value lies outside the bar (an arrow at its end), or is not finite
    segment: str  # the text of the segment x lies in ("" when NaN)
    pixel: tuple[int, int]  # (column, row) of the marker's centre in the written PNG


def band_segments(bands, lower_is_better: bool, low: float, high: float) -> tuple[Segment, ...]:
    """The rubric's bands (bands.Band: name, threshold, points) as segments of [low, high], left to right.

    Lower is better (FID): a value <= a band's threshold earns it, so [low, t1] is the best band and
    (t_last, high] earns 0. Higher is better (AFD): a value >= the threshold earns it, [low, t_first) earns 0.
    A band's points are those of the best band its stretch reaches, as bands.py scores.
    """
    best = max((b.points for b in bands), default=0.0) or 1.0
    cuts = sorted({min(max(b.threshold, low), high) for b in bands})
    edges = [low, *[c for c in cuts if low < c < high], high]
    segments = []
    for start, end in zip(edges, edges[1:]):
        probe = end if lower_is_better else start  # the stretch's value that the rule decides on
        reached = [b for b in bands if (probe <= b.threshold if lower_is_better else probe >= b.threshold)]
        top = max(reached, key=lambda b: b.points, default=None)
        text = f"{top.name}: {top.points:g} pts" if top is not None else "0 pts"
        segments.append(Segment(start, end, text, (top.points / best) if top is not None else 0.0))
    return tuple(segments)


def segment_of(segments: Sequence[Segment], x: float, lower_is_better: bool) -> str:
    """The text of the segment holding x; on a shared edge, the one the rubric's rule gives (<= / >=)."""
    if not math.isfinite(x) or not segments:
        return ""
    for segment in segments:
        inside = (segment.start < x <= segment.end) if lower_is_better else (segment.start <= x < segment.end)
        if inside:
            return segment.text
    return segments[0].text if x <= segments[0].start else segments[-1].text


def fid_bar(dataset, fid: float, kid: float | None = None, note: str = "") -> MetricBar:
    """FID on the rubric's FID bands of `dataset` (bands.DatasetMetrics); the axis runs to 1.5 x the loosest.
    `note` says why the band's points are withheld, if they are (too few samples, copies)."""
    loosest = max((b.threshold for b in dataset.fid_bands), default=0.0)
    high = loosest * 1.5 if loosest > 0 else max(1.0, fid * 1.5 if math.isfinite(fid) else 1.0)
    kid_text = f" (KID {kid:.4f}, not scored)" if kid is not None and math.isfinite(kid) else ""
    return MetricBar(f"FID against {dataset.name}{kid_text}: lower is better",
                     band_segments(dataset.fid_bands, True, 0.0, high), fid, f"{fid:.2f}", note=note)


def afd_bar(dataset, rate: float, real_rate: float | None = None, note: str = "") -> MetricBar:
    """The AFD rate on the rubric's AFD bands, on [0, 1], with the real data's rate; `note` as fid_bar's."""
    return MetricBar(f"anime-face detection rate (AFD) on {dataset.name}: higher is better",
                     band_segments(dataset.afd_bands, False, 0.0, 1.0), rate, f"{rate:.1%}", real_rate,
                     f"real data {real_rate:.1%}" if real_rate is not None else "", note)


def accuracy_bar(dataset, accuracy: float, real_accuracy: float | None = None, note: str = "") -> MetricBar:
    """The class-conditional accuracy on the rubric's accuracy bands, on [0, 1], with the classifier's
    accuracy on held-out real digits (what correct samples can reach); chance is 10%."""
    return MetricBar(f"class-conditional accuracy on {dataset.name} (chance 10%): higher is better",
                     band_segments(dataset.accuracy_bands, False, 0.0, 1.0), accuracy, f"{accuracy:.1%}",
                     real_accuracy, f"real digits {real_accuracy:.1%}" if real_accuracy is not None else "", note)


def copies_bar(fraction: float, allowed: float, real: float | None = None) -> MetricBar:
    """The fraction of samples that copy training images: above `allowed`, no FID or AFD points. `real`:
    the real data's own near-copy fraction (each real image against the others)."""
    high = min(1.0, max(4 * allowed, 0.05))
    segments = (Segment(0.0, allowed, "FID and AFD points kept", 1.0),
                Segment(allowed, high, "too many copies: no FID or AFD points", 0.0))
    return MetricBar("samples that copy training images (memorisation check)", segments, fraction, f"{fraction:.1%}",
                     real, f"real images {real:.1%}" if real is not None else "")


def _lower_is_better(bar: MetricBar) -> bool:
    return len(bar.segments) > 1 and bar.segments[0].shade >= bar.segments[-1].shade


def bands_picture(path: Path, bars: Sequence[MetricBar]) -> list[Mark]:
    """Write one row per bar: its segments shaded by the points they earn (green: the most), the student's
    value as a black triangle and line (an arrow at the end when it lies beyond the bar), the real data's
    value dashed; return where each value was drawn."""
    from matplotlib import colormaps

    if not bars:
        raise ValueError("there is no metric to draw")
    row_px, top_px = 130, 20
    width, height = 1000, top_px + row_px * len(bars)
    figure = _figure(width, height)
    colours = colormaps["RdYlGn"]
    placed = []
    for row, bar in enumerate(bars):
        bottom = 1 - (top_px + row_px * (row + 1) - 30) / height
        axes = figure.add_axes((0.04, bottom, 0.92, 42 / height))
        low, high = bar.segments[0].start, bar.segments[-1].end
        for segment in bar.segments:
            axes.barh(0, segment.end - segment.start, left=segment.start, height=1.0,
                      color=colours(0.15 + 0.7 * segment.shade), edgecolor="white")
            if (segment.end - segment.start) / (high - low) > 0.07:
                axes.text((segment.start + segment.end) / 2, 0, segment.text, ha="center", va="center", fontsize=8,
                          parse_math=False)
        axes.set_xlim(low, high)
        axes.set_ylim(-0.5, 1.3)
        axes.set_yticks([])
        axes.tick_params(axis="x", labelsize=8)
        for side in ("top", "right", "left"):
            axes.spines[side].set_visible(False)
        axes.set_title(bar.label + (f"; dashed: {bar.real_text}" if bar.real_text else "")
                       + (f"\n{bar.note}" if bar.note else ""), fontsize=9, loc="left", parse_math=False)
        if bar.real is not None and math.isfinite(bar.real):
            real = min(max(bar.real, low), high)
            axes.axvline(real, color=REAL_COLOUR, linestyle="--", linewidth=2, ymax=0.6)
        x = math.nan if math.isnan(bar.value) else min(max(bar.value, low), high)  # +-inf: the bar's ends
        clipped = not math.isfinite(bar.value) or x != bar.value
        placed.append((axes, bar, x, clipped))
        if math.isnan(x):
            axes.text(low, 1.0, "not computed", fontsize=9, color=VALUE_COLOUR, va="center")
            continue
        axes.axvline(x, color=VALUE_COLOUR, linewidth=2, ymax=0.6)
        marker = ">" if clipped and x >= high else "<" if clipped else "v"
        axes.plot([x], [0.95], marker=marker, markersize=12, color=VALUE_COLOUR, clip_on=False)
        text = f"you: {bar.value_text}" + (" (beyond the axis)" if clipped else "")
        align = "right" if (x - low) / (high - low) > 0.75 else "left"
        axes.text(x + (-1 if align == "right" else 1) * 0.015 * (high - low), 0.95, text, fontsize=9,
                  color=VALUE_COLOUR, ha=align, va="center", fontweight="bold", parse_math=False)
    figure.canvas.draw()  # the transforms below are final only once drawn
    marks = []
    for axes, bar, x, clipped in placed:
        column, row = (axes.transData.transform((x, 0.95)) if math.isfinite(x) else (math.nan, math.nan))
        pixel = (int(round(column)), int(round(height - row))) if math.isfinite(column) else (-1, -1)
        marks.append(Mark(bar.label, bar.value, x, clipped, segment_of(bar.segments, x, _lower_is_better(bar)), pixel))
    _save(figure, path)
    return marks


# ---------------------------------------------------------------------------- smoke run loss curves


@dataclass(frozen=True)
class LossLimit:
    """What loss_falls asks: the mean loss over steps [first_step, last_step] at most `at_most`."""

    first_step: int
    last_step: int
    at_most: float
    text: str


def curve(losses, limit: int = MAX_CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(steps from 1, losses as float64) of a loss history, NaN where it is not finite, magnitudes clipped
    to 1e30 (so that axes can be scaled), at most `limit` evenly spaced points."""
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    steps = np.arange(1, len(values) + 1)
    if len(values) > limit:
        keep = np.unique(np.linspace(0, len(values) - 1, limit).round().astype(int))
        steps, values = steps[keep], values[keep]
    values = np.where(np.isfinite(values), np.clip(values, -1e30, 1e30), np.nan)
    return steps, values


def smoke_picture(path: Path, student_losses, reference_losses, *, title: str, limit: LossLimit | None = None,
                  student_note: str = "") -> Path:
    """Write the two loss histories on one axis (log scale when every loss is positive and they span more
    than 10x), the loss_falls region, and where the student's loss stopped being finite."""
    figure = _figure(900, 480)
    axes = figure.add_axes((0.11, 0.12, 0.86, 0.78))
    drawn_values = []
    if student_losses is not None and len(np.asarray(student_losses).reshape(-1)):
        raw = np.asarray(student_losses, dtype=np.float64).reshape(-1)
        steps, values = curve(raw)
        axes.plot(steps, values, color=MARK_COLOUR, linewidth=1.2, label="your run")
        drawn_values.append(values)
        bad = np.flatnonzero(~np.isfinite(raw))
        if len(bad):
            axes.axvline(bad[0] + 1, color=MARK_COLOUR, linestyle=":", linewidth=1.5,
                         label=f"your loss is not finite from step {bad[0] + 1}")
    if reference_losses is not None and len(np.asarray(reference_losses).reshape(-1)):
        steps, values = curve(reference_losses)
        axes.plot(steps, values, color=REAL_COLOUR, linewidth=1.2, linestyle="--", label="reference run")
        drawn_values.append(values)
    finite = np.concatenate([v[np.isfinite(v)] for v in drawn_values]) if drawn_values else np.zeros(0)
    if limit is not None and math.isfinite(limit.at_most):
        axes.hlines(limit.at_most, limit.first_step, limit.last_step, color="#2ca02c", linewidth=2)
        floor = min(float(finite.min()), limit.at_most) if len(finite) else 0.0
        axes.fill_between([limit.first_step, limit.last_step], [floor, floor], [limit.at_most, limit.at_most],
                          color="#2ca02c", alpha=0.15, label=limit.text)
    if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 10:
        axes.set_yscale("log")
    if student_note:
        axes.text(0.5, 0.5, student_note, transform=axes.transAxes, ha="center", va="center", fontsize=11,
                  color=MARK_COLOUR, parse_math=False)
    axes.set_xlabel("training step")
    axes.set_ylabel("loss")
    axes.set_title(title, fontsize=10, parse_math=False)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="upper right")
    return _save(figure, path)


# ---------------------------------------------------------------------------- what grading calls


def metric_pictures(folder: Path, dataset, reference_images: torch.Tensor, record: dict) -> list[Path]:
    """The samples and bands pictures of one scoring, from what score_samples put in `record` (samples.py),
    into `folder`; those it could draw. Everything, reading `record` included, runs under `drawn`."""
    folder = Path(folder)

    def samples() -> Path | None:
        images = record.get("images")
        if not isinstance(images, torch.Tensor) or not len(images):
            return None  # the samples could not be read: their entries say why
        flags = getattr(record.get("copies"), "flags", None)
        return samples_picture(folder / SAMPLES_PICTURE, images, reference_images, total=len(images),
                               real_label=f"real images ({dataset.name})",
                               copies=None if flags is None else [bool(f) for f in flags[:MAX_TILES]])

    def bands() -> Path | None:
        bars = metric_bars(dataset, record)
        if not bars:
            return None
        bands_picture(folder / BANDS_PICTURE, bars)
        return folder / BANDS_PICTURE

    return [path for path in (drawn(SAMPLES_PICTURE, samples), drawn(BANDS_PICTURE, bands)) if path is not None]


def metric_bars(dataset, record: dict) -> list[MetricBar]:
    """The bars of the bands picture from score_samples' `record`: FID (with KID), AFD (with the real
    data's rate), the class-conditional accuracy (with the classifier's on real digits), and the near-copy
    fraction (with the real data's own) against the fraction allowed."""
    images, copies = record.get("images"), record.get("copies")
    fid, afd, real = record.get("fid"), record.get("afd"), record.get("real_afd")
    allowed = record.get("copies_allowed", getattr(dataset, "max_copied_fraction", None))
    baseline = getattr(record.get("copy_baseline"), "fraction", None)
    note = ""  # the rules of score_samples that withhold every band's points
    if isinstance(images, torch.Tensor) and len(images) < dataset.min_samples:
        note = f"only {len(images)} samples, fewer than {dataset.min_samples}: no points"
    if copies is not None and allowed is not None and float(copies.fraction) > float(allowed):
        note = "too many copies of training images: no points"
    bars = []
    if fid is not None:
        bars.append(fid_bar(dataset, float(fid.fid), float(fid.kid), note))
    if afd is not None:
        rate, real_rate = float(afd.rate), float(real.rate) if real is not None else None
        counted = getattr(dataset, "afd_counted", None)
        if not note and counted is not None and fid is not None and real_rate is not None:
            counted_rate, why = counted(rate, real_rate, float(fid.fid))
            shown = "not counted" if counted_rate is None else f"counted as {counted_rate:.1%}"  # None: FID's gate
            note = f"{shown}: see the AFD check" if why else ""
        bars.append(afd_bar(dataset, rate, real_rate, note))
    accuracy = record.get("accuracy")
    if accuracy is not None:
        real_accuracy = record.get("accuracy_real")
        bars.append(accuracy_bar(dataset, float(accuracy.accuracy),
                                 float(real_accuracy) if real_accuracy is not None else None, note))
    if copies is not None and allowed is not None:
        bars.append(copies_bar(float(copies.fraction), float(allowed), baseline))
    return bars
