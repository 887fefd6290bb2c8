"""The given figures: each writes a readable PNG of the expected size; the helpers' pinned numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion_hw.gaussian_diffusion import GaussianDiffusion
from diffusion_hw.plots import (
    evenly_spaced_steps,
    plot_denoising_progress,
    plot_forward_process,
    plot_loss_curve,
    smooth_losses,
    tile_images,
)
from diffusion_hw.unet import Unet


@pytest.fixture(scope="module")
def diffusion() -> GaussianDiffusion:
    torch.manual_seed(0)
    unet = Unet(dim=8, dim_mults=(1, 2), channels=3)
    return GaussianDiffusion(unet, image_size=8, timesteps=20, beta_schedule="cosine").eval()


def _png_size(path: Path) -> tuple[int, int]:
    assert path.is_file() and path.stat().st_size > 1000, f"{path} is missing or nearly empty"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        return image.size  # (width, height)


def test_forward_process_has_a_row_per_image_and_a_column_per_fraction(diffusion, tmp_path):
    images = torch.rand(3, 3, 8, 8)
    path = plot_forward_process(diffusion, images, tmp_path / "forward.png")
    assert path == tmp_path / "forward.png"
    width, height = _png_size(path)
    assert width > height  # 5 columns, 3 rows


def test_forward_process_accepts_greyscale_images(tmp_path):
    torch.manual_seed(0)
    grey = GaussianDiffusion(Unet(dim=8, dim_mults=(1, 2), channels=1), image_size=8, timesteps=20,
                             beta_schedule="cosine")
    path = plot_forward_process(grey, torch.rand(2, 1, 8, 8), tmp_path / "sub" / "forward.png", fractions=(0, 1))
    _png_size(path)


def test_forward_process_rejects_fractions_outside_zero_one(diffusion, tmp_path):
    with pytest.raises(ValueError, match=r"fractions must be .* in \[0, 1\]"):
        plot_forward_process(diffusion, torch.rand(1, 3, 8, 8), tmp_path / "f.png", fractions=(0, 25, 50))


def test_denoising_progress_samples_and_plots(diffusion, tmp_path):
    torch.manual_seed(0)
    path = plot_denoising_progress(diffusion, tmp_path / "progress.png", num_images=5, num_columns=6)
    width, height = _png_size(path)
    assert width > height  # 6 columns, 5 rows


def test_denoising_progress_plots_a_given_trajectory_without_sampling(tmp_path):
    trajectory = torch.rand(2, 11, 1, 8, 8)  # (B, S + 1, C, H, W) with S = 10
    path = plot_denoising_progress(None, tmp_path / "progress.png", num_images=5, num_columns=4, trajectory=trajectory)
    _png_size(path)


def test_denoising_progress_rejects_a_final_image_instead_of_a_trajectory(tmp_path):
    with pytest.raises(ValueError, match="return_all_timesteps=True"):
        plot_denoising_progress(None, tmp_path / "p.png", trajectory=torch.rand(2, 1, 8, 8))


@pytest.mark.parametrize(
    ("num_steps", "num_columns", "expected"),
    [
        (1000, 5, [0, 250, 500, 750, 1000]),
        (10, 6, [0, 2, 4, 6, 8, 10]),
        (7, 3, [0, 4, 7]),  # 3.5 rounds to even
        (3, 10, [0, 1, 2, 3]),  # never more columns than steps + 1
    ],
)
def test_evenly_spaced_steps_start_at_the_noise_and_end_at_the_sample(num_steps, num_columns, expected):
    assert evenly_spaced_steps(num_steps, num_columns) == expected


def test_loss_curve_from_a_list_and_a_tensor(tmp_path):
    losses = list(np.exp(-np.linspace(0, 3, 200)) + 0.01)
    _png_size(plot_loss_curve(losses, tmp_path / "loss.png"))
    _png_size(plot_loss_curve(torch.tensor(losses), tmp_path / "loss_tensor.png", smoothing=0.0))


def test_loss_curve_with_no_losses_says_to_train_first(tmp_path):
    with pytest.raises(ValueError, match="train for at least one step"):
        plot_loss_curve([], tmp_path / "loss.png")


def test_smoothing_is_a_debiased_exponential_average():
    # m = 0.5 * 0 + 0.5 * 0 = 0 -> 0 / (1 - 0.5);   m = 0.5 * 0 + 0.5 * 1 = 0.5 -> 0.5 / (1 - 0.25)
    assert np.allclose(smooth_losses([0.0, 1.0], 0.5), [0.0, 2 / 3])
    assert np.allclose(smooth_losses([2.0, 2.0, 2.0], 0.9), [2.0, 2.0, 2.0])  # debiased: no warm-up dip
    assert np.allclose(smooth_losses([1.0, 3.0], 0.0), [1.0, 3.0])


def test_smoothing_skips_non_finite_losses():
    assert np.allclose(smooth_losses([1.0, float("nan"), 1.0], 0.5), [1.0, 1.0, 1.0])


def test_tile_images_lays_out_a_padded_grid():
    grey = tile_images(torch.rand(4, 1, 8, 8), nrow=2, padding=2)
    assert grey.shape == (2 + 8 + 2 + 8 + 2,) * 2  # (22, 22): greyscale stays 2-D
    rgb = tile_images(torch.rand(3, 3, 8, 8), nrow=3, padding=0)
    assert rgb.shape == (8, 24, 3)
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
