"""Datasets by name or path, and a fingerprint of a set of images.

    load_dataset("digits", 32)              -> DigitsDataset (built in, no download, no data root)
    load_dataset("anime-faces-64", 64)      -> ImageFolderDataset over DATA_ROOT/anime-faces-64 (data/root.py)
    load_dataset("path/to/folder", 64)      -> ImageFolderDataset over that folder

A name (no `/`) is looked up under the data root first; a name that is not there but is a folder in
the current directory is read from there, so `load_dataset("faces", 64)` beside an uploaded faces/
keeps working.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch.utils.data import Dataset

from diffusion_hw_data.digits import DigitsDataset
from diffusion_hw_data.errors import DatasetError
from diffusion_hw_data.image_folder import ImageFolderDataset
from diffusion_hw_data.root import DataRoot, is_dataset_name, locate_dataset, resolve_data_root

BUILTIN_DATASETS = {"digits": DigitsDataset}


def load_dataset(name_or_path: str | Path, image_size: int, data_root: DataRoot | str | Path | None = None,
                 **kwargs) -> Dataset:
    """A built-in dataset by name, a named dataset under the data root, or an ImageFolderDataset over a folder.

    `data_root` is a DataRoot, or a folder that takes the place of --data-root (None: $DIFFUSION_HW_DATA,
    else the default). Extra keyword arguments go to the dataset's constructor (e.g. channels=1 for
    digits, augment_horizontal_flip=True for a folder).
    """
    name = str(name_or_path)
    if name in BUILTIN_DATASETS:
        return BUILTIN_DATASETS[name](image_size=image_size, **kwargs)
    if is_dataset_name(name):
        root = data_root if isinstance(data_root, DataRoot) else resolve_data_root(data_root)
        if (root.path / name).is_dir() or not Path(name).is_dir():
            return ImageFolderDataset(locate_dataset(name, root), image_size, **kwargs)
    if Path(name).is_dir():
        return ImageFolderDataset(name, image_size, **kwargs)
    builtins = ", ".join(f"'{builtin}'" for builtin in BUILTIN_DATASETS)
    hint = " (it is a file, not a folder)" if Path(name).exists() else " (no such folder)"
    raise DatasetError(
        f"unknown dataset '{name}'{hint}: pass a built-in dataset name ({builtins}), the name of a dataset "
        f"under the data root (e.g. 'anime-faces-64'), or the path of an existing folder of images"
    )


def quantise_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> uint8 round(clamp(x, 0, 1) * 255), the bytes an image file would hold."""
    return (images.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def dataset_fingerprint(images: torch.Tensor) -> str:
    """sha256 hex of "shape (N, C, H, W)" followed by the uint8-quantised image bytes.

    Used as a cache key for FID reference statistics: changing a pixel by more than half a
    grey level, the order, or the shape changes the key; float noise below 1/510 does not.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"dataset_fingerprint expects a torch.Tensor of images, got {type(images).__name__}")
    quantised = quantise_to_uint8(images).cpu().contiguous()
    digest = hashlib.sha256()
    digest.update(f"shape={tuple(quantised.shape)};dtype=uint8;".encode())
    digest.update(quantised.numpy().tobytes())
    return digest.hexdigest()
