"""One entry point for every metric's images: a folder of image files or an in-memory batch.

Every metric first turns its input into the same thing, an 8-bit batch `(N, 3, H, W) uint8`, because
FID and its reference statistics are defined on 8-bit images: a float batch and the PNGs written from
it must give identical numbers (and identical cache keys).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image

# The still-image formats clean-fid reads from a folder (its `.npy` arrays are not supported here).
IMAGE_EXTENSIONS = frozenset({".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"})

ImageSource = Union[str, Path, torch.Tensor, np.ndarray]


def list_image_files(folder: str | Path) -> list[Path]:
    """All image files under `folder` (recursively, like clean-fid), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist or is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(
            f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) found under {folder}: "
            "write the samples as PNGs there, or pass the images as a tensor"
        )
    return files


def load_image_folder(folder: str | Path) -> torch.Tensor:
    """Read every image under `folder` as RGB (grey and palette images converted as clean-fid does).

    Returns (N, 3, H, W) uint8. All images must share one size.
    """
    files = list_image_files(folder)
    arrays = []
    for path in files:
        with Image.open(path) as image:
            arrays.append(np.asarray(image.convert("RGB")))  # (H, W, 3) uint8
        if arrays[-1].shape != arrays[0].shape:
            raise ValueError(
                f"{path} is {arrays[-1].shape[1]}x{arrays[-1].shape[0]} but {files[0]} is "
                f"{arrays[0].shape[1]}x{arrays[0].shape[0]}: all images of a set must have one size"
            )
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)


def to_uint8(images: torch.Tensor | np.ndarray, name: str = "images") -> torch.Tensor:
    """Validate a batch and quantise it to 8 bits, on the CPU.

    Accepts (N, C, H, W) with C = 3 (RGB) or C = 1 (grey, repeated to RGB), either uint8 in [0, 255] or
    floating point in [0, 1]. Floats are quantised as torchvision's `save_image` does,
    q = floor(255 x + 0.5), so a tensor and the PNGs saved from it are the same images.
    Returns (N, 3, H, W) uint8.
    """
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a folder path or a (N, 3, H, W) tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} has shape {tuple(images.shape)} but (N, 3, H, W) or (N, 1, H, W) was expected"
            + (": add the batch dimension with images[None]" if images.ndim == 3 else "")
        )
    if images.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch")
    images = images.detach().cpu()
    if images.dtype == torch.uint8:
        quantised = images
    elif images.is_floating_point():
        if not torch.isfinite(images).all():
            raise ValueError(f"{name} contains NaN or infinite values: the sampler diverged")
        low, high = images.min().item(), images.max().item()
        if low < 0.0 or high > 1.0:
            hint = " (it looks like [-1, 1]: pass (x + 1) / 2)" if low < 0.0 else ""
            raise ValueError(
                f"{name} has values in [{low:.4g}, {high:.4g}] but floats must lie in [0, 1]{hint}; "
                "clamp the samples with x.clamp(0, 1) before scoring them"
            )
        # Same arithmetic (and dtype) as save_image; the cast truncates, i.e. floors these non-negatives.
        quantised = images.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    else:
        raise TypeError(f"{name} has dtype {images.dtype}: pass uint8 in [0, 255] or float in [0, 1]")
    if quantised.shape[1] == 1:
        quantised = quantised.expand(-1, 3, -1, -1)
    return quantised.contiguous()


def load_images(source: ImageSource, name: str = "images") -> torch.Tensor:
    """A folder path or a batch, as (N, 3, H, W) uint8 on the CPU."""
    if isinstance(source, (str, Path)):
        return load_image_folder(source)
    return to_uint8(source, name=name)


def content_sha256(images: torch.Tensor, *salt: str) -> str:
    """sha256 over the salt strings, the batch shape and the 8-bit pixels of a (N, 3, H, W) uint8 batch."""
    digest = hashlib.sha256()
    for part in salt:
        digest.update(part.encode() + b"\0")
    digest.update(repr(tuple(images.shape)).encode() + b"\0")
    digest.update(images.contiguous().numpy().tobytes())
    return digest.hexdigest()
