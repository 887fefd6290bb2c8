"""Anime-face detection rate (AFD): the fraction of samples in which an anime face detector finds a face.

    rate     = #{images with a detection of likelihood > min_likelihood} / N
    rate_any = #{images with any detection} / N

The detector is `animeface` 2.0.3 (nagadomi's imager::AnimeFace, offline, CPU). It was tuned on larger
pictures than our 64 x 64 samples, so every image is first upscaled to 128 x 128 with Lanczos; measured
on real 64 x 64 anime faces, detection then works and elsewhere does not:

    size fed to the detector    64      128 (used)    256
    real faces, any detection   19%     ~87%          < 1%

Default threshold min_likelihood = 0.9, so `rate` is the headline number: it keeps most real faces and
drops about half of the false positives. `rate_any` is reported alongside it. Measured (any / > 0.9):
    2,000 real faces (course data set)                     87.2% / 82.1%   (each half of 1,000: 87% / 82%)
    500 uniform-noise, 500 smooth-noise images              0.2% / 0%, 0% / 0%
    500 real faces with their 8 x 8 px tiles shuffled       5.4% / 2.2%
    noise, digits, photos, shuffled tiles (data README)    <= 2.5% / <= 1%

Pitfall: animeface's native code reads Pillow's internal image struct in its Pillow 4.x layout, and
with Pillow >= 12 `detect()` silently returns no faces at all. We refuse to run there (MetricUnavailable),
and `real_data_afd` refuses to report a rate when real anime faces yield no detection (MetricRefused).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import PIL
from PIL import Image

from .errors import MetricRefused, MetricUnavailable
from .images import ImageSource, load_images

DEFAULT_MIN_LIKELIHOOD = 0.9
DETECTOR_SIZE = 128
FIRST_BROKEN_PILLOW = 12


@dataclass(frozen=True)
class AFDResult:
    rate: float  # fraction with a detection of likelihood > min_likelihood
    rate_any: float  # fraction with any detection
    n: int
    min_likelihood: float = DEFAULT_MIN_LIKELIHOOD


def check_pillow_compatible(version: str | None = None) -> None:
    """Raise MetricUnavailable on Pillow >= 12, where animeface finds no faces, silently."""
    version = version if version is not None else PIL.__version__
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return  # an unparseable (development) version: let real_data_afd's check catch a broken detector
    if major >= FIRST_BROKEN_PILLOW:
        raise MetricUnavailable(
            f"Pillow {version} is installed, but the animeface 2.0.3 detector reads Pillow's internals as laid "
            f"out in Pillow 4.x and with Pillow >= {FIRST_BROKEN_PILLOW} finds no face in any image (it would "
            f"report 0% silently). Install a compatible Pillow:\n    {sys.executable} -m pip install 'pillow<12'"
        )


def _detector():
    check_pillow_compatible()
    try:
        import animeface
    except ImportError as error:
        raise MetricUnavailable(
            f"the anime face detector is not installed ({error}); install it with:\n"
            f"    {sys.executable} -m pip install animeface==2.0.3"
        ) from error
    return animeface.detect


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
    """AFD of a batch (N, 3, 64, 64) in [0, 1] (or uint8, or a folder); ~10 ms per image on a CPU."""
    likelihoods = best_likelihoods(images, detector_size)
    n = len(likelihoods)
    detected_any = sum(likelihood > 0.0 for likelihood in likelihoods)
    detected_confident = sum(likelihood > min_likelihood for likelihood in likelihoods)
    return AFDResult(rate=detected_confident / n, rate_any=detected_any / n, n=n, min_likelihood=min_likelihood)


def real_data_afd(
    images: ImageSource,
    min_likelihood: float = DEFAULT_MIN_LIKELIHOOD,
    min_rate_any: float = 0.0,
    detector_size: int = DETECTOR_SIZE,
) -> AFDResult:
    """AFD of real reference faces, the ceiling a model's AFD is compared with.

    Raises MetricRefused when no face at all is detected (or rate_any < min_rate_any; about 0.87 is
    expected on real 64 x 64 anime faces, so 0.5 is a sensible floor): that means a broken detector or
    wrong data, and a 0% ceiling would make every model look perfect or hopeless.
    """
    result = anime_face_detection_rate(images, min_likelihood, detector_size)
    if result.rate_any == 0.0 or result.rate_any < min_rate_any:
        raise MetricRefused(
            f"the anime face detector found a face in {result.rate_any:.1%} of {result.n} real reference images "
            f"(about 87% is expected for 64x64 anime faces upscaled to {detector_size}): refusing to report an "
            f"AFD ceiling. Check that the reference set really is anime faces, that Pillow is < 12 "
            f"(installed: {PIL.__version__}), and that the images are 64x64."
        )
    return result
