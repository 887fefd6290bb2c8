"""Class-conditional samples in `grade --samples DIR`, for a data set with `accuracy = true` (bands.py).

    DIR/0/*.png ... DIR/9/*.png   -> load_labelled_samples: the layout checked here (digit_accuracy's
                                     class_folder_files), the files decoded in the sandbox like any
                                     student image (student_images.py), labels from the folders
                                  -> samples.py's memorisation check, as for unconditional samples
                                  -> accuracy_entry: the digit classifier's accuracy per digit and
                                     overall (grader/metrics/digit_accuracy.py), points from the rubric's
                                     [[metrics.accuracy]] bands, withheld by the same rules as FID's

A layout the classifier cannot read (a missing or empty digit, a stray file, the wrong size) costs the
accuracy points, with a message saying what to hand in; a classifier that cannot be trained here
(MetricUnavailable) is recorded with 0 points out of 0, as the other metrics are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from grader.generative.bands import DatasetMetrics
from grader.output.results import CheckResult


def accuracy_title(dataset: DatasetMetrics) -> str:
    return f"digit classifier's accuracy on the class-conditional samples ({dataset.name})"


def load_labelled_samples(samples: Path | torch.Tensor, dataset: DatasetMetrics,
                          where: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """((N, 3, S, S) uint8 samples, (N,) int64 digits) of a folder of class folders; ValueError saying what to
    hand in when unusable, DecodingIncomplete (student_images.py) when the grading machine failed."""
    from grader.generative.student_images import decode_images
    from grader.metrics.digit_accuracy import ConditionalSamplesRefused, check_labelled_samples, class_folder_files

    size = dataset.image_size
    if not isinstance(samples, Path):  # regenerated from a checkpoint: no labels come with them
        raise ValueError(f"{dataset.name} is scored on class-conditional samples, which come with their digits: "
                         f"pass --samples DIR, one folder per digit 0/ to 9/ of {size}x{size} PNGs")
    where = where or f"the samples folder {samples}"
    try:
        files, labels = class_folder_files(samples, size)
        images = decode_images(samples, files)
        return check_labelled_samples(images, torch.tensor(labels, dtype=torch.int64), size)
    except ConditionalSamplesRefused as exc:
        raise ValueError(f"{where} cannot be scored: {exc}") from None
    except (OSError, ValueError) as exc:  # a file the sandbox could not decode, named relative to the folder
        raise ValueError(f"{where} cannot be scored: {' '.join(str(exc).split())}") from None


def accuracy_entry(images: torch.Tensor, labels: torch.Tensor, dataset: DatasetMetrics, make_entry: Callable,
                   points: Callable, record: dict) -> CheckResult:
    """The accuracy entry of samples (N, 3, S, S) uint8 labelled (N,): `make_entry` is samples._entry,
    `points(band, max_points)` samples.score_samples' (earned, verdict) with its withholding rules."""
    from grader.metrics import MetricRefused, MetricUnavailable
    from grader.metrics.digit_accuracy import conditional_accuracy, digit_classifier

    title, maximum = accuracy_title(dataset), dataset.accuracy_points
    started = time.monotonic()
    try:
        classifier = digit_classifier(dataset.image_size)
        result = conditional_accuracy(images, labels, classifier=classifier)
    except (MetricUnavailable, MetricRefused) as exc:
        return make_entry("accuracy", title, 0.0, 0.0, False,
                          f"the accuracy could not be computed here (not counted): {exc}")
    record["accuracy"], record["accuracy_real"] = result, classifier.held_out_accuracy
    earned, verdict = points(dataset.accuracy_band(result.accuracy), maximum)
    message = (f"accuracy {result.accuracy:.2%} (the mean over the ten digits of the fraction the classifier "
               f"reads as the digit asked for; {result.n} samples; chance 10%, real held-out digits "
               f"{classifier.held_out_accuracy:.2%}); correct per digit: {result.table()}: {verdict}")
    return make_entry("accuracy", title, earned, maximum, earned > 0 or maximum == 0, message,
                      time.monotonic() - started)
