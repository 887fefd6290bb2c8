"""Training data for the diffusion homework: the built-in digits, or any folder of images.

All images come out as float32 tensors (C, S, S) with values in [0, 1].
"""

from data.digits import DigitsDataset, digits_tensor
from data.errors import DatasetError
from data.image_folder import DEFAULT_IMAGE_EXTENSIONS, ImageFolderDataset, load_images_tensor
from data.registry import BUILTIN_DATASETS, dataset_fingerprint, load_dataset

__all__ = [
    "BUILTIN_DATASETS",
    "DEFAULT_IMAGE_EXTENSIONS",
    "DatasetError",
    "DigitsDataset",
    "ImageFolderDataset",
    "dataset_fingerprint",
    "digits_tensor",
    "load_dataset",
    "load_images_tensor",
]
