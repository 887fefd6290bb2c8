"""The built-in digits dataset and the dataset registry's fingerprint."""

import pytest
import torch

from diffusion_hw_data import DigitsDataset, dataset_fingerprint, digits_tensor, load_dataset

NUM_DIGITS = 1797


@pytest.fixture(scope="module")
def digits_32():
    return digits_tensor(image_size=32, channels=3)


def test_digits_tensor_has_expected_shapes_dtypes_and_range(digits_32):
    images, labels = digits_32
    assert images.shape == (NUM_DIGITS, 3, 32, 32)
    assert images.dtype == torch.float32
    assert labels.shape == (NUM_DIGITS,)
    assert labels.dtype == torch.int64
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert images.max() > 0.99  # 16/16 survives upsampling somewhere: the scale is 0..16 -> 0..1


def test_digits_labels_cover_0_to_9_about_equally(digits_32):
    _, labels = digits_32
    counts = torch.bincount(labels, minlength=10)
    assert counts.numel() == 10
    assert counts.min() >= 170 and counts.max() <= 190


def test_digits_rgb_channels_are_identical_copies_of_grey(digits_32):
    images, _ = digits_32
    grey, _ = digits_tensor(image_size=32, channels=1)
    assert grey.shape == (NUM_DIGITS, 1, 32, 32)
    for channel in range(3):
        assert torch.equal(images[:, channel : channel + 1], grey)


def test_digits_at_native_size_are_pixel_over_16():
    from sklearn.datasets import load_digits

    images, labels = digits_tensor(image_size=8, channels=1)
    bunch = load_digits()
    expected = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    assert torch.equal(images, expected)
    assert torch.equal(labels, torch.tensor(bunch.target, dtype=torch.int64))


def test_digits_upsampling_is_bilinear_without_padding():
    native, _ = digits_tensor(image_size=8, channels=1)
    upsampled, _ = digits_tensor(image_size=32, channels=1)
    expected = torch.nn.functional.interpolate(
        native[:5], size=(32, 32), mode="bilinear", align_corners=False
    )
    assert torch.allclose(upsampled[:5], expected, atol=1e-6)
    # a pinned value: with align_corners=False the output corner copies the input corner
    assert upsampled[0, 0, 0, 0] == native[0, 0, 0, 0]


def test_digits_are_deterministic_across_calls(digits_32):
    images_again, labels_again = digits_tensor(image_size=32, channels=3)
    assert torch.equal(digits_32[0], images_again)
    assert torch.equal(digits_32[1], labels_again)


def test_digits_tensor_returns_fresh_tensors_each_call():
    images, _ = digits_tensor(image_size=8, channels=1)
    images.zero_()
    images_again, _ = digits_tensor(image_size=8, channels=1)
    assert images_again.max() > 0


@pytest.mark.parametrize("image_size", [7, 0, -32, 16.0, "32"])
def test_digits_reject_bad_image_size_with_a_hint(image_size):
    with pytest.raises(ValueError, match=r"image_size .* >= 8"):
        digits_tensor(image_size=image_size)


@pytest.mark.parametrize("channels", [0, 2, 4])
def test_digits_reject_channels_other_than_1_or_3(channels):
    with pytest.raises(ValueError, match=r"channels .* 1 .* or 3"):
        DigitsDataset(channels=channels)


def test_digits_dataset_returns_images_or_image_label_pairs(digits_32):
    images, labels = digits_32
    plain = DigitsDataset(image_size=32)
    assert len(plain) == NUM_DIGITS
    assert torch.equal(plain[10], images[10])

    labelled = DigitsDataset(image_size=32, return_labels=True)
    image, label = labelled[10]
    assert torch.equal(image, images[10])
    assert label.item() == labels[10].item()


def test_load_dataset_digits_builds_a_digits_dataset_with_extra_arguments():
    dataset = load_dataset("digits", 16, channels=1)
    assert isinstance(dataset, DigitsDataset)
    assert dataset[0].shape == (1, 16, 16)


def test_fingerprint_is_stable_and_a_sha256_hex(digits_32):
    images = digits_32[0][:64]
    fingerprint = dataset_fingerprint(images)
    assert fingerprint == dataset_fingerprint(images.clone())
    assert len(fingerprint) == 64 and all(char in "0123456789abcdef" for char in fingerprint)


def test_fingerprint_changes_when_one_pixel_changes(digits_32):
    images = digits_32[0][:64].clone()
    before = dataset_fingerprint(images)
    images[3, 1, 5, 7] = 1.0 - images[3, 1, 5, 7].round()  # moves the pixel by >= 0.5
    assert dataset_fingerprint(images) != before


def test_fingerprint_ignores_float_noise_below_quantisation():
    images = torch.full((2, 3, 4, 4), 100 / 255)
    assert dataset_fingerprint(images) == dataset_fingerprint(images + 1e-5)


def test_fingerprint_depends_on_shape_not_only_bytes():
    images = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert dataset_fingerprint(images) != dataset_fingerprint(images.reshape(2, 6, 8, 8))
