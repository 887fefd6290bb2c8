"""Named reference and training data found through the data root: `--data-root` > $DIFFUSION_HW_DATA > the
rubric's (or smoke profile's) data_root > ~/.cache/diffusion-hw/data; the built-in digits need none.

The fast tests use a few synthetic 64 x 64 PNGs named as the dataset; the end-to-end grading copies real faces
from the course data (tests/support/course_data.py) to a temporary data root.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from grader import cli
from grader.errors import GraderError
from grader.generative import smoke
from grader.generative.grading import GenerativeOptions, PreparedGenerative, prepare
from grader.instructor import batch
from grader.instructor.calibrate import _dataset
from grader.rubric import DEFAULT_RUBRIC, load_rubric
from tests.support.corpus import SOLUTION
from tests.support.course_data import course_images
from tests.support.generative import REFERENCE_COUNT
from tests.support.grading import run_grade

ENV = "DIFFUSION_HW_DATA"


def fake_faces(root: Path, count: int = 4, name: str = "anime-faces-64", size: int = 64) -> Path:
    """`count` noise PNGs of size x size in root/name: enough to find and load, never to score."""
    folder = root / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(count)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    return folder


@pytest.fixture
def no_root_settings(tmp_path, monkeypatch) -> Path:
    """No $DIFFUSION_HW_DATA, and a HOME of its own, so that the default root is tmp_path/home/.cache/..."""
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home" / ".cache" / "diffusion-hw" / "data"


def rubric_with_data_root(tmp_path: Path, data_root: Path) -> Path:
    text = DEFAULT_RUBRIC.read_text(encoding="utf-8")
    assert text.count('\n[metrics]\n') == 1
    path = tmp_path / "rubric.toml"
    path.write_text(text.replace('\n[metrics]\n', f'\n[metrics]\ndata_root = "{data_root}"\n'), encoding="utf-8")
    return path


def reference_of(options: GenerativeOptions, rubric=None):
    return prepare(rubric or load_rubric(), options).reference


# ---------------------------------------------------------------------------- the reference data: which root wins


def test_the_shipped_rubric_names_its_reference_data_instead_of_a_path():
    faces = load_rubric().metrics.dataset("anime-faces-64")
    assert faces.reference == "anime-faces-64" and faces.named and faces.data_root is None


def test_a_named_reference_is_read_from_the_environments_root(tmp_path, monkeypatch):
    folder = fake_faces(tmp_path / "env")
    monkeypatch.setenv(ENV, str(tmp_path / "env"))
    reference = reference_of(GenerativeOptions(samples=tmp_path))
    assert reference.label == f"anime-faces-64 ({folder.resolve()})" and len(reference.images) == 4


def test_the_data_root_flag_beats_the_environment(tmp_path, monkeypatch):
    fake_faces(tmp_path / "env", count=4)
    folder = fake_faces(tmp_path / "flag", count=5)
    monkeypatch.setenv(ENV, str(tmp_path / "env"))
    reference = reference_of(GenerativeOptions(samples=tmp_path, data_root=tmp_path / "flag"))
    assert reference.label == f"anime-faces-64 ({folder.resolve()})" and len(reference.images) == 5


def test_the_rubrics_data_root_is_used_when_neither_flag_nor_environment_is_set(tmp_path, no_root_settings,
                                                                                 monkeypatch):
    folder = fake_faces(tmp_path / "rubric-root", count=3)
    rubric = load_rubric(rubric_with_data_root(tmp_path, tmp_path / "rubric-root"))
    assert len(reference_of(GenerativeOptions(samples=tmp_path), rubric).images) == 3
    fake_faces(tmp_path / "env", count=6)
    monkeypatch.setenv(ENV, str(tmp_path / "env"))  # the environment comes before the rubric
    assert len(reference_of(GenerativeOptions(samples=tmp_path), rubric).images) == 6
    assert rubric.metrics.dataset().reference_path() == (tmp_path / "env" / "anime-faces-64").resolve() != folder


def test_without_any_setting_the_reference_is_read_from_the_default_root(tmp_path, no_root_settings):
    folder = fake_faces(no_root_settings, count=2)
    assert reference_of(GenerativeOptions(samples=tmp_path)).label == f"anime-faces-64 ({folder.resolve()})"


def test_a_rubric_data_root_that_is_not_a_path_is_a_one_line_rubric_error(tmp_path):
    path = rubric_with_data_root(tmp_path, tmp_path)
    path.write_text(path.read_text().replace(f'data_root = "{tmp_path}"', "data_root = 3"))
    with pytest.raises(GraderError, match=r"\[metrics\] data_root: must be a folder path"):
        load_rubric(path)


# ---------------------------------------------------------------------------- a missing dataset


def test_a_missing_reference_says_what_to_put_where_and_which_setting_chose_the_root(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path / "data"))
    with pytest.raises(GraderError) as caught:
        prepare(load_rubric(), GenerativeOptions(samples=tmp_path))
    message, root = str(caught.value), (tmp_path / "data").resolve()
    assert message.startswith(f"the reference data of 'anime-faces-64': anime-faces-64 not found under {root} "
                              f"(the data root, from DIFFUSION_HW_DATA): put 2,000 64x64 RGB anime faces (PNG or JPG) "
                              f"in {root / 'anime-faces-64'}/")
    assert "flat folder" in message and "--data-root DIR" in message


@pytest.mark.parametrize("argv", [
    ["solution", "--public-only", "--samples", "{tmp}"],
    ["calibrate", "anime-faces-64", "--no-smoke"],
])
def test_grade_and_calibrate_stop_in_one_line_naming_the_data_root_flag(tmp_path, capsys, argv):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--data-root", str(tmp_path / "data")]
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert f"anime-faces-64 not found under {(tmp_path / 'data').resolve()} (the data root, from --data-root)" in err
    assert "2,000 64x64" in err


def test_grade_batch_accepts_the_data_root_and_hands_it_to_every_grading_process(tmp_path):
    args = cli._batch_parser().parse_args([str(tmp_path), "--out", str(tmp_path / "out"), "--data-root", "rel/data"])
    options = cli._generative_options(args)
    assert options.data_root == Path("rel/data")
    forwarded = batch._prepare_generative_once(options, PreparedGenerative(options), tmp_path, SOLUTION, print)
    assert forwarded == ("--data-root", str(Path("rel/data").resolve()))
    assert batch._prepare_generative_once(GenerativeOptions(), PreparedGenerative(GenerativeOptions()), tmp_path,
                                          SOLUTION, print) == ()


# ---------------------------------------------------------------------------- digits need no root


def test_the_built_in_digits_need_no_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path / "nowhere"))
    options = GenerativeOptions(samples=tmp_path, dataset="digits", data_root=tmp_path / "nowhere either")
    assert reference_of(options).label == "digits (built in, 16x16)"
    assert load_rubric().metrics.dataset("digits").reference_folder(tmp_path / "nowhere") is None
    assert smoke.training_folder(smoke.CPU_PROFILE, tmp_path / "nowhere") is None


# ---------------------------------------------------------------------------- the smoke run's training data


def test_the_gpu_smoke_profile_trains_on_a_named_dataset_under_the_root(tmp_path, no_root_settings, monkeypatch):
    assert smoke.GPU_PROFILE.dataset == "anime-faces-64"
    flag, env = fake_faces(tmp_path / "flag"), fake_faces(tmp_path / "env")
    monkeypatch.setenv(ENV, str(tmp_path / "env"))
    assert smoke.training_folder(smoke.GPU_PROFILE, tmp_path / "flag") == flag.resolve()
    assert smoke.training_folder(smoke.GPU_PROFILE) == env.resolve()
    monkeypatch.delenv(ENV)
    own = fake_faces(tmp_path / "profile-root")
    profile = dataclasses.replace(smoke.GPU_PROFILE, data_root=str(tmp_path / "profile-root"))
    assert smoke.training_folder(profile) == own.resolve()
    images = smoke.training_images(dataclasses.replace(profile, reference_limit=2))
    assert tuple(images.shape) == (2, 3, 64, 64)


def test_a_missing_smoke_dataset_stops_the_grader_before_grading(tmp_path, monkeypatch):
    monkeypatch.setattr(smoke, "default_profile", lambda *args, **kwargs: smoke.GPU_PROFILE)  # as on a GPU machine
    with pytest.raises(GraderError) as caught:
        prepare(load_rubric(), GenerativeOptions(smoke=True, data_root=tmp_path / "data"))
    message = str(caught.value)
    assert message.startswith("the smoke profile 'gpu-anime-faces-64' trains on anime-faces-64 not found under")
    assert "(the data root, from --data-root)" in message and "2,000 64x64" in message


# ---------------------------------------------------------------------------- grade calibrate by name


def test_calibrate_finds_rubric_and_catalogued_names_under_the_root(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path / "env"))
    folder = fake_faces(tmp_path / "flag")
    entry, found = _dataset("anime-faces-64", load_rubric(), tmp_path / "flag")
    assert entry.name == "anime-faces-64" and found == folder.resolve()
    cats = fake_faces(tmp_path / "env", name="afhq-cats-32", size=32)
    assert _dataset("afhq-cats-32", load_rubric()) == (None, cats.resolve())
    with pytest.raises(GraderError, match=r"as a dataset name: afhq-cats-32 not found under .* \(the data root, from "
                                          r"--data-root\): put about 5,000 32x32 RGB cat faces"):
        _dataset("afhq-cats-32", load_rubric(), tmp_path / "flag")


# ---------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_grading_samples_against_anime_faces_reads_the_reference_from_the_environments_root(tmp_path, monkeypatch):
    """`grade --samples` with the shipped rubric (reference = "anime-faces-64") and no --reference-data: the
    reference is the 16 real faces of the temporary data root that DIFFUSION_HW_DATA names."""
    files = course_images("anime-faces-64", at_least=REFERENCE_COUNT + 8)
    (tmp_path / "data" / "anime-faces-64").mkdir(parents=True)
    (tmp_path / "samples").mkdir()
    for path in files[:REFERENCE_COUNT]:
        shutil.copyfile(path, tmp_path / "data" / "anime-faces-64" / path.name)
    for path in files[REFERENCE_COUNT:REFERENCE_COUNT + 8]:
        shutil.copyfile(path, tmp_path / "samples" / path.name)
    monkeypatch.setenv(ENV, str(tmp_path / "data"))
    monkeypatch.setenv("DIFFUSION_HW_CACHE", str(tmp_path / "cache"))
    run = run_grade("solution", "--public-only", "--samples", str(tmp_path / "samples"),
                    "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    metrics = {t["extra_data"]["check"]: t for t in run.results["tests"] if "metrics" in t["tags"]}
    assert {"metrics.memorisation", "metrics.fid", "metrics.afd"} <= set(metrics)
    assert "8 samples vs 16 reference images" in metrics["metrics.fid"]["output"], metrics["metrics.fid"]["output"]
    assert metrics["metrics.memorisation"]["status"] == "passed", metrics["metrics.memorisation"]["output"]
