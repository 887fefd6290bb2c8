import numpy as np
import pytest
import torch
from PIL import Image

from grader.metrics.images import content_sha256, load_image_folder, load_images, to_uint8
from tests.support.metric_images import colour_blobs, write_png_folder


def test_float_batch_quantises_exactly_like_the_pngs_written_from_it(tmp_path):
    images = colour_blobs(3, seed=0)
    folder = write_png_folder(images, tmp_path / "pngs")
    assert torch.equal(to_uint8(images), load_image_folder(folder))
    assert content_sha256(load_images(images)) == content_sha256(load_images(folder))


def test_quantisation_rounds_half_up():
    values = torch.tensor([0.0, 0.5 / 255, 0.49 / 255, 1.0]).reshape(1, 1, 2, 2)
    assert to_uint8(values)[0, 0].flatten().tolist() == [0, 1, 0, 255]


def test_grey_batches_are_repeated_to_rgb():
    grey = torch.rand(2, 1, 8, 8)
    rgb = to_uint8(grey)
    assert rgb.shape == (2, 3, 8, 8) and torch.equal(rgb[:, 0], rgb[:, 2])


def test_minus_one_to_one_floats_are_rejected_with_a_hint():
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        to_uint8(torch.rand(2, 3, 8, 8) * 2 - 1)


def test_unbatched_image_is_rejected_with_a_hint():
    with pytest.raises(ValueError, match=r"images\[None\]"):
        to_uint8(torch.rand(3, 8, 8))


def test_nan_samples_are_rejected():
    images = torch.rand(2, 3, 8, 8)
    images[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(images)


def test_folder_with_mixed_sizes_names_the_odd_file(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(ValueError, match="b.png"):
        load_image_folder(tmp_path)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no image files"):
        load_image_folder(tmp_path)
