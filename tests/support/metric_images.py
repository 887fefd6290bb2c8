"""Synthetic test images: smooth colour blobs, generated on the fly (never the real data set)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

BLOB_SET_SIZE = 16


def colour_blobs(
    count: int, seed: int, offset: float = 0.0, size: int = 64, blobs: int = 4, blob_width: float = 0.1
) -> torch.Tensor:
    """(count, 3, size, size) float in [0, 1]: `blobs` soft Gaussian blobs of random colour per image.

    `offset` moves every blob centre right and down (in image widths), giving a second distribution.
    """
    generator = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    images = torch.zeros(count, 3, size, size)
    for image in images:
        for _ in range(blobs):
            colour = torch.rand(3, 1, 1, generator=generator)
            centre_x, centre_y = torch.rand(2, generator=generator) + offset
            width = blob_width * (0.5 + torch.rand(1, generator=generator))
            image += colour * torch.exp(-((x - centre_x) ** 2 + (y - centre_y) ** 2) / width)
    return images.clamp(0, 1)


def write_png_folder(images: torch.Tensor, folder: Path) -> Path:
    """Save (N, 3, H, W) floats in [0, 1] as PNGs, quantised like torchvision's save_image."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = images.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for index, image in enumerate(pixels):
        Image.fromarray(np.ascontiguousarray(image)).save(folder / f"{index:04d}.png")
    return folder
