"""Class-conditional samples in `grade`: the accuracy bands of the rubric, to points through `grade --samples`.

The samples are real held-out digits (3 per class) arranged one folder per digit: what a perfect
class-conditional model hands in. Handed in under the wrong digits they are what a model that ignores its
label hands in. The fast tests decode the PNGs in this process (the sandbox's decoding has its own tests);
the slow ones go through the sandbox and the `grade` command.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import grader.generative.student_images as student_images
from grader.errors import GraderError
from grader.generative.grading import GenerativeOptions, prepare
from grader.generative.samples import ReferenceData, score_samples
from grader.metrics.digit_accuracy import MIN_HELD_OUT_ACCURACY, real_digits
from grader.rubric import load_profile, load_rubric, profile_path
from tests.support.digit_samples import SIZE, held_out_digits, shared_classifier_cache, write_class_folders
from tests.support.grading import run_grade

PROFILE = "conditional-digits"


@pytest.fixture(autouse=True)
def shared_cache(tmp_path_factory, monkeypatch):
    """The classifier's weights (and the metrics' caches) are shared by the session."""
    monkeypatch.setenv("DIFFUSION_HW_CACHE", str(shared_classifier_cache(tmp_path_factory)))


@pytest.fixture(scope="session")
def digit_folders(tmp_path_factory) -> tuple[Path, Path]:
    """(real held-out digits, one folder per digit; the same images each in the next digit's folder)."""
    images, labels = held_out_digits()
    root = tmp_path_factory.mktemp("conditional")
    return (write_class_folders(root / "right", images, labels),
            write_class_folders(root / "wrong", images, (labels + 1) % 10))


def tiny(dataset, **changes):
    """The profile's digits scoring, reachable by 30 samples: min_samples 2, and (by default) no sample
    flagged as a copy, since these real digits are training images."""
    return dataclasses.replace(dataset, **{"min_samples": 2, "memorisation_threshold": 0.0, **changes})


def reference_with(samples: torch.Tensor) -> ReferenceData:
    """A small training set that holds the samples (the memorisation baseline of 1,797 digits takes long)."""
    return ReferenceData("digits (test)", torch.cat([real_digits(SIZE)[0][:32], samples]))


def decode_in_process(folder: Path, files=None) -> torch.Tensor:
    """student_images.decode_images without the sandbox: (N, 3, H, W) uint8."""
    return torch.stack([torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)
                        for path in files])


def by_id(results) -> dict:
    return {r.check_id: r for r in results}


# ---------------------------------------------------------------------------- bands


def test_the_conditional_profile_scores_accuracy_with_bands_between_chance_and_real_digits():
    dataset = load_profile(PROFILE).metrics.dataset()
    assert dataset.accuracy and not dataset.scores_fid and dataset.accuracy_points == 10
    points = [band.points if (band := dataset.accuracy_band(a)) else 0
              for a in (0.96, 0.85, 0.84, 0.70, 0.69, 0.50, 0.49, 0.10, float("nan"))]
    assert points == [10, 10, 7, 7, 4, 4, 0, 0, 0]
    thresholds = [band.threshold for band in dataset.accuracy_bands]
    assert 0.1 < min(thresholds) and max(thresholds) < MIN_HELD_OUT_ACCURACY  # chance < bands < every real-digit score
    default = load_rubric().metrics
    assert not any(d.accuracy or d.accuracy_bands for d in default.datasets.values())  # the default homework: FID


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("accuracy = true ", "accuracy = false "),
     r"\[\[metrics.accuracy\]\] #1: dataset 'digits' has accuracy = false: remove the band or set accuracy = true"),
    (lambda t: t.replace('reference = "digits"', 'reference = "anime-faces-64"'),
     "the digit classifier knows only the built-in digits: set reference = \"digits\""),
    (lambda t: t.replace("at_least = 0.85", "at_least = 85"), r"at_least.* must be a number in \[0, 1\]"),
    (lambda t: t.replace("at_least = 0.85", "at_least = 0.60"),
     "band 'strong' .* must have a stricter threshold than 'medium'"),
    (lambda t: t.replace("accuracy = true ", 'accuracy = "yes" '), "accuracy: must be true or false"),
    (lambda t: t.replace("at_least = 0.50", "at_most = 0.50"), r"missing key\(s\) at_least"),
])
def test_accuracy_band_mistakes_are_reported_in_one_line(tmp_path, edit, message):
    path = tmp_path / f"{PROFILE}.toml"
    text = profile_path(PROFILE).read_text()
    assert edit(text) != text
    path.write_text(edit(text))
    with pytest.raises(GraderError, match=message) as caught:
        load_rubric(path)
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------------------- samples to points


def test_real_digits_by_class_earn_the_strong_band_and_wrong_labels_earn_nothing(digit_folders, monkeypatch):
    monkeypatch.setattr(student_images, "decode_images", decode_in_process)
    right, wrong = digit_folders
    images, _ = held_out_digits()
    dataset = tiny(load_profile(PROFILE).metrics.dataset())
    results = by_id(score_samples(right, dataset, reference_with(images)))
    assert set(results) == {"metrics.memorisation", "metrics.accuracy"}  # no FID without FID bands
    accuracy = results["metrics.accuracy"]
    assert (accuracy.score, accuracy.max_score, accuracy.passed) == (10, 10, True), accuracy.message
    assert "30 samples" in accuracy.message and "0: 3/3" in accuracy.message
    assert accuracy.message.endswith("band 'strong' -> 10 / 10")

    results = by_id(score_samples(wrong, dataset, reference_with(images)))
    accuracy = results["metrics.accuracy"]
    assert (accuracy.score, accuracy.max_score, accuracy.passed) == (0, 10, False), accuracy.message
    assert "accuracy 0." in accuracy.message and accuracy.message.endswith("no band reached -> 0 / 10")


def test_training_digits_handed_in_as_samples_reach_the_band_but_earn_no_points(digit_folders, monkeypatch):
    monkeypatch.setattr(student_images, "decode_images", decode_in_process)
    images, _ = held_out_digits()
    dataset = tiny(load_profile(PROFILE).metrics.dataset(), memorisation_threshold=0.005)  # the profile's own
    results = by_id(score_samples(digit_folders[0], dataset, reference_with(images)))
    assert not results["metrics.memorisation"].passed and "30 of 30 samples" in results["metrics.memorisation"].message
    accuracy = results["metrics.accuracy"]
    assert accuracy.score == 0 and "band 'strong' -> 0 / 10 (too many samples copy training images: no metric " \
                                   "points)" in accuracy.message, accuracy.message
    too_few = by_id(score_samples(digit_folders[0], tiny(dataset, min_samples=1000), reference_with(images)))
    assert too_few["metrics.accuracy"].score == 0
    assert "only 30 samples: the bands are set for at least 1000" in too_few["metrics.accuracy"].message


def test_a_folder_without_a_digit_costs_the_accuracy_points_before_anything_is_decoded(digit_folders, tmp_path,
                                                                                       monkeypatch):
    def no_decoding(*args):
        raise AssertionError("decoded although the layout is wrong")

    monkeypatch.setattr(student_images, "decode_images", no_decoding)
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in sorted(digit_folders[0].rglob("*.png")):
        (flat / f"{path.parent.name}-{path.name}").write_bytes(path.read_bytes())
    dataset = load_profile(PROFILE).metrics.dataset()
    results = by_id(score_samples(flat, dataset, reference_with(held_out_digits()[0])))
    assert set(results) == {"metrics.samples", "metrics.accuracy"}
    assert (results["metrics.accuracy"].score, results["metrics.accuracy"].max_score) == (0, 10)
    message = results["metrics.accuracy"].message
    assert "holds the file '0-0000.png', which is not a class folder" in message
    assert message.endswith("hand in one folder per digit, 0/ to 9/, each holding only that digit's 16x16 PNG samples")


def test_a_checkpoint_cannot_be_scored_on_class_conditional_accuracy(tmp_path):
    checkpoint = tmp_path / "model-final.pt"
    checkpoint.write_bytes(b"weights")
    with pytest.raises(GraderError, match="class-conditional samples, which a checkpoint does not regenerate: "
                                          "pass --samples DIR"):
        prepare(load_profile(PROFILE), GenerativeOptions(checkpoint=checkpoint))


# ---------------------------------------------------------------------------- through the sandbox and `grade`


@pytest.mark.slow
def test_grade_samples_gives_real_digits_by_class_the_accuracy_points(digit_folders, tmp_path):
    rubric = tmp_path / f"{PROFILE}.toml"
    rubric.write_text(profile_path(PROFILE).read_text().replace("\nmin_samples = 1000", "\nmin_samples = 2")
                      .replace("\nmemorisation_threshold = 0.005", "\nmemorisation_threshold = 0.0"))
    out = tmp_path / "out"
    run = run_grade("solution", "--public-only", "--rubric", str(rubric), "--samples", str(digit_folders[0]),
                    "--out", str(out))
    assert run.returncode == 0, run.stderr
    metrics = {t["extra_data"]["check"]: t for t in run.results["tests"] if "metrics" in t["tags"]}
    assert set(metrics) == {"metrics.memorisation", "metrics.accuracy"}
    assert (metrics["metrics.accuracy"]["score"], metrics["metrics.accuracy"]["max_score"]) == (10, 10)
    assert "band 'strong' -> 10 / 10" in metrics["metrics.accuracy"]["output"]


@pytest.mark.slow
def test_wrong_labels_decoded_in_the_sandbox_earn_no_accuracy_points(digit_folders):
    dataset = tiny(load_profile(PROFILE).metrics.dataset())
    results = by_id(score_samples(digit_folders[1], dataset, reference_with(held_out_digits()[0])))
    assert results["metrics.accuracy"].score == 0 and "no band reached" in results["metrics.accuracy"].message


@pytest.mark.slow
def test_grade_calibrate_digits_reports_real_digits_high_and_shuffled_labels_near_chance(tmp_path):
    run = run_grade("calibrate", "digits", "--rubric", str(profile_path(PROFILE)), "--limit", "8", "--no-smoke",
                    "--out", str(tmp_path / "cal.json"))
    assert run.returncode == 0, run.stderr
    accuracy = json.loads((tmp_path / "cal.json").read_text())["accuracy"]
    assert accuracy["image_size"] == SIZE and accuracy["held_out_digits"] > 300  # all of them, whatever --limit
    assert accuracy["held_out"]["accuracy"] > 0.9 and accuracy["shuffled_labels"]["accuracy"] < 0.2, accuracy
    assert "held-out real digits (the ceiling)" in run.stdout and "set the [[metrics.accuracy]] bands" in run.stdout


def test_the_bands_picture_has_an_accuracy_bar_with_the_real_digits_accuracy(digit_folders, monkeypatch, tmp_path):
    from grader.generative import pictures

    monkeypatch.setattr(student_images, "decode_images", decode_in_process)
    images, _ = held_out_digits()
    dataset = tiny(load_profile(PROFILE).metrics.dataset())
    record: dict = {}
    results = by_id(score_samples(digit_folders[0], dataset, reference_with(images), record=record))
    bars = pictures.metric_bars(dataset, record)
    accuracy = next(bar for bar in bars if bar.label.startswith("class-conditional accuracy"))
    assert accuracy.value == pytest.approx(record["accuracy"].accuracy)
    assert f"accuracy {accuracy.value:.2%}" in results["metrics.accuracy"].message
    assert accuracy.real == record["accuracy_real"] and accuracy.real_text.startswith("real digits ")
    assert [s.text for s in accuracy.segments][-1] == "strong: 10 pts"  # the bands, highest on the right
    marks = pictures.bands_picture(tmp_path / "bands.png", bars)
    assert [m.segment for m in marks if m.label == accuracy.label] == ["strong: 10 pts"]
