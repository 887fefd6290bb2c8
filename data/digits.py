"""The built-in dataset: scikit-learn's handwritten digits, which need no download.

`sklearn.datasets.load_digits` reads 1,797 greyscale 8 x 8 images (values 0..16, labels 0..9,
about 180 per class) from a file inside the scikit-learn wheel. They become training images by

    x = pixel / 16                                   # (N, 1, 8, 8) in [0, 1]
    x = bilinear_upsample(x, S)                      # (N, 1, S, S), align_corners=False
    x = clamp(x, 0, 1).repeat(1, C, 1, 1)            # (N, C, S, S)

No padding is added: the 8 x 8 frame is kept as it is (many digits touch its top and bottom
rows), so the default S = 32 is an exact 4x upsampling. Bilinear interpolation is a convex
combination of inputs, so the clamp only guards against rounding.
Nothing is written to disk; the raw arrays are kept in memory after the first call.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

DIGITS_NATIVE_SIZE = 8
DIGITS_MAX_VALUE = 16.0
SUPPORTED_CHANNELS = (1, 3)


def _check_digits_arguments(image_size: int, channels: int) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < DIGITS_NATIVE_SIZE:
        raise ValueError(
            f"image_size for the digits must be an int >= {DIGITS_NATIVE_SIZE} (their native size; "
            f"they are only ever upsampled), got {image_size!r}: try 32"
        )
    if channels not in SUPPORTED_CHANNELS:
        raise ValueError(
            f"channels for the digits must be 1 (greyscale) or 3 (grey repeated as RGB), got "
            f"{channels!r}"
        )


@lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images float64 (1797, 8, 8) in 0..16, labels int (1797,)), read from the sklearn wheel."""
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import

    bunch = load_digits()
    images = bunch.images.copy()
    labels = bunch.target.copy()
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def digits_tensor(image_size: int = 32, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits: (images float32 (N, channels, S, S) in [0, 1], labels int64 (N,) in 0..9)."""
    _check_digits_arguments(image_size, channels)
    raw_images, raw_labels = _raw_digits()
    images = torch.tensor(raw_images, dtype=torch.float32).unsqueeze(1) / DIGITS_MAX_VALUE  # (N, 1, 8, 8)
    if image_size != DIGITS_NATIVE_SIZE:
        images = F.interpolate(
            images, size=(image_size, image_size), mode="bilinear", align_corners=False
        )  # (N, 1, S, S)
    images = images.clamp(0.0, 1.0).repeat(1, channels, 1, 1).contiguous()  # (N, C, S, S)
    labels = torch.tensor(raw_labels, dtype=torch.int64)  # (N,)
    return images, labels


class DigitsDataset(Dataset):
    """The digits as a Dataset: item i is images[i] (C, S, S), or (images[i], labels[i])."""

    def __init__(self, image_size: int = 32, channels: int = 3, return_labels: bool = False):
        self.images, self.labels = digits_tensor(image_size, channels)
        self.image_size = image_size
        self.channels = channels
        self.return_labels = return_labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        if self.return_labels:
            return self.images[index], self.labels[index]
        return self.images[index]

    def __repr__(self) -> str:
        return (
            f"DigitsDataset(image_size={self.image_size}, channels={self.channels}, "
            f"{len(self)} images)"
        )
