"""The homework's figures, written as PNG files: forward process, denoising progress, loss curve.

Given code (no TODOs here). Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so
importing this module never changes the backend of a notebook, and it works on machines without a
display. Every function returns the path it wrote.

    plot_forward_process     rows = images, columns = x_t ~ q(x_t | x_0) at fractions of T
    plot_denoising_progress  rows = samples, columns = evenly spaced reverse steps
    plot_loss_curve          the raw loss per step and an exponentially smoothed copy
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torchvision.utils import make_grid

CELL_INCHES = 1.4  # width and height of one image in the grids


# ---------------------------------------------------------------------------------- helpers


def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) tensor in [0, 1] -> (H, W) (C = 1) or (H, W, 3) (C = 3) float numpy array, clipped."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected one image (C, H, W) with C = 1 or 3, got shape {tuple(image.shape)}")
    array = image.detach().float().clamp(0.0, 1.0).cpu().numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def tile_images(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile (N, C, H, W) images in [0, 1] into one (H', W') or (H', W', 3) array for imshow.

    nrow images per row (default: ceil(sqrt(N)), a near-square grid), `padding` pixels of
    `pad_value` between them.
    """
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"expected a non-empty batch (N, C, H, W), got shape {tuple(images.shape)}")
    nrow = nrow or int(np.ceil(np.sqrt(images.shape[0])))
    grid = make_grid(images.detach().float().clamp(0.0, 1.0).cpu(), nrow=nrow, padding=padding, pad_value=pad_value)
    return to_numpy_image(grid[:1] if images.shape[1] == 1 else grid)  # make_grid repeats C = 1 to 3


def evenly_spaced_steps(num_steps: int, num_columns: int) -> list[int]:
    """Column steps of the denoising figure: round(linspace(0, S, n)), without repeats.

    Always starts at 0 (the pure noise) and ends at S (the final sample); at most S + 1 of them.
    evenly_spaced_steps(1000, 5) == [0, 250, 500, 750, 1000].
    """
    count = min(num_columns, num_steps + 1)
    return sorted(set(np.linspace(0, num_steps, count).round().astype(int).tolist()))


def _image_grid_figure(
    columns: Sequence[torch.Tensor], titles: Sequence[str], suptitle: str
) -> Figure:
    """A figure with one column per (N, C, H, W) tensor in [0, 1]: N rows, titles on the top row."""
    num_rows, num_cols = columns[0].shape[0], len(columns)
    fig = Figure(figsize=(CELL_INCHES * num_cols, CELL_INCHES * num_rows + 0.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(num_rows, num_cols, squeeze=False)
    for col, (images, title) in enumerate(zip(columns, titles)):
        for row in range(num_rows):
            ax = axes[row, col]
            ax.imshow(to_numpy_image(images[row]), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=9)
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path


# ---------------------------------------------------------------------------------- figures


@torch.no_grad()
def plot_forward_process(
    diffusion, images: torch.Tensor, path: str | os.PathLike,
    fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 0.99), seed: int = 0,
) -> Path:
    """The forward-process figure: each image (row) noised to t = int(f T) for each f (column).

        x_t = diffusion.q_sample(normalize(x_0), t, eps)         shown as unnormalize(x_t), clipped

    One eps per image (drawn from `seed`) is shared by the columns, so a row shows the same noise
    growing as alpha_bar_t shrinks.

    Args:
        diffusion: a GaussianDiffusion (uses q_sample, normalize, unnormalize, num_timesteps).
        images: (N, C, H, W) in [0, 1], e.g. the first training batch; N rows.
        path: the PNG to write.
        fractions: fractions of T in [0, 1]; t = min(int(f T), T - 1).
    Returns:
        the path written.
    """
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty batch (N, C, H, W) in [0, 1], got shape {tuple(images.shape)}")
    if not fractions or any(not 0.0 <= f <= 1.0 for f in fractions):
        raise ValueError(f"fractions must be a non-empty list of numbers in [0, 1], got {list(fractions)}")
    num_timesteps = diffusion.num_timesteps
    x_start = diffusion.normalize(images.to(diffusion.device).float())  # (N, C, H, W) in [-1, 1]
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(x_start.shape, generator=generator).to(x_start.device)  # (N, C, H, W)

    columns, titles = [], []
    for f in fractions:
        t = min(int(f * num_timesteps), num_timesteps - 1)
        batched_t = torch.full((x_start.shape[0],), t, device=x_start.device, dtype=torch.long)  # (N,)
        columns.append(diffusion.unnormalize(diffusion.q_sample(x_start, batched_t, noise)))
        titles.append(f"t = {t} ({f:.0%})")
    return _save(_image_grid_figure(columns, titles, "forward process q(x_t | x_0)"), path)


@torch.no_grad()
def plot_denoising_progress(
    diffusion, path: str | os.PathLike, num_images: int = 5, num_columns: int = 6,
    class_labels: torch.Tensor | None = None, guidance_scale: float = 1.0,
    trajectory: torch.Tensor | None = None,
) -> Path:
    """The denoising-progress figure: `num_images` samples (rows) at evenly spaced steps of the reverse process.

    The trajectory comes from diffusion.sample(num_images, ..., return_all_timesteps=True), shape
    (B, S + 1, C, H, W) in [0, 1]: the starting noise, then the image after each of the S steps
    (S = T for DDPM, sampling_timesteps for DDIM). Columns are the steps
    round(linspace(0, S, num_columns)), so the first is the pure noise and the last the final sample.

    Args:
        diffusion: a GaussianDiffusion (only used when `trajectory` is None).
        path: the PNG to write.
        num_images: rows.
        num_columns: columns (at most S + 1).
        class_labels, guidance_scale: passed to sample() for a class-conditional model.
        trajectory: an already sampled (B, S + 1, C, H, W) trajectory in [0, 1], to plot instead
            of sampling again.
    Returns:
        the path written.
    """
    if num_images < 1 or num_columns < 2:
        raise ValueError(f"need num_images >= 1 and num_columns >= 2, got {num_images} and {num_columns}")
    if trajectory is None:
        trajectory = diffusion.sample(
            batch_size=num_images, class_labels=class_labels, guidance_scale=guidance_scale,
            return_all_timesteps=True,
        )
    if trajectory.ndim != 5:
        raise ValueError(
            f"the trajectory must be (B, S + 1, C, H, W) (sample(..., return_all_timesteps=True)), "
            f"got shape {tuple(trajectory.shape)}"
        )
    trajectory = trajectory[:num_images]
    num_steps = trajectory.shape[1] - 1  # S
    steps = evenly_spaced_steps(num_steps, num_columns)
    columns = [trajectory[:, s] for s in steps]  # each (B, C, H, W)
    titles = ["noise" if s == 0 else f"step {s}/{num_steps}" for s in steps]
    return _save(_image_grid_figure(columns, titles, "reverse process (denoising)"), path)


def smooth_losses(losses: Sequence[float] | np.ndarray, smoothing: float = 0.9) -> np.ndarray:
    """Debiased exponential moving average (as TensorBoard's smoothing slider).

        m_i = smoothing m_{i-1} + (1 - smoothing) loss_i,   m_{-1} = 0;   out_i = m_i / (1 - smoothing ** (i + 1))

    Non-finite losses are skipped (the average carries over them). smoothing = 0 returns the input.
    """
    values = np.asarray(losses, dtype=np.float64)
    out = np.empty_like(values)
    mean, count = 0.0, 0
    for i, value in enumerate(values):
        if np.isfinite(value):
            mean = smoothing * mean + (1.0 - smoothing) * value
            count += 1
        out[i] = mean / (1.0 - smoothing**count) if count else np.nan
    return out


def plot_loss_curve(
    losses: Sequence[float] | np.ndarray | torch.Tensor, path: str | os.PathLike,
    smoothing: float = 0.9, log_scale: bool = True,
) -> Path:
    """The training loss curve: the loss of every training step, faint, and its smoothed copy.

    Args:
        losses: one loss per step (Trainer.losses, or the list train() returns).
        path: the PNG to write.
        smoothing: in [0, 1); the weight of smooth_losses (0: no smoothed curve).
        log_scale: a logarithmic y axis (diffusion losses fall by orders of magnitude), used only
            when every finite loss is positive.
    Returns:
        the path written.
    """
    if isinstance(losses, torch.Tensor):
        losses = losses.detach().cpu().numpy()
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("no losses to plot: train for at least one step (Trainer.losses is empty)")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    steps = np.arange(1, values.size + 1)
    finite = values[np.isfinite(values)]

    fig = Figure(figsize=(8, 4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(steps, values, color="tab:blue", alpha=0.3 if smoothing > 0 else 1.0, linewidth=0.8, label="loss")
    if smoothing > 0:
        ax.plot(steps, smooth_losses(values, smoothing), color="tab:blue", linewidth=1.6,
                label=f"smoothed ({smoothing:g})")
    if log_scale and finite.size and (finite > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    ax.set_title("training loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)
