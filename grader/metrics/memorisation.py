"""Memorisation check: which generated samples are copies, or near copies, of training images, and how
often does real data itself look like that?

Each image becomes a small descriptor: a central crop (a `max_shift`-pixel margin removed), area-resized
to 16 x 16 RGB, minus its mean, scaled to unit length (so a global brightness or contrast change
cancels). A sample x is compared with every training image y under a horizontal flip and every shift
of the crop window by up to `max_shift` pixels:

    d(x, y)    = 1 - max over flip f, shift (dy, dx) of  cos(desc(f(x) shifted by (dy, dx)), desc(y))
    copy(x)    = min_y d(x, y) < threshold
    fraction   = #copies / N

d is 0 for an exact copy and ~1 for unrelated images; d in [0, 2]. Pixel descriptors rather than
Inception features: a copy is a pixel-level event, and they are far cheaper on a CPU.

The baseline. A data set can hold the same drawing twice (a duplicate, a game-CG variant with another
expression or background), so even a perfect generaliser, one that draws new images from the data's
own distribution, has some samples within the threshold of a training image. `real_copy_baseline`
measures that rate on the training set itself, leave-one-out:

    baseline   = #{i : min over j != i of d(x_i, x_j) < threshold} / M

i.e. every real image in turn is held out and compared with the other M - 1 (the same set size the
samples are compared with, so the rate is not biased by a smaller half). It is what real held-out
images score, and a sample set is judged against it (`allowed_copied_fraction`):

    allowed    = baseline + max(margin, 3 sqrt(baseline (1 - baseline) (1/N + 1/M)))

An honest generator's flagged count is Binomial(N, baseline), and the baseline is itself estimated
from M images, hence the 3-standard-error term (a false alarm < 0.2%); `margin` (the rubric's
`copied_margin`) is the excess of look-alikes tolerated beyond real data's. A memoriser copies far
more than that. The baseline is cached like the FID reference statistics (cache.py): nearest-image
distances of the set, keyed by its pixels, max_shift and the descriptor, so any threshold reads them.

The threshold is data-specific (README, "Generative metrics", for the anime faces and the digits): on a
new data set, run `grade calibrate` and check that copies (flips, shifts, re-lit, noisy, JPEG) fall well
below it while most distinct images lie well above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .cache import cache_folder, read_entry, write_entry
from .images import ImageSource, content_sha256, load_images

DEFAULT_THRESHOLD = 0.05
DEFAULT_MAX_SHIFT = 2
DESCRIPTOR_SIZE = 16
CHUNK_FLOATS = 2**25  # 128 MiB of float32 per intermediate tensor
CACHE_FORMAT = "diffusion-hw-copy-baseline-v1"
FALSE_ALARM_STANDARD_ERRORS = 3.0


@dataclass(frozen=True)
class CopyReport:
    flags: np.ndarray  # (N,) bool, True = copy of a training image
    fraction: float  # flags.mean()
    distance: np.ndarray  # (N,) float, d to the nearest training image
    nearest_index: np.ndarray  # (N,) int, index of that training image
    threshold: float


@dataclass(frozen=True)
class CopyBaseline:
    """How often a real image of the training set is a near copy of another one (leave-one-out)."""

    fraction: float  # flags.mean(): what real held-out images score
    n: int  # M, the training set's size
    flags: np.ndarray  # (M,) bool
    distance: np.ndarray  # (M,) float, d to the nearest *other* training image
    nearest_index: np.ndarray  # (M,) int, index of that image
    threshold: float

    def pairs(self) -> list[tuple[int, int, float]]:
        """(i, j, d) for every flagged image i and its nearest other image j, closest first."""
        flagged = np.flatnonzero(self.flags)
        order = flagged[np.argsort(self.distance[flagged], kind="stable")]
        return [(int(i), int(self.nearest_index[i]), float(self.distance[i])) for i in order]


def allowed_copied_fraction(baseline: float, n_samples: int, n_training: int, margin: float) -> float:
    """The largest near-copy fraction of N samples that is not memorisation, given real data's rate.

    allowed = baseline + max(margin, 3 sqrt(b (1 - b) (1/N + 1/M))), b = baseline, M = n_training: an
    honest generator's count is Binomial(N, b) and b is estimated from M images (module docstring).
    """
    if n_samples < 1 or n_training < 1:
        raise ValueError(f"need at least one sample and one training image, got N={n_samples}, M={n_training}")
    spread = math.sqrt(baseline * (1 - baseline) * (1 / n_samples + 1 / n_training))
    return baseline + max(margin, FALSE_ALARM_STANDARD_ERRORS * spread)


def _descriptors(windows: torch.Tensor) -> torch.Tensor:
    """(..., 3, h, w) float in [0, 1] -> (..., 3 * 16 * 16) float32, zero mean and unit norm per image."""
    leading = windows.shape[:-3]
    small = F.adaptive_avg_pool2d(windows.reshape(-1, *windows.shape[-3:]), DESCRIPTOR_SIZE)  # area resize
    small = small.reshape(*leading, -1)  # (..., D)
    centred = small - small.mean(dim=-1, keepdim=True)
    return centred / centred.norm(dim=-1, keepdim=True).clamp_min(1e-6)  # a flat image becomes ~0: d ~ 1


def _central_crop(images: torch.Tensor, margin: int) -> torch.Tensor:
    return images[..., margin : images.shape[-2] - margin, margin : images.shape[-1] - margin]


def _sample_variants(images: torch.Tensor, max_shift: int) -> torch.Tensor:
    """All flips and shifts of the crop window: (N, V, D) with V = 2 (2 max_shift + 1)^2."""
    height, width = images.shape[2] - 2 * max_shift, images.shape[3] - 2 * max_shift
    windows = [
        flipped[:, :, top : top + height, left : left + width]
        for flipped in (images, images.flip(-1))
        for top in range(2 * max_shift + 1)
        for left in range(2 * max_shift + 1)
    ]
    return _descriptors(torch.stack(windows, dim=1))  # (N, V, 3, h, w) -> (N, V, D)


def find_copies(
    samples: ImageSource,
    training_images: ImageSource,
    threshold: float = DEFAULT_THRESHOLD,
    max_shift: int = DEFAULT_MAX_SHIFT,
) -> CopyReport:
    """Flag samples that copy a training image (exactly, flipped, re-lit, noised or shifted by <= max_shift px).

    samples: (N, 3, H, W) and training_images: (M, 3, H, W), uint8 or float in [0, 1], or folders;
    both at the same resolution, with H, W > 2 max_shift.
    """
    sample_u8 = load_images(samples, name="samples")  # (N, 3, H, W)
    training_u8 = load_images(training_images, name="training_images")  # (M, 3, H, W)
    if sample_u8.shape[2:] != training_u8.shape[2:]:
        raise ValueError(
            f"samples are {tuple(sample_u8.shape[2:])} but training images are {tuple(training_u8.shape[2:])}: "
            "compare the samples with the training set at the resolution the model was trained on"
        )
    distance, nearest_index = _nearest(sample_u8, training_u8, max_shift, leave_one_out=False)
    flags = distance < threshold
    return CopyReport(flags=flags, fraction=float(flags.mean()), distance=distance, nearest_index=nearest_index,
                      threshold=threshold)


def _nearest(sample_u8: torch.Tensor, training_u8: torch.Tensor, max_shift: int,
             leave_one_out: bool) -> tuple[np.ndarray, np.ndarray]:
    """For each sample, (d to its nearest training image, that image's index): (N,) float64, (N,) int64.

    leave_one_out: samples and training images are the same set, and image i may not match itself
    (any other index may, an exact duplicate elsewhere in the set included).
    """
    if max_shift < 0 or min(sample_u8.shape[2:]) <= 2 * max_shift:
        raise ValueError(f"images of size {tuple(sample_u8.shape[2:])} do not allow max_shift={max_shift}")
    if leave_one_out and len(training_u8) < 2:
        raise ValueError("a leave-one-out baseline needs at least 2 training images")
    training = _descriptors(_central_crop(training_u8.float() / 255, max_shift))  # (M, D)
    sample_images = sample_u8.float() / 255  # (N, 3, H, W)

    variant_count = 2 * (2 * max_shift + 1) ** 2
    floats_per_sample = variant_count * max(len(training), sample_images[0].numel())
    chunk_size = max(1, min(256, CHUNK_FLOATS // floats_per_sample))  # bounds memory to ~CHUNK_FLOATS floats
    best_similarity, best_index = [], []
    for start in range(0, len(sample_images), chunk_size):
        variants = _sample_variants(sample_images[start : start + chunk_size], max_shift)  # (n, V, D)
        similarity = torch.einsum("nvd,md->nvm", variants, training).amax(dim=1)  # (n, M)
        if leave_one_out:
            rows = torch.arange(len(similarity))
            similarity[rows, rows + start] = -math.inf  # image i is not its own near copy
        value, index = similarity.max(dim=1)
        best_similarity.append(value)
        best_index.append(index)
    distance = (1 - torch.cat(best_similarity)).clamp_min(0).double().numpy()  # (N,)
    return distance, torch.cat(best_index).numpy()


def copy_baseline_key(training_u8: torch.Tensor, max_shift: int) -> str:
    """sha256 of what the leave-one-out distances depend on: the (M, 3, H, W) uint8 pixels and shape,
    max_shift and the descriptor size (not the threshold: the distances serve every threshold)."""
    return content_sha256(training_u8, CACHE_FORMAT, f"max_shift={int(max_shift)}", f"descriptor={DESCRIPTOR_SIZE}")


def _read_distances(path: Path, key: str, m: int) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        if str(data["format"]) != CACHE_FORMAT or str(data["key"]) != key:
            raise ValueError("format or key mismatch")
        distance, nearest_index = data["distance"].astype(np.float64), data["nearest_index"].astype(np.int64)
    if distance.shape != (m,) or nearest_index.shape != (m,) or not np.isfinite(distance).all():
        raise ValueError("array shapes or values do not match the training set")
    if (nearest_index < 0).any() or (nearest_index >= m).any() or (nearest_index == np.arange(m)).any():
        raise ValueError("nearest indices out of range, or an image matched to itself")
    return distance, nearest_index


def real_copy_baseline(
    training_images: ImageSource,
    threshold: float = DEFAULT_THRESHOLD,
    max_shift: int = DEFAULT_MAX_SHIFT,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> CopyBaseline:
    """The near-copy rate of real images held out one at a time from `training_images` (module docstring).

    training_images: (M, 3, H, W) uint8 or float in [0, 1], or a folder, M >= 2. The distances are
    cached in $DIFFUSION_HW_CACHE/memorisation/ (cache.py); computing them costs M^2 comparisons.
    """
    training_u8 = load_images(training_images, name="training_images")  # (M, 3, H, W)
    key = copy_baseline_key(training_u8, max_shift)
    folder = Path(cache_dir) if cache_dir is not None else cache_folder("memorisation")
    path = folder / f"baseline-{key}.npz"
    read = partial(_read_distances, key=key, m=len(training_u8))
    cached = read_entry(path, read, "memorisation baseline") if use_cache else None
    if cached is not None:
        distance, nearest_index = cached
    else:
        distance, nearest_index = _nearest(training_u8, training_u8, max_shift, leave_one_out=True)
        if use_cache:
            write_entry(path, lambda handle: np.savez(handle, format=CACHE_FORMAT, key=key, distance=distance,
                                                      nearest_index=nearest_index), "memorisation baseline")
    flags = distance < threshold
    return CopyBaseline(fraction=float(flags.mean()), n=len(training_u8), flags=flags, distance=distance,
                        nearest_index=nearest_index, threshold=threshold)


COPIES_PICTURE = "memorisation_copies.png"
MAX_PICTURED_PAIRS = 12


def copies_picture(path: str | Path, samples: ImageSource, training_images: ImageSource, report: CopyReport,
                   scale: int = 2) -> Path | None:
    """Draw the flagged samples beside the training images they copy: one row per pair, closest first,

        [ sample i | training image j ]   "sample i ~ training j, d = 0.012"

    at most MAX_PICTURED_PAIRS rows, each image enlarged `scale` times (nearest neighbour, so pixels stay
    visible). Writes a PNG at `path` and returns it; None (nothing written) when no sample is flagged.
    """
    from PIL import Image, ImageDraw

    flagged = np.flatnonzero(report.flags)
    if not len(flagged):
        return None
    flagged = flagged[np.argsort(report.distance[flagged], kind="stable")][:MAX_PICTURED_PAIRS]
    sample_u8 = load_images(samples, name="samples")  # (N, 3, H, W)
    training_u8 = load_images(training_images, name="training_images")  # (M, 3, H, W)
    height, width = (size * scale for size in sample_u8.shape[2:])
    caption, gap = 14, 4
    extra = len(np.flatnonzero(report.flags)) - len(flagged)
    rows = len(flagged) + (1 if extra else 0)
    canvas = Image.new("RGB", (max(2 * width, 240) + 3 * gap, rows * (height + caption + gap) + gap), "white")
    draw = ImageDraw.Draw(canvas)

    def tile(image_u8: torch.Tensor) -> Image.Image:
        return Image.fromarray(image_u8.permute(1, 2, 0).numpy()).resize((width, height), Image.NEAREST)

    for row, i in enumerate(flagged):
        j, top = int(report.nearest_index[i]), gap + row * (height + caption + gap)
        canvas.paste(tile(sample_u8[i]), (gap, top))
        canvas.paste(tile(training_u8[j]), (2 * gap + width, top))
        label = f"sample {int(i)} ~ training {j}, d = {report.distance[i]:.3f}"
        draw.text((gap, top + height + 1), label, fill="black")
    if extra:
        draw.text((gap, gap + len(flagged) * (height + caption + gap)), f"... and {extra} more", fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
