"""Training data for the diffusion homework: the built-in digits, a named dataset, or any folder of images.

    digits.py        the built-in dataset: scikit-learn's digits, no download, no data root
    image_folder.py  any folder of images, resized and centre-cropped to S x S
    root.py          the data root named datasets live under (--data-root > $DIFFUSION_HW_DATA > config > default)
    catalogue.py     the named datasets: what each folder holds, its layout, and where courses get it
    registry.py      load_dataset(name or path), and a fingerprint of a set of images
    errors.py        DatasetError: a dataset that cannot be found or read, with what to do about it

All images come out as float32 tensors (C, S, S) with values in [0, 1].

The folder is data/; the package is `diffusion_hw_data` (`from diffusion_hw_data import load_dataset`):
pyproject.toml installs the folder under that name, and the handout carries it as diffusion_hw_data/.
"""

from diffusion_hw_data.digits import DigitsDataset, digits_tensor
from diffusion_hw_data.errors import DatasetError
from diffusion_hw_data.image_folder import DEFAULT_IMAGE_EXTENSIONS, ImageFolderDataset, load_images_tensor
from diffusion_hw_data.registry import BUILTIN_DATASETS, dataset_fingerprint, load_dataset
from diffusion_hw_data.root import DATA_ROOT_ENV, DataRoot, is_dataset_name, locate_dataset, resolve_data_root

__all__ = [
    "BUILTIN_DATASETS",
    "DATA_ROOT_ENV",
    "DataRoot",
    "DEFAULT_IMAGE_EXTENSIONS",
    "DatasetError",
    "DigitsDataset",
    "ImageFolderDataset",
    "dataset_fingerprint",
    "is_dataset_name",
    "digits_tensor",
    "load_dataset",
    "load_images_tensor",
    "locate_dataset",
    "resolve_data_root",
]
