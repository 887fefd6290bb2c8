"""`grade calibrate DATASET`: the numbers an instructor sets the rubric's [metrics] bands from.

    python -m grader calibrate anime-faces-64 [--data-root DIR] [--out calibration.json] [--limit N] [--no-smoke]
    python -m grader calibrate digits
    python -m grader calibrate path/to/faces

DATASET is a [[metrics.dataset]] name of the rubric, "digits", a dataset name under the data root
(--data-root DIR, else $DIFFUSION_HW_DATA, else the rubric's data_root, else ~/.cache/diffusion-hw/data;
data/root.py), or a folder of real images. It computes:

    real_vs_real    FID and KID between the first and second half of the real images: what a perfect
                    model scores with that many samples (FID's floor at that N; it rises as N falls)
    real_afd        the real images' anime-face detection rate (for data sets with afd = true, or --afd):
                    the ceiling a model's AFD is compared with (a rate above it counts as it); beside it,
                    the rate of the same images blurred and then sharpened (Gaussian blur, unsharp mask),
                    which fools the detector: why AFD counts only when FID reaches a band
    memorisation    the real data's own near-copy baseline: each image held out in turn and compared with
                    all the others (what `grade --samples` shows beside the samples' rate and withholds
                    points relative to), the pairs it flags, the fraction of N = #images / 2 samples allowed,
                    and the nearest-image distances from one half to the other: the memorisation
                    threshold must sit below most of these
    accuracy        for the built-in digits: the digit classifier's accuracy (grader/metrics/digit_accuracy.py)
                    on the held-out real digits with their labels (the ceiling of class-conditional samples)
                    and with the labels shuffled (chance); the [[metrics.accuracy]] bands go between the two.
                    Always all held-out digits at the data set's size, whatever --limit says
    smoke           the reference solution's smoke run on this machine's profile: losses, distances, time

Everything is printed and written as JSON (default: ./calibration-<name>.json).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grader.errors import GraderError
from grader.generative.bands import DatasetMetrics


def _dataset(argument: str, rubric, data_root: Path | None = None) -> tuple[DatasetMetrics | None, Path | None]:
    """The rubric's entry for `argument` (by name, or by its reference folder) and the folder to read
    (None for the built-in digits); a missing named dataset says what to put where."""
    from diffusion_hw_data.errors import DatasetError
    from diffusion_hw_data.root import is_dataset_name, locate_dataset, resolve_data_root

    metrics = rubric.metrics
    known = metrics.datasets if metrics is not None else {}
    if argument in known:
        entry = known[argument]
        return entry, entry.reference_folder(data_root)
    if argument == "digits":
        return None, None
    folder = Path(argument).expanduser().resolve()
    root = metrics.resolved_data_root(data_root) if metrics is not None else resolve_data_root(data_root)
    if is_dataset_name(argument) and ((root.path / argument).is_dir() or not folder.is_dir()):
        try:  # a name: under the data root first, like data.load_dataset
            folder = locate_dataset(argument, root)
        except DatasetError as exc:
            raise GraderError(f"calibrate: {argument} is not a rubric data set ({', '.join(known) or 'none'}) or "
                              f"'digits'; as a dataset name: {exc}") from None
    elif not folder.is_dir():
        raise GraderError(f"calibrate: {argument} is neither a rubric data set ({', '.join(known) or 'none'}), "
                          "'digits', a dataset name under the data root, nor a folder of images")
    entry = next((d for d in known.values() if d.reference_path(data_root) == folder), None)
    return entry, folder


def blurred_then_sharpened(images, blur_radius: float = 0.7, unsharp_radius: float = 1.0, percent: int = 200):
    """(N, 3, H, W) uint8 -> the same images Gaussian-blurred, then unsharp-masked (PIL, threshold 0): the
    cheap post-processing that lifts the face detector's rate above real data's (README, "Generative metrics")."""
    import torch
    from PIL import Image, ImageFilter

    processed = [np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(blur_radius))
                            .filter(ImageFilter.UnsharpMask(radius=unsharp_radius, percent=percent, threshold=0)))
                 for image in images.permute(0, 2, 3, 1).numpy()]  # each (H, W, 3) uint8
    return torch.from_numpy(np.stack(processed)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)


def calibrate(argument: str, *, rubric=None, limit: int | None = None, afd: bool | None = None,
              smoke_profile=None, run_smoke: bool = True, solution: Path | None = None,
              data_root: Path | None = None) -> dict:
    """Measure everything in the module docstring; returns it as a JSON-ready dict. `data_root` is
    --data-root: where named datasets (the rubric's references, the smoke profile's) are looked up."""
    from grader.generative.samples import load_reference
    from grader.grading.reference import DEFAULT_SOLUTION
    from grader.metrics import allowed_copied_fraction, compute_fid, find_copies, real_copy_baseline
    from grader.metrics.images import load_images
    from grader.rubric import load_rubric

    rubric = rubric or load_rubric()
    entry, folder = _dataset(argument, rubric, data_root)
    if entry is not None:
        images = load_reference(entry, folder if entry.reference != "digits" else None, limit).images
        name, threshold, margin = entry.name, entry.memorisation_threshold, entry.copied_margin
        afd = entry.afd if afd is None else afd
    elif folder is None:  # digits, not in the rubric
        from diffusion_hw_data import digits_tensor

        images, name, threshold, margin = load_images(digits_tensor(16, 3)[0]), "digits", 0.05, 0.01
    else:
        images, name, threshold, margin = load_images(folder, name="reference"), folder.name, 0.05, 0.01
    if limit is not None:
        images = images[:limit]
    if len(images) < 4:
        raise GraderError(f"calibrate: {argument} has {len(images)} images; at least 4 are needed (two halves of 2)")
    half = len(images) // 2
    first, second = images[:half], images[half: 2 * half]
    out: dict = {"dataset": name, "source": str(folder) if folder else "built in", "images": len(images),
                 "image_size": int(images.shape[-1])}

    started = time.monotonic()
    fid = compute_fid(first, second)
    out["real_vs_real"] = {"fid": round(fid.fid, 3), "kid": round(fid.kid, 5), "n_per_half": half,
                           "seconds": round(time.monotonic() - started, 1)}

    if afd:
        from grader.metrics import anime_face_detection_rate, real_data_afd

        real = real_data_afd(images, min_rate_any=0.5)
        sharpened = anime_face_detection_rate(blurred_then_sharpened(images))
        out["real_afd"] = {"rate": round(real.rate, 4), "rate_any": round(real.rate_any, 4), "n": real.n,
                           "min_likelihood": real.min_likelihood,
                           "blurred_then_sharpened_rate": round(sharpened.rate, 4)}

    if (entry.reference if entry is not None else argument) == "digits":
        from grader.metrics.digit_accuracy import calibration

        out["accuracy"] = calibration(int(images.shape[-1]))

    baseline = real_copy_baseline(images, threshold=threshold)
    copies = find_copies(first, second, threshold=threshold)
    quantiles = np.quantile(copies.distance, [0.0, 0.01, 0.5]).round(4).tolist()
    out["memorisation"] = {
        "threshold": threshold,
        "real_baseline": round(baseline.fraction, 4),
        "real_baseline_pairs": [[i, j, round(d, 4)] for i, j, d in baseline.pairs()],
        "allowed_for_n_samples": {"n": half, "margin": margin, "fraction": round(
            allowed_copied_fraction(baseline.fraction, half, baseline.n, margin), 4)},
        "half_vs_half_flagged_fraction": round(copies.fraction, 4),
        "half_vs_half_nearest_distance_min_p1_median": quantiles,
    }

    if run_smoke:
        from grader.generative.smoke import default_profile, reference_smoke_numbers

        smoke_profile = smoke_profile or default_profile(rubric.assignment)
        out["smoke"] = reference_smoke_numbers(solution or DEFAULT_SOLUTION, smoke_profile, data_root)
    return out


def calibrate_command(argv: Sequence[str], parser_class=argparse.ArgumentParser) -> int:
    parser = parser_class(prog="grade calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="a [[metrics.dataset]] name, 'digits', a dataset name under the data root, "
                                        "or a folder of real images")
    parser.add_argument("--data-root", type=Path, metavar="DIR",
                        help="the folder named datasets live in (default: $DIFFUSION_HW_DATA, else the rubric's "
                             "data_root, else ~/.cache/diffusion-hw/data)")
    parser.add_argument("--out", type=Path, help="write the JSON here (default ./calibration-<name>.json)")
    parser.add_argument("--limit", type=int, help="use only the first N images (a quick look)")
    parser.add_argument("--afd", action=argparse.BooleanOptionalAction, default=None,
                        help="measure the real-data AFD (default: the rubric's afd for this data set)")
    parser.add_argument("--no-smoke", action="store_true", help="skip the reference solution's smoke run")
    parser.add_argument("--rubric", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--solution", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv))
    if args.limit is not None and args.limit < 4:
        raise GraderError(f"--limit must be at least 4, got {args.limit}")
    from grader.rubric import DEFAULT_RUBRIC, load_rubric

    result = calibrate(args.dataset, rubric=load_rubric(args.rubric or DEFAULT_RUBRIC), limit=args.limit,
                       afd=args.afd, run_smoke=not args.no_smoke, solution=args.solution, data_root=args.data_root)
    target = args.out or Path(f"calibration-{result['dataset']}.json")
    text = json.dumps(result, indent=2)
    print(text)
    memorisation = result["memorisation"]
    allowed = memorisation["allowed_for_n_samples"]
    print(f"memorisation baseline: {memorisation['real_baseline']:.2%} of the {result['images']} real images are near "
          f"copies of another one (d < {memorisation['threshold']:g}, each held out in turn); {allowed['n']} samples "
          f"may hold up to {allowed['fraction']:.2%} before FID and AFD points are withheld")
    if "accuracy" in result:
        accuracy = result["accuracy"]
        print(f"digit classifier: {accuracy['held_out']['accuracy']:.2%} on the {accuracy['held_out_digits']} held-out "
              f"real digits (the ceiling), {accuracy['shuffled_labels']['accuracy']:.2%} with their labels shuffled "
              "(chance): set the [[metrics.accuracy]] bands between the two")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text + "\n", encoding="utf-8")
    print(f"calibration: {target}")
    return 0
