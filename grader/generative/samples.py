"""`grade SUBMISSION --samples DIR`: score generated images, and turn the numbers into results entries.

    samples   -> memorisation check against the training (reference) images: copies flagged, and
                 shown beside the real data's own near-copy rate (each real image held out in turn)
              -> FID and KID against the reference set (grader/metrics/fid.py)
              -> AFD of the samples next to the real data's AFD, for anime faces (grader/metrics/afd.py)
              -> points from the rubric's [metrics] bands (bands.py), withheld when the samples' near-copy
                 rate exceeds the real data's by more than the margin (memorisation.allowed_copied_fraction):
                 without that check, handing in training images would score a perfect FID. AFD counts
                 only when FID reaches a band, and at most at the real data's rate (bands.afd_counted):
                 sharpening blurry samples fools the face detector, not Inception.
For a data set with `accuracy = true` the samples are class-conditional (one folder per digit), and the
digit classifier's accuracy is scored, FID only if it has bands too (conditional_samples.py).

Every outcome is a CheckResult under the item "M generative metrics", tagged "metrics": bad samples (an
empty folder, an unreadable file, the wrong size) become a failed entry that says what to fix, scoring
0 of the metric's points; a metric the grader's environment cannot compute (MetricUnavailable, or
MetricRefused on the real data) is recorded with 0 points out of 0, since it is not the student's fault.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from grader.errors import GraderError
from grader.generative.bands import DatasetMetrics
from grader.output.results import CheckResult

ITEM_NUMBER = "M"
ITEM_FUNCTION = "generative metrics"
REAL_AFD_MIN_RATE_ANY = 0.5  # below this the detector or the data is broken: AFD is refused (metrics/afd.py)


@dataclass(frozen=True)
class ReferenceData:
    """The images samples are compared with (also the training set the memorisation check uses)."""

    label: str  # "anime-faces-64 (/path/to/folder)" or "digits (built in)"
    images: torch.Tensor  # (M, 3, S, S) uint8


def _entry(check: str, title: str, score: float, max_score: float, passed: bool, message: str,
           seconds: float = 0.0) -> CheckResult:
    return CheckResult(f"metrics.{check}", ITEM_NUMBER, ITEM_FUNCTION, title, score, max_score, passed, message,
                       True, ("metrics", check), seconds)


def load_reference(dataset: DatasetMetrics, reference_data: Path | None = None, limit: int | None = None,
                   data_root: Path | None = None) -> ReferenceData:
    """The reference images of `dataset` (or of the folder `reference_data`); GraderError if unusable.

    A named reference is looked up under the data root (`data_root` is --data-root; see bands.py for the
    order). A reference set is the grader's side: when it is missing the grader cannot run, so this is
    checked before anything is graded, and the message says what to download and where to put it.
    """
    from grader.metrics.images import load_images

    if reference_data is None and dataset.reference == "digits":
        from diffusion_hw_data import digits_tensor

        images, _ = digits_tensor(dataset.image_size, channels=3)
        images = load_images(images)
        label = f"{dataset.name} (built in, {dataset.image_size}x{dataset.image_size})"
    else:
        folder = Path(reference_data) if reference_data is not None else dataset.reference_folder(data_root)
        if not folder.is_dir():
            raise GraderError(
                f"the reference data {folder} of {dataset.name!r} is not a folder: pass --reference-data DIR "
                f"(a folder of real {dataset.image_size}x{dataset.image_size} images), or fix `reference` in the rubric"
            )
        try:
            images = load_images(folder, name="reference")
        except (OSError, ValueError) as exc:
            raise GraderError(f"the reference data {folder} cannot be read: {' '.join(str(exc).split())}") from None
        label = f"{dataset.name} ({folder})"
    if limit is not None:
        images = images[:limit]
    if tuple(images.shape[2:]) != (dataset.image_size, dataset.image_size):
        raise GraderError(f"the reference images of {label} are {images.shape[3]}x{images.shape[2]}, but the rubric's "
                          f"image_size for {dataset.name!r} is {dataset.image_size}")
    return ReferenceData(label, images)


def warm_reference_caches(dataset: DatasetMetrics, reference: ReferenceData) -> None:
    """Compute what scoring any samples reads about the reference into the metrics' on-disk caches (keyed by
    content): the FID statistics, the real data's near-copy baseline and, for anime faces, the real data's
    AFD. `grade batch` calls this once, so that its grading processes read the caches instead of each
    computing them at the same time."""
    from grader.metrics import MetricRefused, MetricUnavailable, real_copy_baseline, real_data_afd
    from grader.metrics.fid import reference_stats

    if dataset.scores_fid:
        reference_stats(reference.images)
    if dataset.accuracy:
        from grader.metrics import digit_classifier

        digit_classifier(dataset.image_size)
    real_copy_baseline(reference.images, threshold=dataset.memorisation_threshold)
    if dataset.afd:
        try:
            real_data_afd(reference.images, min_rate_any=REAL_AFD_MIN_RATE_ANY)
        except (MetricRefused, MetricUnavailable):
            pass  # each grading process records why AFD is not counted


def load_samples(samples: Path | torch.Tensor, dataset: DatasetMetrics, where: str | None = None) -> torch.Tensor:
    """The submitted samples as (N, 3, S, S) uint8; ValueError with what to fix when they are unusable.

    A folder's files are the student's: they are decoded in the sandbox (student_images.py), never in
    this process; DecodingIncomplete when the grading machine could not do that. `where` names them in
    messages ("the samples folder samples/ of your submission"); by default the folder's path.
    """
    from grader.generative.student_images import decode_images
    from grader.metrics.images import load_images

    where = where or (f"the samples folder {samples}" if isinstance(samples, Path) else "the regenerated samples")
    try:
        images = decode_images(samples) if isinstance(samples, Path) else load_images(samples, name="samples")
    except FileNotFoundError:
        raise ValueError(f"{where} does not exist: pass --samples DIR, a folder of your generated PNG images") from None
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{where} cannot be scored: {' '.join(str(exc).split())}") from None
    size = dataset.image_size
    if tuple(images.shape[2:]) != (size, size):
        raise ValueError(
            f"{where} holds {images.shape[3]}x{images.shape[2]} images, but {dataset.name} is scored at "
            f"{size}x{size}: save your samples at {size}x{size} (the size the model was trained at)"
        )
    if len(images) < 2:
        raise ValueError(f"{where} holds {len(images)} image; FID needs at least 2 "
                         f"(the assignment asks for {dataset.min_samples})")
    return images


def unscored(dataset: DatasetMetrics, message: str, *, check: str = "samples", title: str = "the samples can be scored",
             seconds: float = 0.0) -> list[CheckResult]:
    """The entries of samples that cannot be scored: the failed step (`check`, `title`: reading the samples,
    or regenerating them from a checkpoint) and 0 of the FID (and AFD) points, each with `message`."""
    failed = [_entry(check, title, 0.0, 0.0, False, message, seconds)]
    if dataset.scores_fid:
        failed.append(_entry("fid", f"FID against {dataset.name}", 0.0, dataset.fid_points, False, message))
    if dataset.afd:
        failed.append(_entry("afd", f"anime-face detection rate (AFD) on {dataset.name}", 0.0, dataset.afd_points,
                             False, message))
    if dataset.accuracy:
        from grader.generative.conditional_samples import accuracy_title

        failed.append(_entry("accuracy", accuracy_title(dataset), 0.0, dataset.accuracy_points, False, message))
    return failed


def score_samples(
    samples: Path | torch.Tensor, dataset: DatasetMetrics, reference: ReferenceData, *, fid_device: str | None = None,
    where: str | None = None, record: dict | None = None, pictures: Path | None = None,
) -> list[CheckResult]:
    """Score `samples` (a folder, or (N, 3, S, S) uint8 / [0, 1] images) against `reference`; `where`
    names them in messages (see load_samples). `record`, when given, receives what was computed, for the
    pictures (pictures.py): "images" (the decoded samples), "copies", "copy_baseline" (the real data's own
    near-copy rate), "copies_allowed" (the fraction above which points are withheld), "fid", "afd",
    "real_afd". `pictures` (the results folder) receives COPIES_PICTURE when samples are flagged: each
    beside the training image it copies."""
    from grader.metrics import (
        MetricRefused,
        MetricUnavailable,
        allowed_copied_fraction,
        compute_fid,
        find_copies,
        real_copy_baseline,
    )
    from grader.metrics.memorisation import COPIES_PICTURE, copies_picture

    record = {} if record is None else record
    if pictures is not None:
        Path(pictures, COPIES_PICTURE).unlink(missing_ok=True)  # a results folder graded again

    fid_title = f"FID against {dataset.name}"
    afd_title = f"anime-face detection rate (AFD) on {dataset.name}"
    from grader.generative.student_images import DecodingIncomplete

    started = time.monotonic()
    try:
        if dataset.accuracy:
            from grader.generative.conditional_samples import load_labelled_samples

            images, labels = load_labelled_samples(samples, dataset, where)
        else:
            images = load_samples(samples, dataset, where)
    except ValueError as exc:
        return unscored(dataset, f"no metric was computed: {exc}")
    except DecodingIncomplete as exc:
        message = f"not graded: {exc}. This is the grading machine's failure, not the submission's"
        return [dataclasses.replace(entry, incomplete=True) for entry in unscored(dataset, message)]

    record["images"] = images
    n = len(images)
    results: list[CheckResult] = []
    notes: list[str] = []
    if n < dataset.min_samples:
        why = "FID is biased upwards for small N" if dataset.scores_fid else "fewer per digit: a noisier accuracy"
        notes.append(f"only {n} samples: the bands are set for at least {dataset.min_samples}, so no points ({why})")

    copies = record["copies"] = find_copies(images, reference.images, threshold=dataset.memorisation_threshold)
    baseline = record["copy_baseline"] = real_copy_baseline(reference.images, threshold=dataset.memorisation_threshold)
    allowed = record["copies_allowed"] = allowed_copied_fraction(baseline.fraction, n, baseline.n,
                                                                 dataset.copied_margin)
    memorised = copies.fraction > allowed
    picture = None
    if pictures is not None:
        try:
            picture = copies_picture(Path(pictures) / COPIES_PICTURE, images, reference.images, copies)
        except OSError as exc:  # a picture is an aid: the entry stands without it
            print(f"grade: could not draw {COPIES_PICTURE}: {exc}", file=sys.stderr)
    results.append(_entry("memorisation", "samples are not copies of training images", 0.0, 0.0, not memorised,
                          _copies_message(copies, baseline, allowed, reference.label, picture),
                          time.monotonic() - started))
    if memorised:
        notes.append("too many samples copy training images: no "
                     + ("FID or AFD points" if not dataset.accuracy else "metric points"))

    def points(band, max_points: float) -> tuple[float, str]:
        if band is None:
            return 0.0, f"no band reached -> 0 / {max_points:g}"
        earned = 0.0 if notes else band.points
        why = "" if not notes else f" ({'; '.join(notes)})"
        return earned, f"band {band.name!r} -> {earned:g} / {max_points:g}{why}"

    fid = None
    if dataset.scores_fid:  # not for an accuracy data set without FID bands
        started = time.monotonic()
        try:
            fid = compute_fid(images, reference.images, device=fid_device)
        except (MetricUnavailable, MetricRefused) as exc:
            results.append(_entry("fid", fid_title, 0.0, 0.0, False,
                                  f"FID could not be computed here (not counted): {exc}"))
        else:
            record["fid"] = fid
            band = dataset.fid_band(fid.fid)
            earned, verdict = points(band, dataset.fid_points)
            results.append(_entry(
                "fid", fid_title, earned, dataset.fid_points, earned > 0 or dataset.fid_points == 0,
                f"FID {fid.fid:.2f}, KID {fid.kid:.4f} ({fid.n_samples} samples vs {fid.n_reference} reference images; "
                f"lower is better): {verdict}", time.monotonic() - started))

    if dataset.afd:
        from grader.metrics import anime_face_detection_rate, real_data_afd

        started = time.monotonic()
        try:
            if fid is None:
                raise MetricUnavailable("its quality gate, FID, could not be computed here")
            real = real_data_afd(reference.images, min_rate_any=REAL_AFD_MIN_RATE_ANY)
            afd = anime_face_detection_rate(images)
        except (MetricUnavailable, MetricRefused) as exc:
            results.append(_entry("afd", afd_title, 0.0, 0.0, False,
                                  f"AFD could not be computed here (not counted): {exc}"))
        else:
            record["afd"], record["real_afd"] = afd, real
            counted, why = dataset.afd_counted(afd.rate, real.rate, fid.fid)
            if counted is None:
                earned, verdict = 0.0, f"not counted -> 0 / {dataset.afd_points:g}"
            else:
                earned, verdict = points(dataset.afd_band(counted), dataset.afd_points)
            results.append(_entry(
                "afd", afd_title, earned, dataset.afd_points, earned > 0 or dataset.afd_points == 0,
                f"AFD {afd.rate:.2%} of {afd.n} samples (real data: {real.rate:.2%} of {real.n}; any detection "
                f"{afd.rate_any:.2%} vs {real.rate_any:.2%}; likelihood > {afd.min_likelihood:g})"
                + (f"; {why}" if why else "; a face detector can be fooled by sharpening, so AFD counts only with "
                   "FID in a band and at most at the real data's rate") + f": {verdict}",
                time.monotonic() - started))
    if dataset.accuracy:
        from grader.generative.conditional_samples import accuracy_entry

        results.append(accuracy_entry(images, labels, dataset, _entry, points, record))
    return results


def _copies_message(copies, baseline, allowed: float, label: str, picture) -> str:
    """The memorisation entry's message: the samples' near-copy rate beside the real data's own, the
    verdict, the first copies (sample ~ training image, d) and the picture that shows them."""
    n, copied = len(copies.flags), int(copies.flags.sum())
    message = (f"{copied} of {n} samples ({copies.fraction:.1%}) are near copies of {label} "
               f"(nearest-image distance d < {copies.threshold:g}); real held-out images: {baseline.fraction:.1%} "
               f"({int(baseline.flags.sum())} of {baseline.n} real images are near copies of another one, each "
               f"held out in turn); allowed: {allowed:.1%}")
    if copied:
        flagged = [int(i) for i in copies.flags.nonzero()[0]]
        flagged.sort(key=lambda i: copies.distance[i])
        shown = ", ".join(f"sample {i} ~ training image {int(copies.nearest_index[i])} (d = {copies.distance[i]:.3f})"
                          for i in flagged[:5])
        message += (f". Flagged, closest first (samples numbered in file-name order): {shown}"
                    + (", ..." if copied > 5 else ""))
        if picture:
            message += f" (pictured side by side in {picture.name})"
    if copies.fraction > allowed:
        message += ". Copied training images earn no FID or AFD points: hand in images your model generated"
    return message
