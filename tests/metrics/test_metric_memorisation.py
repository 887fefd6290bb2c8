import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from grader.metrics.memorisation import (
    DEFAULT_THRESHOLD,
    allowed_copied_fraction,
    copies_picture,
    find_copies,
    real_copy_baseline,
)
from tests.support.course_data import course_dataset
from tests.support.metric_images import colour_blobs


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


# -- the real data's own near-copy rate (leave-one-out baseline) and the rule relative to it ----------


def with_duplicates(images: torch.Tensor, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """A copy of `images` in which image b of each (a, b) is a flipped, noisy redraw of image a: the same
    artwork twice, as a real data set can hold it."""
    images = images.clone()
    for a, b in pairs:
        images[b] = noisy(images[a : a + 1].flip(-1), 0.02, seed=b)[0]
    return images


def test_the_baseline_holds_each_image_out_and_flags_duplicates_inside_the_set(tmp_path):
    training = with_duplicates(detailed_blobs(40, seed=11), [(3, 30), (7, 21)])
    baseline = real_copy_baseline(training, cache_dir=tmp_path)
    assert np.flatnonzero(baseline.flags).tolist() == [3, 7, 21, 30]
    assert baseline.fraction == pytest.approx(4 / 40) and baseline.n == 40
    assert {(i, j) for i, j, _ in baseline.pairs()} == {(3, 30), (30, 3), (7, 21), (21, 7)}
    assert (baseline.nearest_index != np.arange(40)).all()  # no image is its own near copy
    assert real_copy_baseline(detailed_blobs(40, seed=11), cache_dir=tmp_path).fraction == 0.0


def test_an_exact_duplicate_in_the_set_counts_for_both_images(tmp_path):
    training = detailed_blobs(10, seed=11)
    training[9] = training[4]
    baseline = real_copy_baseline(training, cache_dir=tmp_path)
    assert np.flatnonzero(baseline.flags).tolist() == [4, 9]
    assert baseline.distance[[4, 9]].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("baseline, n, m, margin, allowed", [
    (0.0, 1000, 2000, 0.01, 0.01),  # nothing to be uncertain about: the margin alone
    (0.0045, 1000, 2000, 0.01, 0.0145),  # 3 standard errors (0.0078) < margin
    (0.05, 100, 2000, 0.01, 0.05 + 3 * np.sqrt(0.05 * 0.95 * (1 / 100 + 1 / 2000))),  # few samples: 3 s.e.
    (0.2, 1000, 1000, 0.0, 0.2 + 3 * np.sqrt(0.2 * 0.8 * 2 / 1000)),
])
def test_the_allowed_fraction_is_the_baseline_plus_the_larger_of_margin_and_three_standard_errors(
        baseline, n, m, margin, allowed):
    assert allowed_copied_fraction(baseline, n, m, margin) == pytest.approx(allowed)


def test_held_out_images_of_a_set_with_duplicate_artwork_pass_and_a_memoriser_does_not(tmp_path):
    """Images drawn from the same distribution as a training set in which 6 of 120 images are redrawings
    of others also redraw training images now and then: they are within the real rate, though above the
    fixed 1% a rule without a baseline would allow. Copying training images is far above it."""
    pool = detailed_blobs(240, seed=21)
    training = with_duplicates(pool[:120], [(i, 60 + i) for i in range(3)])  # 6 of 120 flagged: 5%
    held_out = pool[120:].clone()
    held_out[:4] = noisy(training[10:14].flip(-1), 0.02, seed=5)  # 4 of 120 redraw training artwork: 3.3%
    baseline = real_copy_baseline(training, cache_dir=tmp_path)
    allowed = allowed_copied_fraction(baseline.fraction, len(held_out), baseline.n, margin=0.01)
    honest = find_copies(held_out, training)
    assert baseline.fraction == pytest.approx(0.05) and honest.fraction == pytest.approx(4 / 120)
    assert 0.01 < honest.fraction <= allowed
    memoriser = torch.cat([training[:40], held_out[40:]])  # a third of the samples are training images
    assert find_copies(memoriser, training).fraction > allowed


def test_the_baseline_is_cached_by_content_and_serves_every_threshold(tmp_path, monkeypatch):
    import grader.metrics.memorisation as memorisation

    training = with_duplicates(detailed_blobs(20, seed=11), [(2, 12)])
    first = real_copy_baseline(training, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("baseline-*.npz"))) == 1

    def no_recompute(*args, **kwargs):
        raise AssertionError("the cached distances should have been read")

    monkeypatch.setattr(memorisation, "_nearest", no_recompute)
    cached = real_copy_baseline(training, cache_dir=tmp_path)
    assert np.array_equal(cached.distance, first.distance) and np.array_equal(cached.flags, first.flags)
    assert real_copy_baseline(training, threshold=1.5, cache_dir=tmp_path).fraction == 1.0  # same entry
    changed = training.clone()
    changed[0, 0, 0, 0] = 1 - changed[0, 0, 0, 0]
    with pytest.raises(AssertionError, match="cached distances"):
        real_copy_baseline(changed, cache_dir=tmp_path)  # one pixel: another key, so it would recompute


def test_a_corrupt_baseline_cache_entry_is_recomputed_with_a_warning(tmp_path):
    training = detailed_blobs(12, seed=11)
    expected = real_copy_baseline(training, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("baseline-*.npz")
    entry.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable memorisation baseline cache"):
        again = real_copy_baseline(training, cache_dir=tmp_path)
    assert np.array_equal(again.distance, expected.distance)


def test_the_copies_picture_shows_each_flagged_sample_beside_the_training_image_it_copies(tmp_path, training):
    samples = torch.cat([detailed_blobs(2, seed=13), noisy(training[[17]].flip(-1), 0.02), training[[5]]])
    report = find_copies(samples, training)
    path = copies_picture(tmp_path / "copies.png", samples, training, report, scale=2)
    picture = np.asarray(Image.open(path).convert("RGB"))
    gap, size = 4, 128

    def expected(image: torch.Tensor) -> np.ndarray:  # (3, 64, 64) in [0, 1] -> (128, 128, 3) uint8, 2x nearest
        pixels = image.mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
        return pixels.repeat_interleave(2, 1).repeat_interleave(2, 2).permute(1, 2, 0).numpy()

    assert picture.shape[0] == 2 * (size + 14 + gap) + gap  # two pairs, one row each
    # closest first: the exact copy of image 5, then the noisy flipped image 17, each beside its training image
    for row, (sample, match) in enumerate([(3, 5), (2, 17)]):
        top = gap + row * (size + 14 + gap)
        left = picture[top : top + size, gap : gap + size]
        right = picture[top : top + size, 2 * gap + size : 2 * gap + 2 * size]
        assert np.array_equal(left, expected(samples[sample])) and np.array_equal(right, expected(training[match]))
    assert copies_picture(tmp_path / "none.png", samples[:2], training, find_copies(samples[:2], training)) is None
    assert not (tmp_path / "none.png").exists()


def real_faces() -> torch.Tensor:
    """The 2,000 real faces of the course data (under the data root), (2000, 3, 64, 64) uint8."""
    from grader.metrics.images import load_images

    return load_images(course_dataset("anime-faces-64"))


@pytest.mark.slow
def test_real_held_out_faces_stay_within_the_real_baseline_and_copied_faces_do_not(tmp_path):
    faces = real_faces()
    training, held_out = faces[:1000], faces[1000:]
    baseline = real_copy_baseline(training, cache_dir=tmp_path)
    allowed = allowed_copied_fraction(baseline.fraction, len(held_out), baseline.n, margin=0.01)
    assert find_copies(held_out, training).fraction <= allowed
    memorised = torch.cat([training[:30].flip(-1), held_out[30:]])  # 3% flipped training faces
    assert find_copies(memorised, training).fraction > allowed
