import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from grader.metrics.memorisation import DEFAULT_THRESHOLD, find_copies

from metric_test_images import colour_blobs


def detailed_blobs(count: int, seed: int, size: int = 64) -> torch.Tensor:
    # Many small blobs: few large smooth blobs make any two images alike (d ~ 0.05) once the mean is removed.
    return colour_blobs(count, seed, size=size, blobs=12, blob_width=0.01)


@pytest.fixture(scope="module")
def training() -> torch.Tensor:
    return detailed_blobs(40, seed=11)


def shifted(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Move the content by (dy, dx) pixels, repeating the border into the uncovered strip."""
    padded = F.pad(images, (2, 2, 2, 2), mode="replicate")
    height, width = images.shape[-2:]
    return padded[..., 2 - dy : 2 - dy + height, 2 - dx : 2 - dx + width]


def jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    decoded = []
    for image in images.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy():
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        decoded.append(np.array(Image.open(buffer)))
    return torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2)  # uint8


def noisy(images: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    return (images + sigma * noise).clamp(0, 1)


COPIES = {
    "exact": lambda x: x,
    "horizontal flip": lambda x: x.flip(-1),
    "brighter": lambda x: (x + 0.05).clamp(0, 1),
    "lower contrast": lambda x: (x - 0.5) * 0.9 + 0.5,
    "gaussian noise": lambda x: noisy(x, 0.03),
    "jpeg quality 50": lambda x: jpeg(x, 50),
    "shift 1 px": lambda x: shifted(x, 1, 0),
    "shift 2 px diagonal": lambda x: shifted(x, -2, 2),
    "flip + shift + noise": lambda x: noisy(shifted(x.flip(-1), 1, -2), 0.02),
}


@pytest.mark.parametrize("perturbation", COPIES)
def test_copies_of_training_images_are_flagged_and_matched(training, perturbation):
    picked = [3, 17, 29]
    report = find_copies(COPIES[perturbation](training[picked]), training)
    assert report.flags.all(), report.distance
    assert report.nearest_index.tolist() == picked
    assert report.fraction == 1.0


def test_different_images_are_not_flagged(training):
    report = find_copies(detailed_blobs(40, seed=12), training)
    assert not report.flags.any()
    assert report.distance.min() > 4 * DEFAULT_THRESHOLD


def test_fraction_counts_only_the_copies(training):
    samples = torch.cat([training[:3], detailed_blobs(7, seed=13)])
    report = find_copies(samples, training)
    assert report.flags.tolist() == [True] * 3 + [False] * 7
    assert report.fraction == pytest.approx(0.3)
    assert report.distance.shape == (10,) and report.threshold == DEFAULT_THRESHOLD


def test_samples_and_training_images_must_share_a_resolution(training):
    with pytest.raises(ValueError, match="same|resolution"):
        find_copies(detailed_blobs(2, seed=1, size=32), training)
