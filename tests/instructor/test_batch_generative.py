"""`grade batch` with the generative options: each submission's own samples, the smoke run's reference once.

Inception runs at ~5 images/s on 2 CPU cores, so the faces here are few (16 reference images, 4 samples per
submission) and a copy of the rubric lowers min_samples and the FID band so that points are visible, as in
test_metrics_grading.py. Real faces come from the course data under the data root (tests/support/course_data.py),
copied to a temporary folder.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader import cli
from grader.errors import GraderError, SubmissionError
from grader.generative import smoke
from grader.generative.grading import GenerativeOptions
from grader.generative.handed_in import (
    NotHandedIn,
    handed_in_checkpoint,
    handed_in_samples,
    relative_path,
    zip_room,
)
from grader.instructor import batch
from grader.intake.submission import open_submission
from grader.rubric import DEFAULT_RUBRIC
from tests.support.corpus import SOLUTION
from tests.support.course_data import course_images
from tests.support.grading import run_grade

METRICS = "M generative metrics"
SMOKE = "S training smoke run"
TINY_SMOKE = dataclasses.replace(smoke.CPU_PROFILE, steps=3, num_samples=4, timesteps=25, sampling_timesteps=2)


@pytest.fixture(autouse=True)
def isolated_fid_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DIFFUSION_HW_CACHE", str(tmp_path_factory.getbasetemp() / "batch-generative-cache"))


@pytest.fixture(scope="session")
def face_files() -> list[Path]:
    return course_images("anime-faces-64", at_least=24)


def copy_faces(files: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True)
    for path in files:
        shutil.copyfile(path, folder / path.name)
    return folder


def tiny_metrics_rubric(path: Path) -> Path:
    """The shipped rubric, with anime-faces-64 scored from 2 samples and any FID in the strong band."""
    text = DEFAULT_RUBRIC.read_text()
    for old, new in (("min_samples = 1000             #", "min_samples = 2  #"),
                     ("at_most = 130.0", "at_most = 1000002.0"), ("at_most = 90.0", "at_most = 1000001.0"),
                     ("at_most = 60.0", "at_most = 1000000.0")):
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text)
    return path


def read_gradebook(path: Path) -> dict[str, dict]:
    with open(path, newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


def metric_tests(out: Path, name: str) -> dict[str, dict]:
    results = json.loads((batch.results_folder(out, name) / "results.json").read_text())
    return {t["extra_data"]["check"]: t for t in results["tests"] if "metrics" in t["tags"]}


# ---------------------------------------------------------------------------- whole batches (CLI)


@pytest.mark.slow
def test_a_batch_scores_each_submissions_own_samples_and_a_missing_folder_costs_only_the_metrics(tmp_path, face_files):
    reference = copy_faces(face_files[:16], tmp_path / "reference")
    submissions = tmp_path / "submissions"
    shutil.copytree(SOLUTION / "diffusion_hw", submissions / "ada" / "diffusion_hw")
    copy_faces(face_files[16:20], submissions / "ada" / "samples")
    with zipfile.ZipFile(submissions / "bo.zip", "w") as zf:  # a top folder inside the zip, as students zip it
        for path in sorted((SOLUTION / "diffusion_hw").rglob("*.py")):
            zf.write(path, Path("handin") / path.relative_to(SOLUTION))
        for path in face_files[20:24]:
            zf.write(path, Path("handin") / "samples" / path.name)
    shutil.copytree(SOLUTION / "diffusion_hw", submissions / "cy" / "diffusion_hw")  # no samples/
    out = tmp_path / "out"

    run = run_grade("batch", str(submissions), "--out", str(out), "--public-only", "--samples-in", "samples",
                    "--reference-data", str(reference), "--rubric", str(tiny_metrics_rubric(tmp_path / "rubric.toml")))
    assert run.returncode == 0, run.stderr
    assert "FID statistics and real-data AFD of anime-faces-64" in run.stdout  # once, in the batch process
    rows = read_gradebook(out / "gradebook.csv")
    assert list(rows) == ["ada", "bo", "cy"]
    assert list(rows["ada"])[-6:] == ["3.4 classifier_free_guidance", METRICS, "total", "max", "status", "note"]
    for name in ("ada", "bo"):
        tests = metric_tests(out, name)
        assert tests["metrics.fid"]["score"] == 10, tests["metrics.fid"]["output"]
        assert "4 samples vs 16 reference images" in tests["metrics.fid"]["output"]
        assert float(rows[name][METRICS]) == 10 + tests["metrics.afd"]["score"] >= 14, rows[name]
    assert rows["cy"][METRICS] == "0"
    missing = metric_tests(out, "cy")
    assert set(missing) == {"metrics.samples", "metrics.fid", "metrics.afd"}
    assert all("your submission has no folder samples/ beside diffusion_hw/" in t["output"]
               and "hand in the images your model generated, as PNG files in a folder samples/" in t["output"]
               for t in missing.values()), missing
    numerical = float(rows["cy"]["total"])  # everything else was kept: the public checks, all passed
    assert numerical > 0 and float(rows["ada"]["total"]) == numerical + float(rows["ada"][METRICS])
    assert float(rows["cy"]["max"]) == float(rows["ada"]["max"]) == numerical + 20
    assert all(row["status"] == "graded" for row in rows.values()), rows


@pytest.mark.parametrize("edit, flags, reason", [
    (None, ["--reference-data", "/no/such/faces"], "is not a folder: pass --reference-data DIR"),
    (lambda text: text[:text.index("[metrics]")], [], "has no [metrics] section"),
    (None, ["--samples-in", "../elsewhere"], "--samples-in '../elsewhere' must be a path inside each submission"),
    (None, ["--checkpoint-in", "model.pt"], "pass --samples-in or --checkpoint-in, not both"),
])
def test_the_graders_own_problems_stop_a_batch_before_any_grading(tmp_path, capsys, edit, flags, reason):
    submissions = tmp_path / "submissions"
    shutil.copytree(SOLUTION / "diffusion_hw", submissions / "ada" / "diffusion_hw")
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(edit(DEFAULT_RUBRIC.read_text()) if edit else DEFAULT_RUBRIC.read_text())
    args = ["--samples-in", "samples", *flags] if "--samples-in" not in flags else flags
    try:  # `grade batch ...` in this process: what `python -m grader` exits with, without its start-up
        status = cli.main(["batch", str(submissions), "--out", str(tmp_path / "out"), "--rubric", str(rubric), *args])
    except SystemExit as exc:  # argparse
        status = exc.code
    stderr = capsys.readouterr().err
    assert status == 2 and reason in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_smoke_batch_runs_the_smoke_checks_for_each_submission(tmp_path):
    submissions = tmp_path / "submissions"
    shutil.copytree(SOLUTION / "diffusion_hw", submissions / "ada" / "diffusion_hw")
    out = tmp_path / "out"
    run = run_grade("batch", str(submissions), "--out", str(out), "--public-only", "--smoke")
    assert run.returncode == 0, run.stderr
    assert "reference smoke run (cpu-digits) ready" in run.stdout
    row = read_gradebook(out / "gradebook.csv")["ada"]
    assert row[SMOKE] == "4/4 passed", row
    assert METRICS not in row


def test_a_samples_batch_warms_the_fid_cache_before_grading_and_hands_each_process_the_options(
        tmp_path, face_files, monkeypatch):
    reference = copy_faces(face_files[:4], tmp_path / "reference")
    submissions = tmp_path / "submissions"
    shutil.copytree(SOLUTION / "diffusion_hw", submissions / "ada" / "diffusion_hw")
    fid_cache = Path(os.environ["DIFFUSION_HW_CACHE"]) / "fid"
    shutil.rmtree(fid_cache, ignore_errors=True)
    commands: list[list[str]] = []

    def fake_grading_process(command, **kwargs):
        commands.append(command)
        assert len(list(fid_cache.glob("reference-*.npz"))) == 1, "the FID cache was not warmed before grading"
        out_dir = Path(command[command.index("--out") + 1])
        out_dir.mkdir(parents=True, exist_ok=True)
        tests = [{"score": 3, "max_score": 10, "status": "failed",
                  "extra_data": {"item": "M", "function": "generative metrics"}}]
        (out_dir / "results.json").write_text(json.dumps({"score": 3, "output": "", "tests": tests}))
        return batch.subprocess.Popen(["true"])  # a process that has done its work

    monkeypatch.setattr(batch, "start_grading_process", fake_grading_process)
    batch.grade_batch(submissions, tmp_path / "out", public_only=True, log=lambda line: None,
                      rubric_path=tiny_metrics_rubric(tmp_path / "rubric.toml"),
                      generative=GenerativeOptions(samples_in="samples", reference_data=reference,
                                                   dataset="anime-faces-64"))
    [command] = commands
    assert command[command.index("--samples-in") + 1] == "samples" and "--smoke" not in command
    assert command[command.index("--reference-data") + 1] == str(reference.resolve())
    assert command[command.index("--dataset") + 1] == "anime-faces-64"
    assert read_gradebook(tmp_path / "out" / "gradebook.csv")["ada"][METRICS] == "3"


# ---------------------------------------------------------------------------- the smoke run's reference, once


@pytest.mark.slow
def test_a_saved_reference_smoke_run_is_reused_instead_of_run_again(tmp_path, monkeypatch):
    monkeypatch.setattr(smoke, "_REFERENCE_RUNS", {})
    saved = tmp_path / "smoke-reference.safetensors"
    smoke.save_reference_run(saved, SOLUTION, TINY_SMOKE)
    expected = smoke._REFERENCE_RUNS[smoke._reference_key(TINY_SMOKE, SOLUTION)]["outputs"]

    monkeypatch.setattr(smoke, "_REFERENCE_RUNS", {})  # a fresh grading process
    assert not smoke.load_reference_run(saved, SOLUTION, dataclasses.replace(TINY_SMOKE, steps=4))  # other profile
    assert smoke.load_reference_run(saved, SOLUTION, TINY_SMOKE)

    def must_not_run(*args):
        raise AssertionError("the reference run was computed again instead of reused")

    monkeypatch.setattr(smoke, "_run_reference", must_not_run)
    student, reference, _ = smoke.run_smoke(SOLUTION, SOLUTION, TINY_SMOKE)
    np.testing.assert_array_equal(reference.losses, expected["losses"].double().numpy())
    np.testing.assert_allclose(student.losses, reference.losses, rtol=1e-5)  # the same code: the same curve

    (tmp_path / "damaged.safetensors").write_bytes(b"\0" * 10)
    with pytest.raises(GraderError, match="cannot be read"):
        smoke.load_reference_run(tmp_path / "damaged.safetensors", SOLUTION, TINY_SMOKE)


def test_a_smoke_batch_computes_the_reference_once_and_hands_it_to_every_grading_process(tmp_path, monkeypatch):
    submissions = tmp_path / "submissions"
    for name in ("ada", "bo"):
        shutil.copytree(SOLUTION / "diffusion_hw", submissions / name / "diffusion_hw")
    monkeypatch.setattr(smoke, "_REFERENCE_RUNS", {})
    monkeypatch.setattr(smoke, "default_profile", lambda *args, **kwargs: TINY_SMOKE)
    commands: list[list[str]] = []

    def fake_grading_process(command, **kwargs):  # what `python -m grader` would receive and write
        commands.append(command)
        handed = Path(command[command.index("--smoke-reference") + 1])
        assert smoke.load_reference_run(handed, SOLUTION, TINY_SMOKE)
        out_dir = Path(command[command.index("--out") + 1])
        out_dir.mkdir(parents=True, exist_ok=True)
        tests = [{"score": 0, "max_score": 0, "status": status,
                  "extra_data": {"item": "S", "function": "training smoke run"}}
                 for status in ("passed", "passed", "failed", "passed")]
        (out_dir / "results.json").write_text(json.dumps({"score": 7, "output": "", "tests": tests}))
        return batch.subprocess.Popen(["true"])  # a process that has done its work

    monkeypatch.setattr(batch, "start_grading_process", fake_grading_process)
    batch.grade_batch(submissions, tmp_path / "out", jobs=1, public_only=True, log=lambda line: None,
                      generative=GenerativeOptions(smoke=True))
    assert len(commands) == 2 and all("--smoke" in command for command in commands)
    assert len({command[command.index("--smoke-reference") + 1] for command in commands}) == 1
    assert all(command[command.index("--solution") + 1] == str(SOLUTION.resolve()) for command in commands)
    assert not Path(commands[0][commands[0].index("--smoke-reference") + 1]).exists()  # private, removed after
    rows = read_gradebook(tmp_path / "out" / "gradebook.csv")
    assert rows["ada"][SMOKE] == rows["bo"][SMOKE] == "3/4 passed"


# ---------------------------------------------------------------------------- what is handed in beside the package


def test_samples_in_a_zip_are_found_beside_the_package_and_need_the_zips_extra_room(tmp_path):
    archive = tmp_path / "bo.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handin/diffusion_hw/__init__.py", "")
        for i in range(3):
            zf.writestr(f"handin/samples/{i}.png", os.urandom(400_000))  # 1.2 MB that does not compress
    with pytest.raises(SubmissionError, match="unpacks to"), open_submission(archive, max_bytes=1 << 20):
        pass
    with open_submission(archive, max_bytes=1 << 20, extra_bytes=1 << 21, extra_files=3) as opened:
        copied = handed_in_samples(opened.source, relative_path("samples", "--samples-in"), tmp_path / "copy")
        assert sorted(p.name for p in copied.iterdir()) == ["0.png", "1.png", "2.png"]
        assert not (opened.root / "samples").exists()  # the sandbox's copy holds the package only
    assert zip_room("samples", None) == (256 << 20, 10_000) and zip_room(None, "model.pt")[0] == 2 << 30


def test_links_and_missing_hand_ins_are_refused_with_what_to_hand_in(tmp_path, monkeypatch):
    source = tmp_path / "alice"
    (source / "diffusion_hw").mkdir(parents=True)
    samples = relative_path("out/samples", "--samples-in")
    with pytest.raises(NotHandedIn, match="your submission has no folder out/samples/ beside diffusion_hw/: hand in"):
        handed_in_samples(source, samples, tmp_path / "copy")
    (source / "out").symlink_to(tmp_path)
    with pytest.raises(NotHandedIn, match="symbolic link"):
        handed_in_samples(source, samples, tmp_path / "copy")
    (source / "out").unlink()
    (source / "out" / "samples").mkdir(parents=True)
    (source / "out" / "samples" / "0.png").symlink_to("/etc/passwd")
    with pytest.raises(NotHandedIn, match="out/samples/0.png is a symbolic link"):
        handed_in_samples(source, samples, tmp_path / "copy")

    checkpoint = relative_path("model-final.pt", "--checkpoint-in")
    with pytest.raises(NotHandedIn, match="no checkpoint model-final.pt beside diffusion_hw/: hand in the model"):
        handed_in_checkpoint(source, checkpoint)
    (source / "model-final.pt").write_bytes(b"x" * 100)
    assert handed_in_checkpoint(source, checkpoint) == source / "model-final.pt"
    monkeypatch.setattr("grader.generative.handed_in.MAX_CHECKPOINT_BYTES", 10)
    with pytest.raises(NotHandedIn, match="more than"):
        handed_in_checkpoint(source, checkpoint)


@pytest.mark.parametrize("rel", ["/abs/samples", "../samples", "a/../../b", "."])
def test_a_hand_in_path_must_stay_inside_the_submission(rel):
    with pytest.raises(GraderError, match="must be a path inside each submission"):
        relative_path(rel, "--samples-in")
