"""The generative pictures (grader/generative/pictures.py): samples beside real images, the metric bands
with the student's value marked, the smoke run's loss curves; and that `grade` writes and embeds them.

The drawing functions are tested on synthetic inputs whose colours make the layout checkable from the
PNG's pixels; the slow tests grade for real, on the tiny sample sets of tests/generative/test_metrics_grading.py.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from grader.generative import pictures, smoke
from grader.generative.bands import Band
from grader.generative.grading import GenerativeOptions, prepare
from grader.rubric import load_rubric
from tests.support.corpus import SOLUTION, mutation
from tests.support.course_data import course_images
from tests.support.generative import digits_reference
from tests.support.grading import run_grade

TINY_SMOKE = dataclasses.replace(smoke.CPU_PROFILE, steps=3, num_samples=4, timesteps=25, sampling_timesteps=2)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG" and image.width > 0 and image.height > 0
        return np.asarray(image.convert("RGB")).astype(int)


def runs(line: np.ndarray) -> int:
    """How many separate stretches of True a 1-D mask holds."""
    return int(np.count_nonzero(np.diff(np.concatenate([[0], line.astype(int), [0]])) == 1))


def anime_dataset():
    return load_rubric().metrics.dataset("anime-faces-64")  # FID bands 60 / 90 / 130, AFD 0.3 / 0.5 / 0.7


# ---------------------------------------------------------------------------- bands


def test_band_segments_follow_the_rubrics_rule_and_points():
    dataset = anime_dataset()
    fid = pictures.fid_bar(dataset, 75.0).segments
    assert [(s.start, s.end, s.text) for s in fid] == [
        (0.0, 60.0, "strong: 10 pts"), (60.0, 90.0, "medium: 7 pts"), (90.0, 130.0, "simple: 4 pts"),
        (130.0, 195.0, "0 pts")]
    afd = pictures.afd_bar(dataset, 0.55).segments
    assert [(s.start, s.end, s.text) for s in afd] == [
        (0.0, 0.3, "0 pts"), (0.3, 0.5, "simple: 4 pts"), (0.5, 0.7, "medium: 7 pts"), (0.7, 1.0, "strong: 10 pts")]
    # on a shared edge the rubric's own rule decides: FID <= at_most, AFD >= at_least
    assert pictures.segment_of(fid, 60.0, lower_is_better=True) == "strong: 10 pts"
    assert pictures.segment_of(afd, 0.5, lower_is_better=False) == "medium: 7 pts"
    for value in (10.0, 60.0, 75.0, 90.0, 129.0, 500.0):  # the same points as bands.py awards
        band = dataset.fid_band(value)
        expected = f"{band.name}: {band.points:g} pts" if band else "0 pts"
        assert pictures.segment_of(fid, min(value, 195.0), lower_is_better=True) == expected, value


def test_the_bands_picture_marks_each_value_at_its_x_in_its_band(tmp_path):
    dataset = anime_dataset()
    bars = [pictures.fid_bar(dataset, 0.0), pictures.fid_bar(dataset, 75.0, kid=0.04),
            pictures.fid_bar(dataset, 195.0), pictures.fid_bar(dataset, 1e9),
            pictures.afd_bar(dataset, 0.55, real_rate=0.82), pictures.copies_bar(0.02, 0.01)]
    marks = pictures.bands_picture(tmp_path / "bands.png", bars)
    image = pixels(tmp_path / "bands.png")
    assert [m.segment for m in marks] == ["strong: 10 pts", "medium: 7 pts", "0 pts", "0 pts", "medium: 7 pts",
                                          "too many copies: no FID or AFD points"]
    assert (marks[1].x, marks[1].clipped) == (75.0, False)
    assert (marks[3].x, marks[3].clipped) == (195.0, True)  # beyond the axis: an arrow at its end
    for mark in marks:  # the value's marker is drawn where the function says, in the value's colour
        column, row = mark.pixel
        assert 0 <= column < image.shape[1] and 0 <= row < image.shape[0], mark
        assert (image[row, column] < 60).all(), (mark, image[row, column])
    left, middle, right = (marks[i].pixel[0] for i in range(3))  # the same axis: 0, 75 and 195
    assert abs(middle - (left + (right - left) * 75 / 195)) <= 2, (left, middle, right)
    assert marks[3].pixel[0] == right and marks[0].pixel[1] < marks[1].pixel[1] < marks[2].pixel[1]  # one row each


def test_a_value_that_is_not_a_number_is_drawn_as_not_computed(tmp_path):
    dataset = anime_dataset()
    marks = pictures.bands_picture(tmp_path / "bands.png", [
        pictures.fid_bar(dataset, math.nan), pictures.fid_bar(dataset, math.inf), pictures.afd_bar(dataset, -math.inf)])
    assert [(m.clipped, m.segment) for m in marks] == [(True, ""), (True, "0 pts"), (True, "0 pts")]
    assert marks[0].pixel == (-1, -1) and marks[1].x == 195.0 and marks[2].x == 0.0
    pixels(tmp_path / "bands.png")


def test_bands_from_a_rubric_with_one_band_cover_the_axis():
    segments = pictures.band_segments((Band("pass", 50.0, 5.0),), True, 0.0, 75.0)
    assert [(s.start, s.end, s.text, s.shade) for s in segments] == [
        (0.0, 50.0, "pass: 5 pts", 1.0), (50.0, 75.0, "0 pts", 0.0)]


def test_the_bars_say_when_the_bands_points_are_withheld_and_show_the_real_datas_values():
    dataset = anime_dataset()
    copies = SimpleNamespace(fraction=0.05, flags=np.array([True] * 50 + [False] * 950))
    record = {"images": torch.zeros(1000, 3, 64, 64, dtype=torch.uint8), "copies": copies, "copies_allowed": 0.012,
              "copy_baseline": SimpleNamespace(fraction=0.002), "fid": SimpleNamespace(fid=40.0, kid=0.001),
              "afd": SimpleNamespace(rate=0.6), "real_afd": SimpleNamespace(rate=0.82)}
    fid, afd, copied = pictures.metric_bars(dataset, record)
    assert fid.note == afd.note == "too many copies of training images: no points"
    assert (afd.real, copied.real, copied.segments[0].end, copied.value) == (0.82, 0.002, 0.012, 0.05)
    fewer = pictures.metric_bars(dataset, {**record, "images": record["images"][:8], "copies": None})
    assert [bar.note for bar in fewer] == ["only 8 samples, fewer than 1000: no points"] * 2  # no copies bar


# ---------------------------------------------------------------------------- samples beside real images


def test_the_samples_picture_shows_the_samples_left_and_as_many_real_images_right(tmp_path):
    red = torch.zeros(70, 3, 64, 64, dtype=torch.uint8)
    red[:, 0] = 255
    blue = torch.zeros(100, 3, 64, 64, dtype=torch.uint8)
    blue[:, 2] = 255
    pictures.samples_picture(tmp_path / "samples.png", red, blue, real_label="real images (anime-faces-64)")
    image = pixels(tmp_path / "samples.png")
    is_red = (image[..., 0] > 200) & (image[..., 1] < 60) & (image[..., 2] < 60)
    is_blue = (image[..., 2] > 200) & (image[..., 0] < 60) & (image[..., 1] < 60)
    red_columns, blue_columns = np.flatnonzero(is_red.any(axis=0)), np.flatnonzero(is_blue.any(axis=0))
    assert red_columns.max() < blue_columns.min()  # two panels: the samples, then the real images
    assert red_columns.max() < image.shape[1] / 2 < blue_columns.min()
    for mask, columns in ((is_red, red_columns), (is_blue, blue_columns)):  # 64 of each: 8 x 8 tiles
        first_row = mask[:, columns[0] + 5]
        rows = np.flatnonzero(first_row)
        assert runs(first_row) == 8, "8 rows of tiles"
        assert runs(mask[rows[0] + 5]) == 8, "8 tiles a row"


def test_the_samples_picture_frames_copies_and_takes_grey_floats_with_nan_and_inf(tmp_path):
    grey = torch.full((5, 1, 16, 16), 0.5)
    grey[0, 0, 0, 0], grey[1, 0, 0, 0], grey[2, 0, 0, 0] = math.nan, math.inf, -math.inf
    real = torch.rand(3, 1, 16, 16)
    mark = np.array([int(pictures.MARK_COLOUR[i:i + 2], 16) for i in (1, 3, 5)])
    pictures.samples_picture(tmp_path / "plain.png", grey, real)
    pictures.samples_picture(tmp_path / "framed.png", grey, real, copies=[False, True, False, False, False])
    assert not (np.abs(pixels(tmp_path / "plain.png") - mark).max(axis=-1) < 30).any()
    framed = np.abs(pixels(tmp_path / "framed.png") - mark).max(axis=-1) < 30
    assert framed.sum() > 16 * 4, "one tile framed in the marking colour"


def test_the_grid_bounds_the_number_and_size_of_the_tiles():
    big = torch.zeros(100, 3, 512, 256, dtype=torch.uint8)
    shown = pictures.as_rgb_uint8(big)
    assert tuple(shown.shape) == (pictures.MAX_TILES, 3, pictures.MAX_TILE_PIXELS, pictures.MAX_TILE_PIXELS // 2)
    with pytest.raises(ValueError, match=r"\(N, 1 or 3, H, W\)"):
        pictures.as_rgb_uint8(torch.zeros(2, 5, 8, 8))


# ---------------------------------------------------------------------------- loss curves


def test_loss_curves_take_nan_inf_huge_and_negative_losses(tmp_path):
    student = np.linspace(1.0, 0.1, 150)
    student[40], student[60], student[80], student[100:] = 1e300, -5.0, math.inf, math.nan
    reference = np.linspace(1.0, 0.05, 150)
    limit = pictures.LossLimit(136, 150, 0.7, "loss_falls")
    pictures.smoke_picture(tmp_path / "curves.png", student, reference, title="smoke $run$", limit=limit)
    image = pixels(tmp_path / "curves.png")
    assert image.shape[:2] == (480, 900)
    steps, values = pictures.curve(np.arange(1_000_000, dtype=float))
    assert len(steps) <= pictures.MAX_CURVE_POINTS and steps[0] == 1 and steps[-1] == 1_000_000


def test_a_drawing_that_fails_is_one_line_on_stderr_and_returns_none(capsys, tmp_path):
    def broken():
        raise RuntimeError("the font cache is gone\nsecond line")

    assert pictures.drawn("metric_bands.png", broken) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "metric_bands.png was not drawn (RuntimeError: the font cache is gone second line)" in err
    # a bad tensor in what scoring recorded: the samples picture is skipped, the bands are still drawn
    record = {"images": torch.zeros(2, 5, 8, 8, dtype=torch.uint8),
              "fid": type("FID", (), {"fid": 80.0, "kid": 0.01})()}
    written = pictures.metric_pictures(tmp_path, anime_dataset(), torch.zeros(4, 3, 64, 64, dtype=torch.uint8), record)
    assert written == [tmp_path / pictures.BANDS_PICTURE]
    assert "samples_beside_real_images.png was not drawn" in capsys.readouterr().err


# ---------------------------------------------------------------------------- grading writes them


@pytest.fixture
def faces(tmp_path) -> tuple[Path, Path]:
    """(16 real faces as the reference, 8 other real faces as the 'samples'),
    as tests/generative/test_metrics_grading.py does."""
    files = course_images("anime-faces-64", at_least=24)
    reference, fresh = tmp_path / "reference", tmp_path / "fresh"
    for folder, chosen in ((reference, files[:16]), (fresh, files[16:24])):
        folder.mkdir()
        for path in chosen:
            shutil.copyfile(path, folder / path.name)
    return reference, fresh


@pytest.mark.slow
def test_grade_samples_writes_the_samples_and_bands_pictures_and_the_report_embeds_them(tmp_path, monkeypatch, faces):
    monkeypatch.setenv("DIFFUSION_HW_CACHE", str(tmp_path / "cache"))
    reference, fresh = faces
    out = tmp_path / "out"
    out.mkdir()
    (out / pictures.SMOKE_PICTURE).write_bytes(b"an earlier grading's picture")
    run = run_grade("solution", "--public-only", "--samples", str(fresh), "--reference-data", str(reference),
                    "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "was not drawn" not in run.stderr
    samples, bands = out / pictures.SAMPLES_PICTURE, out / pictures.BANDS_PICTURE
    assert not (out / pictures.SMOKE_PICTURE).exists()  # not this grading's: removed
    grid = pixels(samples)
    half = grid.shape[1] // 2
    background = np.array([255, 255, 255])
    content = (np.abs(grid - background).max(axis=-1) > 40)
    assert content[:, :half].sum() > 8 * 64 * 64 * 0.5 and content[:, half:].sum() > 8 * 64 * 64 * 0.5  # two panels
    assert pixels(bands).shape[0] >= 3 * 100  # FID, AFD and the copies: a row each
    html = (out / "report.html").read_text()
    markdown = (out / "report.md").read_text()
    for picture in (samples, bands):
        with_caption = picture.stem.replace("_", " ")
        assert with_caption in html and f"]({picture.name})" in markdown
    assert html.count("data:image/png;base64,") >= 2
    tests = {t["extra_data"]["check"]: t for t in run.results["tests"] if "metrics" in t["tags"]}
    assert tests["metrics.fid"]["output"].startswith("FID ")  # scored as before: the pictures add, never replace


@pytest.mark.slow
def test_a_samples_run_with_a_bad_folder_keeps_its_entries_and_draws_no_samples_picture(tmp_path, faces):
    reference, _ = faces
    empty = tmp_path / "empty"
    empty.mkdir()
    prepared = prepare(load_rubric(), GenerativeOptions(samples=empty, reference_data=reference))
    results = prepared.run(SOLUTION, SOLUTION, pictures=tmp_path / "out")
    assert {r.check_id for r in results} == {"metrics.samples", "metrics.fid", "metrics.afd"}
    assert all(r.score == 0 and "no image files" in r.message for r in results)
    assert not (tmp_path / "out" / pictures.SAMPLES_PICTURE).exists()
    assert not (tmp_path / "out" / pictures.BANDS_PICTURE).exists()


@pytest.mark.slow
def test_samples_regenerated_from_a_checkpoint_are_pictured_beside_real_digits(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("DIFFUSION_HW_CACHE", str(tmp_path / "cache"))
    reference, dataset = digits_reference(tmp_path)
    prepared = prepare(load_rubric(), GenerativeOptions(checkpoint=tiny_checkpoint, reference_data=reference,
                                                        dataset="digits", num_samples=8))
    prepared.dataset = dataset
    results = {r.check_id: r for r in prepared.run(SOLUTION, SOLUTION, pictures=tmp_path / "out")}
    assert results["metrics.checkpoint"].passed and results["metrics.fid"].score == 10
    grid = pixels(tmp_path / "out" / pictures.SAMPLES_PICTURE)  # 16 x 16 digits, enlarged to be seen
    assert grid.shape[1] > 2 * 8 * pictures.MIN_TILE_PIXELS
    assert pixels(tmp_path / "out" / pictures.BANDS_PICTURE).shape[0] > 0


@pytest.mark.slow
def test_the_smoke_run_draws_both_loss_curves_and_a_crashed_run_says_so(tmp_path):
    results = smoke.smoke_results(SOLUTION, SOLUTION, TINY_SMOKE, pictures=tmp_path / "solution")
    assert all(r.passed for r in results), [r.message for r in results]
    image = pixels(tmp_path / "solution" / pictures.SMOKE_PICTURE)
    student = np.array([int(pictures.MARK_COLOUR[i:i + 2], 16) for i in (1, 3, 5)])
    reference = np.array([int(pictures.REAL_COLOUR[i:i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(image - student).max(axis=-1) < 30).sum() > 50, "the student's curve"
    assert (np.abs(image - reference).max(axis=-1) < 30).sum() > 50, "the reference's curve"

    crashing = mutation("p_losses_raises", ("gaussian_diffusion.py",
                                            "x_t = self.q_sample(x_start, t, noise)\n        out = ",
                                           "raise RuntimeError('boom')\n        out = "))
    results = smoke.smoke_results(crashing.build(tmp_path / "crashing"), SOLUTION, TINY_SMOKE,
                                  pictures=tmp_path / "crashed")
    assert all(not r.passed and "boom" in r.message for r in results)
    assert pixels(tmp_path / "crashed" / pictures.SMOKE_PICTURE).shape[:2] == (480, 900)
