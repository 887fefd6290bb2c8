"""The data root: which setting wins, what a missing dataset says, and the names load_dataset accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from diffusion_hw_data import DatasetError, DigitsDataset, ImageFolderDataset, load_dataset
from diffusion_hw_data.catalogue import CATALOGUE
from diffusion_hw_data.root import (
    DATA_ROOT_ENV,
    DEFAULT_DATA_ROOT,
    DataRoot,
    is_dataset_name,
    locate_dataset,
    missing_dataset_message,
    resolve_data_root,
)


def write_images(folder: Path, count: int = 3, size: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (size, size), (40 * i, 80, 120)).save(folder / f"{i:04d}.png")
    return folder


# ---------------------------------------------------------------------------- which setting wins


def test_the_flag_beats_the_environment_the_configuration_and_the_default(tmp_path):
    env = {DATA_ROOT_ENV: str(tmp_path / "env")}
    root = resolve_data_root(tmp_path / "flag", tmp_path / "config", "the rubric's data_root", environ=env)
    assert root == DataRoot((tmp_path / "flag").resolve(), "--data-root")


def test_the_environment_beats_the_configuration_and_the_default(tmp_path):
    env = {DATA_ROOT_ENV: str(tmp_path / "env")}
    root = resolve_data_root(None, tmp_path / "config", "the rubric's data_root", environ=env)
    assert root == DataRoot((tmp_path / "env").resolve(), "DIFFUSION_HW_DATA")


def test_the_configuration_beats_the_default_and_is_relative_to_its_base(tmp_path):
    root = resolve_data_root(None, "course-data", "the rubric's data_root", base=tmp_path, environ={})
    assert root == DataRoot((tmp_path / "course-data").resolve(), "the rubric's data_root")


def test_without_any_setting_the_root_is_the_documented_default():
    root = resolve_data_root(environ={})
    assert root.path == DEFAULT_DATA_ROOT.expanduser().resolve() and root.source == "the default"
    assert str(DEFAULT_DATA_ROOT) == "~/.cache/diffusion-hw/data"


def test_an_empty_environment_variable_counts_as_unset(tmp_path):
    root = resolve_data_root(None, tmp_path, "the profile's data_root", environ={DATA_ROOT_ENV: ""})
    assert root.source == "the profile's data_root"


def test_the_environment_variable_is_read_from_the_process_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert resolve_data_root() == DataRoot(tmp_path.resolve(), "DIFFUSION_HW_DATA")
    monkeypatch.delenv(DATA_ROOT_ENV)
    assert resolve_data_root().source == "the default"


@pytest.mark.parametrize("value, named", [
    ("anime-faces-64", True), ("afhq-cats-32", True), ("my_faces", True),
    ("path/to/faces", False), ("./faces", False), ("/data/faces", False), ("~/faces", False),
    (".", False), ("..", False), ("", False),
])
def test_a_name_is_one_folder_name_and_anything_else_is_a_path(value, named):
    assert is_dataset_name(value) is named


# ---------------------------------------------------------------------------- what a missing dataset says


@pytest.mark.parametrize("source", ["--data-root", "DIFFUSION_HW_DATA", "the rubric's [metrics] data_root",
                                    "the default"])
def test_a_missing_dataset_names_itself_the_root_where_the_root_came_from_the_layout_and_the_count(tmp_path, source):
    root = DataRoot(tmp_path / "data", source)
    with pytest.raises(DatasetError) as caught:
        locate_dataset("anime-faces-64", root)
    message = str(caught.value)
    assert message.startswith(f"anime-faces-64 not found under {tmp_path / 'data'} (the data root, from {source}): ")
    assert f"put 2,000 64x64 RGB anime faces (PNG or JPG) in {tmp_path / 'data' / 'anime-faces-64'}/" in message
    assert "a flat folder, no subfolders: 0000.png ... 1999.png" in message
    assert "antoncoding/Deep_Learning_GAN" in message  # where to download it
    assert "pass --data-root DIR or set DIFFUSION_HW_DATA=DIR" in message
    assert "\n" not in message


def test_the_cats_message_names_afhq_and_its_size(tmp_path):
    message = missing_dataset_message("afhq-cats-32", DataRoot(tmp_path, "DIFFUSION_HW_DATA"))
    assert "about 5,000 32x32 RGB cat faces" in message and "AFHQ" in message and "clovaai/stargan-v2" in message
    assert f"in {tmp_path / 'afhq-cats-32'}/" in message


def test_every_catalogued_dataset_says_what_where_and_how_many():
    for card in CATALOGUE.values():
        message = missing_dataset_message(card.name, DataRoot(Path("/r"), "the default"))
        assert card.images in message and card.layout in message and card.source in message
        assert any(ch.isdigit() for ch in card.images), f"{card.name}: say how many images"


def test_an_unknown_name_lists_the_known_datasets_and_how_to_add_ones_own(tmp_path):
    with pytest.raises(DatasetError) as caught:
        locate_dataset("cifar10", DataRoot(tmp_path, "--data-root"))
    message = str(caught.value)
    assert "'digits' (built in)" in message and "'anime-faces-64'" in message and "'afhq-cats-32'" in message
    assert f"put its images in {tmp_path / 'cifar10'}/" in message and "from --data-root" in message


def test_a_file_or_an_imageless_folder_in_the_datasets_place_is_reported(tmp_path):
    root = DataRoot(tmp_path, "DIFFUSION_HW_DATA")
    (tmp_path / "anime-faces-64").write_text("not a folder")
    with pytest.raises(DatasetError, match=r"anime-faces-64 under .* is a file, not a folder: put 2,000"):
        locate_dataset("anime-faces-64", root)
    (tmp_path / "afhq-cats-32").mkdir()
    (tmp_path / "afhq-cats-32" / "README.txt").write_text("cats go here")
    with pytest.raises(DatasetError, match=r"afhq-cats-32 under .* holds no image files: put about 5,000"):
        locate_dataset("afhq-cats-32", root)


def test_a_present_dataset_is_its_folder_under_the_root(tmp_path):
    folder = write_images(tmp_path / "anime-faces-64")
    assert locate_dataset("anime-faces-64", DataRoot(tmp_path, "--data-root")) == folder


# ---------------------------------------------------------------------------- load_dataset by name


def test_digits_need_no_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "nowhere"))
    dataset = load_dataset("digits", 8, data_root=tmp_path / "nowhere either")
    assert isinstance(dataset, DigitsDataset) and len(dataset) == 1797


def test_load_dataset_reads_a_name_from_the_flag_or_the_environment(tmp_path, monkeypatch):
    write_images(tmp_path / "env" / "anime-faces-64", count=2)
    write_images(tmp_path / "flag" / "anime-faces-64", count=3)
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "env"))
    from_env = load_dataset("anime-faces-64", 8)
    from_flag = load_dataset("anime-faces-64", 8, data_root=tmp_path / "flag")
    assert isinstance(from_env, ImageFolderDataset) and len(from_env) == 2 and len(from_flag) == 3
    assert from_env[0].shape == torch.Size([3, 8, 8])


def test_load_dataset_of_a_missing_name_says_where_the_root_came_from(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match=r"^afhq-cats-32 not found under .* \(the data root, from DIFFUSION_HW_DAT"):
        load_dataset("afhq-cats-32", 32)


def test_a_bare_folder_name_in_the_current_directory_still_loads_when_the_root_lacks_it(tmp_path, monkeypatch):
    write_images(tmp_path / "work" / "faces", count=2)
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "root"))
    monkeypatch.chdir(tmp_path / "work")
    assert len(load_dataset("faces", 8)) == 2


def test_the_data_root_comes_before_a_folder_of_the_same_name_here(tmp_path, monkeypatch):
    write_images(tmp_path / "work" / "anime-faces-64", count=1)
    write_images(tmp_path / "root" / "anime-faces-64", count=4)
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "root"))
    monkeypatch.chdir(tmp_path / "work")
    assert len(load_dataset("anime-faces-64", 8)) == 4
