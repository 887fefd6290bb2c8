"""ImageFolderDataset, load_images_tensor and load_dataset over folders of generated images."""

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion_hw_data import DatasetError, ImageFolderDataset, load_dataset, load_images_tensor


def save_random_image(path, width, height, seed=0, mode="RGB"):
    """Write a noise image of the given size; PIL picks the format from the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)
    return path


@pytest.fixture
def small_folder(tmp_path):
    save_random_image(tmp_path / "b.png", 20, 20, seed=1)
    save_random_image(tmp_path / "a.jpg", 24, 16, seed=2)
    save_random_image(tmp_path / "nested" / "deeper" / "c.PNG", 16, 30, seed=3, mode="L")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_items_are_float32_rgb_squares_in_unit_range(small_folder):
    dataset = ImageFolderDataset(small_folder, image_size=12)
    assert len(dataset) == 3
    for index in range(len(dataset)):
        image = dataset[index]
        assert image.shape == (3, 12, 12)
        assert image.dtype == torch.float32
        assert image.min() >= 0.0 and image.max() <= 1.0


def test_discovery_is_recursive_case_insensitive_and_sorted(small_folder):
    dataset = ImageFolderDataset(small_folder, image_size=8)
    relative = [path.relative_to(small_folder).as_posix() for path in dataset.paths]
    assert relative == ["a.jpg", "b.png", "nested/deeper/c.PNG"]


def test_exts_restricts_which_files_are_used(small_folder):
    dataset = ImageFolderDataset(small_folder, image_size=8, exts=(".png",))
    assert [path.name for path in dataset.paths] == ["b.png", "c.PNG"]


def test_loading_is_deterministic(small_folder):
    first = load_images_tensor(small_folder, 10)
    second = load_images_tensor(small_folder, 10)
    assert torch.equal(first, second)


def test_pixel_values_are_bytes_over_255_when_no_resize_is_needed(tmp_path):
    path = save_random_image(tmp_path / "exact.png", 6, 6, seed=4)
    expected = torch.from_numpy(np.asarray(Image.open(path), dtype=np.float32) / 255).permute(2, 0, 1)
    assert torch.equal(ImageFolderDataset(tmp_path, 6)[0], expected)


def test_non_square_image_is_lanczos_resized_on_shorter_side_then_centre_cropped(tmp_path):
    path = save_random_image(tmp_path / "wide.png", 40, 20, seed=5)
    image = ImageFolderDataset(tmp_path, image_size=10)[0]
    assert image.shape == (3, 10, 10)

    resized = Image.open(path).resize((20, 10), resample=Image.Resampling.LANCZOS)
    centre = np.asarray(resized.crop((5, 0, 15, 10)), dtype=np.float32) / 255
    assert torch.equal(image, torch.from_numpy(centre).permute(2, 0, 1))


def test_tall_image_is_cropped_to_its_vertical_centre(tmp_path):
    pixels = np.zeros((30, 10, 3), dtype=np.uint8)
    pixels[10:20] = 255  # white middle third, black top and bottom
    Image.fromarray(pixels).save(tmp_path / "tall.png")
    image = ImageFolderDataset(tmp_path, image_size=10)[0]
    assert image.shape == (3, 10, 10)
    assert torch.all(image == 1.0)


def test_greyscale_and_rgba_images_become_three_channels(tmp_path):
    save_random_image(tmp_path / "grey.png", 8, 8, mode="L")
    save_random_image(tmp_path / "alpha.png", 8, 8, mode="RGBA")
    dataset = ImageFolderDataset(tmp_path, 8)
    assert all(dataset[index].shape == (3, 8, 8) for index in range(2))


def test_horizontal_flip_augmentation_mirrors_some_items(tmp_path):
    save_random_image(tmp_path / "x.png", 8, 8, seed=6)
    plain = ImageFolderDataset(tmp_path, 8)[0]
    flipping = ImageFolderDataset(tmp_path, 8, augment_horizontal_flip=True)
    torch.manual_seed(0)
    seen = {tuple(flipping[0].flatten().tolist()) for _ in range(20)}
    assert seen == {tuple(plain.flatten().tolist()), tuple(plain.flip(-1).flatten().tolist())}


def test_load_images_tensor_stacks_and_respects_limit(small_folder):
    everything = load_images_tensor(small_folder, 8)
    assert everything.shape == (3, 3, 8, 8) and everything.dtype == torch.float32
    first_two = load_images_tensor(small_folder, 8, limit=2)
    assert torch.equal(first_two, everything[:2])
    assert load_images_tensor(small_folder, 8, limit=100).shape[0] == 3


@pytest.mark.parametrize("limit", [0, -1, 2.5])
def test_load_images_tensor_rejects_bad_limit(small_folder, limit):
    with pytest.raises(ValueError, match="limit must be None"):
        load_images_tensor(small_folder, 8, limit=limit)


def test_missing_folder_error_says_what_to_pass(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DatasetError, match="does not exist") as caught:
        ImageFolderDataset(missing, 8)
    message = str(caught.value)
    assert str(missing) in message
    assert "pass the folder that holds your training images" in message


def test_dataset_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        ImageFolderDataset(tmp_path / "missing", 8)


def test_file_instead_of_folder_is_reported(tmp_path):
    path = save_random_image(tmp_path / "one.png", 8, 8)
    with pytest.raises(DatasetError, match="is a file, not a folder"):
        ImageFolderDataset(path, 8)


def test_folder_without_images_names_extensions_and_other_file_count(tmp_path):
    (tmp_path / "readme.md").write_text("hi")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "scan.tiff").write_bytes(b"\x00")
    with pytest.raises(DatasetError) as caught:
        ImageFolderDataset(tmp_path, 8)
    message = str(caught.value)
    assert "no images found" in message
    for ext in (".jpg", ".jpeg", ".png", ".webp"):
        assert ext in message
    assert "found 2 other file(s)" in message


def test_empty_folder_reports_zero_other_files(tmp_path):
    with pytest.raises(DatasetError, match="found 0 other file"):
        ImageFolderDataset(tmp_path, 8)


@pytest.mark.parametrize(
    "contents",
    [b"this is not a png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20],
    ids=["garbage", "truncated-png-header"],
)
def test_corrupt_image_error_names_the_file_and_says_to_delete_or_replace(tmp_path, contents):
    save_random_image(tmp_path / "a_good.png", 8, 8)
    (tmp_path / "b_broken.png").write_bytes(contents)
    dataset = ImageFolderDataset(tmp_path, 8)
    assert dataset[0].shape == (3, 8, 8)
    with pytest.raises(DatasetError) as caught:
        dataset[1]
    message = str(caught.value)
    assert "b_broken.png" in message
    assert "delete it or replace it" in message


def test_truncated_image_data_is_reported_as_corrupt(tmp_path):
    path = save_random_image(tmp_path / "cut.png", 32, 32, seed=7)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DatasetError, match="cut.png.*delete it or replace it"):
        ImageFolderDataset(tmp_path, 8)[0]


@pytest.mark.parametrize("image_size", [0, -4, 8.0])
def test_bad_image_size_is_rejected(small_folder, image_size):
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        ImageFolderDataset(small_folder, image_size)


def test_load_dataset_with_folder_path_builds_image_folder_dataset(small_folder):
    dataset = load_dataset(small_folder, 8, augment_horizontal_flip=True)
    assert isinstance(dataset, ImageFolderDataset)
    assert dataset.augment_horizontal_flip is True
    assert len(dataset) == 3


def test_load_dataset_unknown_name_lists_the_choices(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFUSION_HW_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError) as caught:
        load_dataset("cifar10", 32)
    message = str(caught.value)
    assert message.startswith("cifar10 not found under") and "'digits' (built in)" in message
    assert "pass the path of its folder" in message


def test_load_dataset_missing_path_says_it_is_no_folder(tmp_path):
    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path / "no" / "such", 32)
    message = str(caught.value)
    assert "(no such folder)" in message and "'digits'" in message and "existing folder" in message
