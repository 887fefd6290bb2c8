"""Training images read from a folder on disk.

Every image goes through the same three steps, so that any folder of photos of any size
becomes a batch of equal squares:

    1. convert to RGB                      (grey, palette and RGBA images all become 3 channels)
    2. resize so the shorter side == S     (PIL Lanczos; the aspect ratio is kept)
    3. centre-crop to S x S                (the longer side loses equal margins on both ends)

and comes back as a float32 tensor (3, S, S) with values in [0, 1] (pixel / 255).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from diffusion_hw_data.errors import DatasetError

DEFAULT_IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")


def _check_image_size(image_size: int) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(
            f"image_size must be a positive int (the side of the square images, e.g. 32 or 64), "
            f"got {image_size!r}"
        )
    return image_size


def _normalise_extensions(exts: Sequence[str]) -> tuple[str, ...]:
    if isinstance(exts, str):
        exts = (exts,)
    return tuple(sorted({ext.lower().lstrip(".") for ext in exts}))


def find_image_files(folder: str | Path, exts: Sequence[str] = DEFAULT_IMAGE_EXTENSIONS) -> list[Path]:
    """All files under `folder` (recursively) whose extension is in `exts`, case-insensitively.

    Sorted by path relative to `folder`, so the order (and so every seeded sample drawn
    from the dataset) is the same on every machine.
    """
    folder = Path(folder)
    if not folder.exists():
        raise DatasetError(
            f"image folder does not exist: '{folder}': pass the folder that holds your training "
            f"images, e.g. 'path/to/anime-faces-64', or the name of the built-in dataset 'digits'"
        )
    if not folder.is_dir():
        raise DatasetError(
            f"'{folder}' is a file, not a folder: pass the folder that holds your training images "
            f"(its parent is '{folder.parent}')"
        )

    wanted = _normalise_extensions(exts)
    all_files = [path for path in folder.rglob("*") if path.is_file()]
    image_files = [path for path in all_files if path.suffix.lower().lstrip(".") in wanted]
    if not image_files:
        looked_for = ", ".join(f".{ext}" for ext in wanted)
        raise DatasetError(
            f"no images found in '{folder}' (searched its subfolders too): looked for files ending "
            f"in {looked_for} and found {len(all_files)} other file(s); put your training images "
            f"there, or pass exts=... naming their extension"
        )
    return sorted(image_files, key=lambda path: path.relative_to(folder).as_posix())


def resize_shorter_side_and_centre_crop(image: Image.Image, image_size: int) -> Image.Image:
    """Resize (Lanczos) so min(width, height) == image_size, then crop the central square.

    A W x H image with W >= H becomes round(W * S / H) x S, then loses
    (W' - S) // 2 columns on the left and the rest on the right.
    """
    width, height = image.size
    scale = image_size / min(width, height)
    new_width = max(image_size, round(width * scale))
    new_height = max(image_size, round(height * scale))
    if (new_width, new_height) != (width, height):
        image = image.resize((new_width, new_height), resample=Image.Resampling.LANCZOS)
    left = (new_width - image_size) // 2
    top = (new_height - image_size) // 2
    return image.crop((left, top, left + image_size, top + image_size))


def pil_to_tensor01(image: Image.Image) -> torch.Tensor:
    """RGB PIL image (H, W) -> float32 tensor (3, H, W) = pixel / 255, in [0, 1]."""
    pixels = np.asarray(image, dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()  # (3, H, W)


def load_image(path: str | Path, image_size: int) -> torch.Tensor:
    """Read one file as a float32 tensor (3, image_size, image_size) in [0, 1]."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")  # also forces the full decode, so truncated files fail here
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DatasetError(
            f"cannot read image '{path}' ({type(error).__name__}: {error}): the file is corrupt or "
            f"not really an image; delete it or replace it with a valid image"
        ) from error
    return pil_to_tensor01(resize_shorter_side_and_centre_crop(image, image_size))


class ImageFolderDataset(Dataset):
    """Every image under `folder` (recursively), as float32 tensors (3, S, S) in [0, 1].

    Files are read lazily in __getitem__; the file list is sorted, so index i is the same
    image on every machine. With augment_horizontal_flip=True each item is mirrored
    left-right with probability 1/2, drawn from torch's global generator (so
    torch.manual_seed makes it repeatable; the DataLoader seeds each worker).
    """

    def __init__(
        self,
        folder: str | Path,
        image_size: int,
        exts: Sequence[str] = DEFAULT_IMAGE_EXTENSIONS,
        augment_horizontal_flip: bool = False,
    ):
        self.folder = Path(folder)
        self.image_size = _check_image_size(image_size)
        self.exts = _normalise_extensions(exts)
        self.augment_horizontal_flip = augment_horizontal_flip
        self.paths = find_image_files(self.folder, self.exts)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = load_image(self.paths[index], self.image_size)  # (3, S, S)
        if self.augment_horizontal_flip and bool(torch.rand(()) < 0.5):
            image = image.flip(-1)
        return image

    def __repr__(self) -> str:
        return (
            f"ImageFolderDataset('{self.folder}', image_size={self.image_size}, "
            f"{len(self)} images)"
        )


def load_images_tensor(folder: str | Path, image_size: int, limit: int | None = None) -> torch.Tensor:
    """The first `limit` images of `folder` (all when None), stacked: float32 (N, 3, S, S) in [0, 1].

    Never augmented, so the result is a pure function of the folder's contents.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be None (load every image) or a positive int, got {limit!r}")
    dataset = ImageFolderDataset(folder, image_size)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    return torch.stack([dataset[index] for index in range(count)])  # (N, 3, S, S)
