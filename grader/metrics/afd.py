"""Anime-face detection rate (AFD): the fraction of samples in which an anime face detector finds a face.

    rate     = #{images with a detection of likelihood > min_likelihood} / N
    rate_any = #{images with any detection} / N

The detector is `animeface` 2.0.3 (nagadomi's imager::AnimeFace, offline, CPU). It was tuned on larger
pictures than our 64 x 64 samples: fed at 64 x 64 it misses most real anime faces, and at 256 x 256
nearly all of them, so every image is first upscaled to 128 x 128 with Lanczos, the size at which it
finds most of them.

Default threshold min_likelihood = 0.9, so `rate` is the headline number: it keeps most real faces and
drops about half of the false positives. `rate_any` is reported alongside it. Real faces score high on
both; noise, digits, photos and faces with their tiles shuffled score near zero (the README's measured
table and the data README hold the rates).

Pitfall: animeface's own `detect()` reads Pillow's internal image struct in its Pillow 4.x layout, and
with Pillow >= 12 silently returns no faces at all. We never call it: anime_face_detector.py hands the
detector the pixels in the layout it expects, whatever Pillow is installed, and a test checks that the
likelihoods equal `animeface.detect`'s where that still works. Should a detector still find nothing,
`real_data_afd` refuses to report a rate when real anime faces yield no detection (MetricRefused),
instead of a 0% ceiling.

The real-data AFD (one detector run per real image) is cached in `$DIFFUSION_HW_CACHE/afd/` (default
`~/.cache/diffusion-hw/afd/`), one `.json` per reference set, keyed by sha256 of the set's shape and
8-bit pixels, detector_size, min_likelihood and the animeface and Pillow versions (see `cache.py`).
Refusals are never cached, and a cached result is checked against min_rate_any like a fresh one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import partial
from importlib import metadata
from pathlib import Path

import numpy as np
import PIL
import torch
from PIL import Image

from .cache import cache_folder, read_entry, write_entry
from .errors import MetricRefused
from .images import ImageSource, content_sha256, load_images

CACHE_FORMAT = "diffusion-hw-real-afd-v1"
DEFAULT_MIN_LIKELIHOOD = 0.9
DETECTOR_SIZE = 128


@dataclass(frozen=True)
class AFDResult:
    rate: float  # fraction with a detection of likelihood > min_likelihood
    rate_any: float  # fraction with any detection
    n: int
    min_likelihood: float = DEFAULT_MIN_LIKELIHOOD


def _detector():
    """image (a PIL RGB image) -> the faces animeface finds in it; MetricUnavailable if it cannot run."""
    from .anime_face_detector import load_detector

    detect = load_detector()  # fails here, before any image is read, when the detector is missing
    return lambda image: detect(np.asarray(image.convert("RGB")))


def best_likelihoods(images: ImageSource, detector_size: int = DETECTOR_SIZE) -> list[float]:
    """Per image, the highest detection likelihood, or 0.0 when nothing is detected.

    images: (N, 3, H, W) uint8 or float in [0, 1], or a folder; each is Lanczos-resized to
    detector_size x detector_size (the 128 default is calibrated for 64 x 64 inputs).
    """
    detect = _detector()
    images_u8 = load_images(images)  # (N, 3, H, W) uint8
    likelihoods = []
    for image in images_u8.permute(0, 2, 3, 1).numpy():  # (H, W, 3)
        upscaled = Image.fromarray(image).resize((detector_size, detector_size), Image.LANCZOS)
        faces = detect(upscaled)
        likelihoods.append(max((float(face.likelihood) for face in faces), default=0.0))
    return likelihoods


def anime_face_detection_rate(
    images: ImageSource,
    min_likelihood: float = DEFAULT_MIN_LIKELIHOOD,
    detector_size: int = DETECTOR_SIZE,
) -> AFDResult:
    """AFD of a batch (N, 3, 64, 64) in [0, 1] (or uint8, or a folder): one detector run per image."""
    likelihoods = best_likelihoods(images, detector_size)
    n = len(likelihoods)
    detected_any = sum(likelihood > 0.0 for likelihood in likelihoods)
    detected_confident = sum(likelihood > min_likelihood for likelihood in likelihoods)
    return AFDResult(rate=detected_confident / n, rate_any=detected_any / n, n=n, min_likelihood=min_likelihood)


def _animeface_version() -> str:
    try:
        return metadata.version("animeface")
    except metadata.PackageNotFoundError:
        return "not installed"  # no entry can match: the detector then raises MetricUnavailable


def real_data_afd_key(images_u8: torch.Tensor, min_likelihood: float, detector_size: int) -> str:
    """sha256 of everything the real-data AFD depends on: the (N, 3, H, W) uint8 pixels and shape,
    detector_size, min_likelihood and the animeface and Pillow versions."""
    return content_sha256(
        images_u8, CACHE_FORMAT, f"detector_size={int(detector_size)}", f"min_likelihood={float(min_likelihood)!r}",
        f"animeface={_animeface_version()}", f"pillow={PIL.__version__}",
    )


def _read_result(path: Path, key: str, n: int, min_likelihood: float) -> AFDResult:
    """The AFDResult in a cache file; raises on anything unexpected."""
    data = json.loads(path.read_text())
    if data.pop("format") != CACHE_FORMAT or data.pop("key") != key:
        raise ValueError("format or key mismatch")
    result = AFDResult(**data)
    if result.n != n or result.min_likelihood != min_likelihood or not 0 <= result.rate <= result.rate_any <= 1:
        raise ValueError(f"implausible contents {data}")
    return result


def _write_result(handle, key: str, result: AFDResult) -> None:
    handle.write(json.dumps({"format": CACHE_FORMAT, "key": key, **asdict(result)}).encode())


def _refuse_unless_faces_found(result: AFDResult, min_rate_any: float, detector_size: int) -> None:
    if result.rate_any == 0.0 or result.rate_any < min_rate_any:
        raise MetricRefused(
            f"the anime face detector found a face in {result.rate_any:.1%} of {result.n} real reference images "
            f"(about 87% is expected for 64x64 anime faces upscaled to {detector_size}): refusing to report an "
            f"AFD ceiling. Check that the reference set really is anime faces and that the images are 64x64."
        )


def real_data_afd(
    images: ImageSource,
    min_likelihood: float = DEFAULT_MIN_LIKELIHOOD,
    min_rate_any: float = 0.0,
    detector_size: int = DETECTOR_SIZE,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> AFDResult:
    """AFD of real reference faces, the ceiling a model's AFD is compared with; cached (module docstring).

    Raises MetricRefused when no face at all is detected (or rate_any < min_rate_any; the detector finds
    most real 64 x 64 anime faces, so 0.5 is a sensible floor): that means a broken detector or
    wrong data, and a 0% ceiling would make every model look perfect or hopeless. The check runs on a
    cached result too, and a refused result is not cached.
    """
    images_u8 = load_images(images, name="reference")  # (N, 3, H, W) uint8
    min_likelihood = float(min_likelihood)
    key = real_data_afd_key(images_u8, min_likelihood, detector_size)
    folder = Path(cache_dir) if cache_dir is not None else cache_folder("afd")
    path = folder / f"real-{key}.json"
    read = partial(_read_result, key=key, n=len(images_u8), min_likelihood=min_likelihood)
    if use_cache and (cached := read_entry(path, read, "AFD")) is not None:
        _refuse_unless_faces_found(cached, min_rate_any, detector_size)
        return cached
    result = anime_face_detection_rate(images_u8, min_likelihood, detector_size)
    _refuse_unless_faces_found(result, min_rate_any, detector_size)  # before writing: refusals are not cached
    if use_cache:
        write_entry(path, lambda handle: _write_result(handle, key, result), "AFD")
    return result
