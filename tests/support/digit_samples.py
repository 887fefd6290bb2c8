"""Class-conditional samples for the digit-accuracy tests: real held-out digits, written one folder per digit.

The digit classifier trains once per test session into one shared cache folder (`shared_classifier_cache`),
so every test after the first reads its weights instead of training again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

SIZE = 16  # the conditional-digits profile's size
PER_CLASS = 3


def shared_classifier_cache(tmp_path_factory) -> Path:
    """One cache folder for the whole session (every module asking for it gets the same one)."""
    folder = tmp_path_factory.getbasetemp() / "digit-classifier-cache"
    folder.mkdir(exist_ok=True)
    return folder


def held_out_digits(size: int = SIZE, per_class: int = PER_CLASS) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `per_class` held-out real digits of each class (never trained on): ((10 k, 3, S, S) uint8,
    (10 k,) labels), sorted by class."""
    from grader.metrics.digit_accuracy import held_out_mask, real_digits

    images, labels = real_digits(size)
    held_out = held_out_mask(labels)
    chosen = torch.cat([(held_out & (labels == c)).nonzero().flatten()[:per_class] for c in range(10)])
    return images[chosen], labels[chosen]


def write_class_folders(root: Path, images: torch.Tensor, labels) -> Path:
    """Save (N, 3, H, W) uint8 images as root/<label>/<index>.png; returns root."""
    for index, (image, label) in enumerate(zip(images, [int(label) for label in labels])):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).numpy())).save(folder / f"{index:04d}.png")
    return root
