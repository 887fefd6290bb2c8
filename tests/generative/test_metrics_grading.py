"""The generative metrics in `grade`: bands to points, samples, memorisation, checkpoints, smoke run, calibrate.

Inception runs at ~5 images/s on 2 CPU cores, so the image sets here are tiny (8-16 images): FID on them
is meaningless as a quality number but exercises every step. Real anime faces come from the course data
under the data root (tests/support/course_data.py: $DIFFUSION_HW_DATA, as CI sets it); a few are copied
to a temporary folder, never into the repository.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from grader.errors import GraderError
from grader.generative import smoke
from grader.generative.bands import Band
from grader.generative.grading import GenerativeOptions, prepare
from grader.generative.samples import load_reference, score_samples
from grader.instructor.calibrate import calibrate
from grader.rubric import DEFAULT_RUBRIC, load_rubric
from tests.support.corpus import CORPUS, ROOT, mutation
from tests.support.course_data import course_data_root, course_dataset, course_images
from tests.support.generative import REFERENCE_COUNT, digits_reference, tiny_faces_dataset
from tests.support.grading import run_grade


@pytest.fixture(autouse=True)
def isolated_fid_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DIFFUSION_HW_CACHE", str(tmp_path_factory.getbasetemp() / "metrics-grading-cache"))


@pytest.fixture(scope="session")
def faces(tmp_path_factory) -> tuple[Path, Path]:
    """(reference folder of 16 real faces, folder of 8 other real faces), in a temporary folder."""
    files = course_images("anime-faces-64", at_least=REFERENCE_COUNT + 8)
    root = tmp_path_factory.mktemp("faces")
    reference, fresh = root / "reference", root / "fresh"
    for folder, chosen in ((reference, files[:REFERENCE_COUNT]), (fresh, files[REFERENCE_COUNT:REFERENCE_COUNT + 8])):
        folder.mkdir()
        for path in chosen:
            shutil.copyfile(path, folder / path.name)
    return reference, fresh


def by_id(results) -> dict:
    return {r.check_id: r for r in results}


# ---------------------------------------------------------------------------- bands


def test_the_shipped_bands_map_fid_and_afd_to_the_documented_points(monkeypatch, tmp_path):
    faces = load_rubric().metrics.dataset("anime-faces-64")
    fids = (31.9, 60.0, 75.07, 90.0, 129.9, 130.1, float("nan"))
    assert [(faces.fid_band(fid) or Band("none", 0, 0)).points for fid in fids] \
        == [10, 10, 7, 7, 4, 0, 0]
    assert [(faces.afd_band(rate) or Band("none", 0, 0)).points for rate in (0.927, 0.70, 0.69, 0.50, 0.30, 0.29)] \
        == [10, 10, 7, 7, 4, 0]
    assert (faces.fid_points, faces.afd_points, faces.min_samples) == (10, 10, 1000)
    monkeypatch.setenv("DIFFUSION_HW_DATA", str(tmp_path))
    assert faces.reference == "anime-faces-64" and faces.reference_path() == tmp_path.resolve() / "anime-faces-64"
    digits = load_rubric().metrics.dataset("digits")
    assert (digits.afd, digits.afd_points, digits.image_size) == (False, 0, 16)


def test_afd_counts_only_when_fid_reaches_a_band_and_at_most_at_the_real_rate():
    faces = load_rubric().metrics.dataset("anime-faces-64")  # FID bands up to 130, AFD bands 0.3 / 0.5 / 0.7
    assert faces.afd_counted(0.75, real_rate=0.82, fid=75.0) == (0.75, "")
    counted, why = faces.afd_counted(0.86, real_rate=0.82, fid=75.0)
    assert counted == 0.82 and "counted as the real data's 82.00%" in why and "sharpening" in why
    counted, why = faces.afd_counted(0.86, real_rate=0.82, fid=131.0)
    assert counted is None and "AFD counts only when FID reaches a band (at most 130)" in why
    assert faces.afd_counted(0.86, real_rate=0.82, fid=float("nan"))[0] is None
    # the course's published example (FID 75.07, AFD 92.70%) still earns 7 + 10 of 20
    assert faces.fid_band(75.07).points == 7 and faces.afd_band(faces.afd_counted(0.927, 0.8205, 75.07)[0]).points == 10


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('at_most = 60.0', 'at_most = 100.0'),
     "band 'strong' .* must have a stricter threshold than 'medium'"),
    (lambda t: t.replace('copied_margin = 0.01 ', 'max_copied_fraction = 0.01 ', 1),
     "max_copied_fraction is now copied_margin"),
    (lambda t: t.replace('default_dataset = "anime-faces-64"', 'default_dataset = "cats"'),
     "'cats' is not a \\[\\[metrics.dataset\\]\\]"),
    (lambda t: t.replace('at_least = 0.30', 'at_least = 30'), "at_least.* must be a number in \\[0, 1\\]"),
    (lambda t: t.replace('band = "simple"\nat_most', 'band = "simple"\nweight = 1\nat_most', 1),
     "unknown key\\(s\\) weight"),
])
def test_metric_band_mistakes_are_reported_in_one_line(tmp_path, edit, message):
    path = tmp_path / "rubric.toml"
    path.write_text(edit(DEFAULT_RUBRIC.read_text()))
    with pytest.raises(GraderError, match=message) as caught:
        load_rubric(path)
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------------------- samples


@pytest.mark.slow
def test_copied_training_images_are_flagged_pictured_and_earn_no_metric_points(faces, tmp_path):
    reference, _ = faces
    dataset = tiny_faces_dataset()
    results = by_id(score_samples(reference, dataset, load_reference(dataset, reference), pictures=tmp_path))
    memorisation = results["metrics.memorisation"]
    assert not memorisation.passed and "16 of 16 samples (100.0%) are near copies" in memorisation.message
    assert "real held-out images: 0.0% (0 of 16 real images" in memorisation.message
    assert "sample 0 ~ training image 0 (d = 0.000)" in memorisation.message
    assert "pictured side by side in memorisation_copies.png" in memorisation.message
    picture = Image.open(tmp_path / "memorisation_copies.png")
    assert picture.height > 12 * 128  # the first 12 of 16 pairs, then "... and 4 more"
    fid, afd = results["metrics.fid"], results["metrics.afd"]
    assert fid.message.startswith("FID 0.00") or fid.message.startswith("FID -0.00"), fid.message
    assert (fid.score, fid.max_score, afd.score, afd.max_score) == (0, 10, 0, 4)
    assert "copy training images: no FID or AFD points" in fid.message
    assert all(r.tags[0] == "metrics" and r.item_number == "M" for r in results.values())


@pytest.mark.slow
def test_generated_looking_samples_earn_band_points_and_show_the_real_afd(faces):
    reference, fresh = faces
    dataset = tiny_faces_dataset()
    results = by_id(score_samples(fresh, dataset, load_reference(dataset, reference)))
    assert results["metrics.memorisation"].passed, results["metrics.memorisation"].message
    fid, afd = results["metrics.fid"], results["metrics.afd"]
    assert (fid.score, fid.passed) == (10, True), fid.message
    assert "8 samples vs 16 reference images" in fid.message and "KID" in fid.message
    assert afd.score == 4 and "(real data: " in afd.message and "of 16;" in afd.message, afd.message
    too_few = by_id(score_samples(fresh, tiny_faces_dataset(min_samples=1000), load_reference(dataset, reference)))
    assert too_few["metrics.fid"].score == 0 and "only 8 samples" in too_few["metrics.fid"].message


@pytest.mark.slow
def test_grade_with_held_out_real_faces_reports_the_real_baseline_and_withholds_nothing(tmp_path, faces):
    """Real faces that are not in the reference are what a perfect generator hands in: the memorisation
    check must show the real data's own near-copy rate beside theirs and withhold no points."""
    reference, held_out = faces
    out = tmp_path / "out"
    run = run_grade("solution", "--public-only", "--samples", str(held_out), "--reference-data", str(reference),
                    "--out", str(out))
    assert run.returncode == 0, run.stderr
    metrics = {t["extra_data"]["check"]: t for t in run.results["tests"] if "metrics" in t["tags"]}
    memorisation = metrics["metrics.memorisation"]
    assert memorisation["status"] == "passed", memorisation["output"]
    assert "0 of 8 samples (0.0%) are near copies" in memorisation["output"]
    assert "real held-out images: 0.0% (0 of 16 real images" in memorisation["output"]
    assert "allowed: " in memorisation["output"]
    for check in ("metrics.fid", "metrics.afd"):
        assert "copy training images" not in metrics[check]["output"], metrics[check]["output"]
    assert not (out / "memorisation_copies.png").exists()


def test_afd_earns_points_only_with_fid_in_a_band_and_says_why(faces, monkeypatch):
    """FID is stubbed (the network is not what is tested): the same samples' AFD points follow FID's band."""
    import grader.metrics as metrics
    from grader.metrics import FIDResult
    from grader.metrics.images import load_images

    reference, held_out = faces
    dataset = tiny_faces_dataset(fid_bands=(Band("strong", 130.0, 10.0),), afd_bands=(Band("simple", 0.0, 4.0),))
    samples = load_images(held_out)  # a tensor: nothing to decode in the sandbox
    for fid, afd_points in ((75.0, 4), (200.0, 0)):
        monkeypatch.setattr(metrics, "compute_fid", lambda *args, fid=fid, **kwargs: FIDResult(fid, 0.01, 8, 16))
        results = by_id(score_samples(samples, dataset, load_reference(dataset, reference)))
        assert results["metrics.afd"].score == afd_points, results["metrics.afd"].message
        if afd_points:  # counted: the message still says what AFD alone cannot tell
            assert "a face detector can be fooled by sharpening" in results["metrics.afd"].message
    assert "AFD counts only when FID reaches a band (at most 130), and FID is 200.00" in results["metrics.afd"].message
    assert results["metrics.afd"].message.endswith("not counted -> 0 / 4")

    def unavailable(*args, **kwargs):
        raise metrics.MetricUnavailable("no network here")

    monkeypatch.setattr(metrics, "compute_fid", unavailable)
    results = by_id(score_samples(samples, dataset, load_reference(dataset, reference)))
    assert (results["metrics.afd"].score, results["metrics.afd"].max_score) == (0, 0)
    assert "its quality gate, FID, could not be computed here" in results["metrics.afd"].message


@pytest.mark.slow
def test_sharpened_blurred_real_faces_earn_no_more_afd_points_than_the_real_faces():
    """Blur + unsharp mask lifts the detector's rate above real faces' (the 1,000 faces of each half).
    With a band set between the two, sharpening would buy points were rates above the real data's not
    counted as the real data's."""
    from grader.instructor.calibrate import blurred_then_sharpened
    from grader.metrics import anime_face_detection_rate, real_data_afd
    from grader.metrics.images import load_images

    faces = load_images(course_dataset("anime-faces-64"))
    reference, real_samples = faces[:1000], faces[1000:]
    real = real_data_afd(reference).rate
    honest = anime_face_detection_rate(real_samples).rate
    sharpened = anime_face_detection_rate(blurred_then_sharpened(real_samples)).rate
    above_real = max(real, honest) + (sharpened - max(real, honest)) / 2
    dataset = tiny_faces_dataset(afd_bands=(Band("strong", above_real, 10.0), Band("simple", 0.5, 4.0)))
    assert dataset.afd_band(sharpened).points > dataset.afd_band(honest).points  # the rates alone would reward it

    def afd_points(rate: float) -> float:
        return dataset.afd_band(dataset.afd_counted(rate, real, fid=50.0)[0]).points

    assert afd_points(sharpened) <= afd_points(honest)


def _unreadable(folder: Path) -> Path:
    folder.mkdir()
    (folder / "0000.png").write_bytes(b"not a png")
    return folder


def _wrong_size(folder: Path) -> Path:
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("make, message", [
    (lambda p: p, "does not exist"),
    (lambda p: (p.mkdir(), p)[1], "no image files"),
    pytest.param(_unreadable, "not a readable image", marks=pytest.mark.slow),  # each decoded in a sandbox
    pytest.param(_wrong_size, "holds 32x32 images, but anime-faces-64 is scored at 64x64", marks=pytest.mark.slow),
])
def test_bad_samples_cost_the_metric_points_with_a_message(tmp_path, faces, make, message):
    dataset = tiny_faces_dataset()
    results = by_id(score_samples(make(tmp_path / "samples"), dataset, load_reference(dataset, faces[0])))
    assert set(results) == {"metrics.samples", "metrics.fid", "metrics.afd"}
    assert all(not r.passed and r.score == 0 and message in r.message for r in results.values()), results
    assert (results["metrics.fid"].max_score, results["metrics.afd"].max_score) == (10, 4)


def test_a_missing_reference_folder_stops_the_grader_before_grading(tmp_path):
    with pytest.raises(GraderError, match="is not a folder: pass --reference-data DIR"):
        prepare(load_rubric(), GenerativeOptions(samples=tmp_path, reference_data=tmp_path / "nowhere"))


@pytest.mark.slow
def test_grade_smoke_with_bad_samples_keeps_the_numerical_results(tmp_path, faces):
    empty = tmp_path / "empty"
    empty.mkdir()
    run = run_grade("solution", "--public-only", "--smoke", "--samples", str(empty), "--reference-data", str(faces[0]),
                    "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    tests = run.results["tests"]
    numerical = [t for t in tests if not {"metrics", "smoke"} & set(t["tags"])]
    metrics = {t["extra_data"]["check"]: t for t in tests if "metrics" in t["tags"]}
    smoke_run = {t["extra_data"]["check"]: t for t in tests if "smoke" in t["tags"]}
    assert numerical and all(t["status"] == "passed" for t in numerical)
    assert set(smoke_run) == {"smoke.finite", "smoke.loss_falls", "smoke.in_range", "smoke.distance"}
    assert all(t["status"] == "passed" and t["max_score"] == 0 for t in smoke_run.values()), smoke_run
    assert "S training smoke run" in run.stdout and "pixel Fréchet distance" in run.stdout
    assert metrics["metrics.fid"]["status"] == "failed" and "no image files" in metrics["metrics.fid"]["output"]
    assert metrics["metrics.fid"]["max_score"] == 10 and metrics["metrics.afd"]["max_score"] == 10
    public_points = sum(c.points for c in load_rubric().checks(public_only=True))
    assert run.results["score"] == sum(t["score"] for t in numerical) == public_points  # metric points: 0 of 20
    assert "M generative metrics" in run.stdout and "no image files" in run.stdout


# ---------------------------------------------------------------------------- checkpoint


@pytest.mark.slow
def test_a_checkpoint_regenerates_samples_in_the_sandbox_and_is_scored(tmp_path, tiny_checkpoint):
    reference, dataset = digits_reference(tmp_path)
    prepared = prepare(load_rubric(), GenerativeOptions(checkpoint=tiny_checkpoint, reference_data=reference,
                                                        dataset="digits", num_samples=8))
    prepared.dataset = dataset
    results = by_id(prepared.run(ROOT / "solution", ROOT / "solution"))
    assert results["metrics.checkpoint"].passed and "regenerated 8 samples" in results["metrics.checkpoint"].message
    assert results["metrics.fid"].score == 10 and "8 samples vs 16 reference images" in results["metrics.fid"].message
    assert "metrics.afd" not in results

    broken = tmp_path / "broken.pt"
    torch.save({"weights": torch.zeros(3)}, broken)
    prepared = prepare(load_rubric(), GenerativeOptions(checkpoint=broken, reference_data=reference, dataset="digits",
                                                        num_samples=8))
    prepared.dataset = dataset
    results = by_id(prepared.run(ROOT / "solution", ROOT / "solution"))
    assert not results["metrics.checkpoint"].passed
    assert "not a Trainer checkpoint" in results["metrics.checkpoint"].message
    assert results["metrics.fid"].score == 0 and results["metrics.fid"].max_score == 10


@pytest.mark.slow
def test_a_checkpoint_handed_in_beside_the_package_is_found_regenerated_and_scored(tmp_path, tiny_checkpoint):
    """--checkpoint-in REL: the file at REL beside the submission's diffusion_hw/ (here `source`)."""
    reference, dataset = digits_reference(tmp_path)
    source = tmp_path / "handin"
    (source / "checkpoints").mkdir(parents=True)
    shutil.copyfile(tiny_checkpoint, source / "checkpoints" / "model-final.pt")
    options = GenerativeOptions(checkpoint_in="checkpoints/model-final.pt", reference_data=reference, dataset="digits",
                                num_samples=8)
    prepared = prepare(load_rubric(), options)
    prepared.dataset = dataset
    results = by_id(prepared.run(ROOT / "solution", ROOT / "solution", source))
    assert results["metrics.checkpoint"].passed and "regenerated 8 samples" in results["metrics.checkpoint"].message
    assert results["metrics.fid"].score == 10

    (source / "checkpoints" / "model-final.pt").unlink()
    results = by_id(prepared.run(ROOT / "solution", ROOT / "solution", source))
    assert not results["metrics.checkpoint"].passed and results["metrics.fid"].score == 0
    assert "checkpoints/model-final.pt" in results["metrics.fid"].message
    assert "Trainer.save" in results["metrics.fid"].message


# ---------------------------------------------------------------------------- smoke run


@pytest.mark.slow
def test_the_smoke_run_passes_on_the_solution_and_fails_when_q_sample_is_wrong(tmp_path):
    assert smoke.default_profile() is smoke.CPU_PROFILE  # no GPU here: the CPU profile is the one tested
    student, reference, profile = smoke.run_smoke(ROOT / "solution", ROOT / "solution")
    assert student.seconds < 180 and reference.seconds < 180, (student.seconds, reference.seconds)
    results = by_id(smoke.judge(student, reference, profile))
    assert all(r.passed for r in results.values()), [r.message for r in results.values() if not r.passed]
    np.testing.assert_allclose(student.losses, reference.losses, rtol=1e-5)  # same seed, same code: same curve
    assert set(results) == {"smoke.finite", "smoke.loss_falls", "smoke.in_range", "smoke.distance"}

    mutation = next(m for m in CORPUS if m.name == "q_sample_uses_alphas_not_alphas_bar")
    broken = smoke.smoke_results(mutation.build(tmp_path / "broken"), ROOT / "solution")
    failed = [r.check_id for r in broken if not r.passed]
    assert failed == ["smoke.distance"], [r.message for r in broken]


@pytest.mark.slow
def test_a_crashing_submission_fails_every_smoke_check_with_the_reason(tmp_path):
    tiny = dataclasses.replace(smoke.CPU_PROFILE, steps=3, num_samples=4, timesteps=25, sampling_timesteps=2)
    crashing = mutation("p_losses_raises", ("gaussian_diffusion.py",
                                            "x_t = self.q_sample(x_start, t, noise)\n        out = ",
                                           "raise RuntimeError('boom')\n        out = "))
    results = smoke.smoke_results(crashing.build(tmp_path / "crashing"), ROOT / "solution", tiny)
    assert len(results) == 4 and all(not r.passed and "boom" in r.message for r in results)



@pytest.mark.slow
def test_the_gpu_profiles_path_runs_end_to_end_on_the_cpu_when_shrunk():
    """The GPU profile (64 x 64 RGB faces under the data root, FID as the distance) has no GPU to run on
    here: run its code path on the CPU with the sizes cut down, so that only its sizes and the device
    are left untested. Same seed, same code: the submission's run equals the reference's."""
    assert smoke.GPU_PROFILE.dataset == "anime-faces-64" and smoke.GPU_PROFILE.distance == "fid"
    root = course_data_root().path
    course_dataset("anime-faces-64")
    shrunk = dataclasses.replace(
        smoke.GPU_PROFILE, device="cpu", reference_limit=16, steps=4, batch_size=4, num_samples=4, timesteps=25,
        sampling_timesteps=2, unet={"dim": 8, "dim_mults": [1, 2], "channels": 3, "attn_heads": 2,
                                    "attn_dim_head": 8, "resnet_block_groups": 4}, memory_bytes=4 << 30)
    assert tuple(smoke.training_images(shrunk, root).shape) == (16, 3, 64, 64)
    student, reference, profile = smoke.run_smoke(ROOT / "solution", ROOT / "solution", shrunk, data_root=root)
    assert not student.error, student.error
    np.testing.assert_allclose(student.losses, reference.losses, rtol=1e-5)
    assert student.ddpm.shape == (4, 3, 64, 64) and student.ddim.shape == (4, 3, 64, 64)
    assert set(student.distances) == {"ddpm", "ddim"}
    assert all(np.isfinite(v) and v > 0 for v in student.distances.values())
    results = by_id(smoke.judge(student, reference, profile))
    assert results["smoke.distance"].passed and "FID to the training images" in results["smoke.distance"].message
    assert results["smoke.finite"].passed and results["smoke.in_range"].passed


# ---------------------------------------------------------------------------- calibrate


@pytest.mark.slow
def test_calibrate_measures_real_vs_real_fid_real_afd_and_the_reference_smoke_run(tmp_path, faces):
    tiny = dataclasses.replace(smoke.CPU_PROFILE, steps=5, num_samples=8, timesteps=25, sampling_timesteps=2)
    result = calibrate(str(faces[0]), afd=True, smoke_profile=tiny)
    assert (result["dataset"], result["images"], result["real_vs_real"]["n_per_half"]) == ("reference", 16, 8)
    assert np.isfinite(result["real_vs_real"]["fid"]) and result["real_vs_real"]["fid"] > 0
    assert 0.5 <= result["real_afd"]["rate_any"] <= 1.0  # ~87% on real faces
    assert 0.0 <= result["real_afd"]["blurred_then_sharpened_rate"] <= 1.0
    memorisation = result["memorisation"]
    assert memorisation["half_vs_half_flagged_fraction"] == 0.0
    assert memorisation["real_baseline"] == 0.0 and memorisation["real_baseline_pairs"] == []
    assert memorisation["allowed_for_n_samples"] == {"n": 8, "margin": 0.01, "fraction": 0.01}
    assert result["smoke"]["steps"] == 5 and set(result["smoke"]["distances"]) == {"ddpm", "ddim"}
    json.dumps(result)


@pytest.mark.slow
def test_grade_calibrate_prints_and_writes_json(tmp_path):
    run = run_grade("calibrate", "digits", "--limit", "8", "--no-smoke", "--out", str(tmp_path / "cal.json"))
    assert run.returncode == 0, run.stderr
    written = json.loads((tmp_path / "cal.json").read_text())
    assert written["dataset"] == "digits" and written["images"] == 8 and "smoke" not in written
    assert '"real_vs_real"' in run.stdout and "real_afd" not in written  # digits: no AFD
    assert f"memorisation baseline: {written['memorisation']['real_baseline']:.2%} of the 8 real images" in run.stdout


@pytest.mark.parametrize("argv, reason", [
    (["solution", "--samples", "/tmp", "--checkpoint", "/tmp/model.pt"], "pass --samples or --checkpoint, not both"),
    (["solution", "--checkpoint", "/no/such/model.pt"], "checkpoint /no/such/model.pt does not exist"),
    (["solution", "--samples", "/tmp", "--dataset", "cats"], "no [[metrics.dataset]] named 'cats'"),
    (["calibrate", "/no/such/folder"], "is neither a rubric data set"),
    (["calibrate", "digits", "--limit", "2"], "--limit must be at least 4"),
])
def test_generative_options_the_grader_cannot_use_stop_it_with_one_line(capsys, argv, reason):
    from grader.cli import main

    try:
        status = main(argv)
    except SystemExit as exc:  # argparse
        status = int(exc.code)
    err = capsys.readouterr().err
    assert status == 2 and reason in err and len(err.strip().splitlines()) == 1, err


def test_the_sandboxed_smoke_probes_are_public_and_self_contained():
    import re

    from tests.grading.test_probes_are_public import solution_lines

    path = ROOT / "grader" / "generative" / "smoke_probes.py"
    source = path.read_text()
    assert not solution_lines() & {" ".join(line.split()) for line in source.splitlines()}
    imports = set(re.findall(r"^(?:from|import) ([\w.]+)", source, flags=re.MULTILINE))
    assert imports <= {"__future__", "io", "math", "typing", "collections.abc", "torch"}, imports
