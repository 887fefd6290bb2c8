"""Issue 15's acceptance: a class folder of 12 mixed hand-ins (folders, zips, notebooks, loose files, an
empty one and corrupt ones) gives 12 gradebook rows, each with its student id and, where it was not
graded, the reason; the Canvas file, the roster report and every grading's log come with them."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.instructor.batch import CANVAS_CSV, GRADEBOOK, GRADING_LOG, results_folder
from tests.support.corpus import MISTAKES, ROOT, SOLUTION
from tests.support.grading import run_grade

pytestmark = pytest.mark.slow

PUBLIC_TOTAL = "66"  # the public checks' points: what --public-only grades out of


def zip_of(folder: Path, archive: Path, prefix: str = "handin") -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*.py")):
            zf.write(path, f"{prefix}/{path.relative_to(folder).as_posix()}")
    return archive


def build_class(folder: Path, scratch: Path) -> None:
    """The 12 hand-ins, named as students and LMS exports name them."""
    ignore = shutil.ignore_patterns("__pycache__")
    schedules = (SOLUTION / "diffusion_hw" / "schedules.py").read_text(encoding="utf-8")
    shutil.copytree(SOLUTION / "diffusion_hw", folder / "ada" / "diffusion_hw", ignore=ignore)  # a folder, solved
    mistake = next(m for m in MISTAKES if m.name == "q_sample_missing_sqrt")
    zip_of(mistake.build(scratch / "bo"), folder / "bo.zip")  # a zip with one mistake
    (folder / "Cy Doe_103").mkdir()  # Gradescope's name; schedules.py dragged in loose
    (folder / "Cy Doe_103" / "schedules.py").write_text(schedules, encoding="utf-8")
    notebook = new_notebook(cells=[new_code_cell("# diffusion_hw/schedules.py\n" + schedules)])
    nbformat.write(notebook, str(folder / "dee.ipynb"))  # a notebook solving one file
    (folder / "eve").mkdir()  # empty
    (folder / "fay.zip").write_bytes(b"PK\x03\x04 cut off in the upload")  # a corrupt zip
    (folder / "gus.tar.gz").write_bytes(b"\x1f\x8b\x08 not what is asked")  # another kind of archive
    (folder / "hal.ipynb").write_text('{"cells": [', encoding="utf-8")  # a corrupt notebook
    shutil.copytree(ROOT / "starter" / "diffusion_hw", folder / "ivy" / "diffusion_hw", ignore=ignore)  # nothing done
    with zipfile.ZipFile(folder / "jo.zip", "w") as zf:  # two packages in one zip
        for copy in ("v1", "v2"):
            zf.writestr(f"{copy}/diffusion_hw/__init__.py", "")
    (folder / "kim.py").write_text("print('a loose file at the class level')\n", encoding="utf-8")
    with zipfile.ZipFile(folder / "lee.zip", "w") as zf:  # a path leaving its folder
        zf.writestr("../escape/diffusion_hw/__init__.py", "")


ROSTER = """id,name,email
101,Ada Lovelace,ada@uni.edu
102,Bo Chen,bo@uni.edu
103,Cy Doe,cy.doe@uni.edu
104,Dee Hart,dee@uni.edu
105,Eve Moss,eve@uni.edu
106,Fay Wu,fay@uni.edu
107,Gus Park,gus@uni.edu
108,Hal Ito,hal@uni.edu
109,Ivy Ng,ivy@uni.edu
110,Jo Ruiz,jo@uni.edu
112,Lee Cole,lee@uni.edu
113,Max Absent,max@uni.edu
"""


def test_a_class_of_twelve_mixed_hand_ins_gives_twelve_rows_with_ids_and_reasons(tmp_path):
    hand_ins, scratch, out = tmp_path / "class", tmp_path / "scratch", tmp_path / "out"
    hand_ins.mkdir()
    scratch.mkdir()
    build_class(hand_ins, scratch)
    assert len(list(hand_ins.iterdir())) == 12
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")

    run = run_grade("batch", str(hand_ins), "--out", str(out), "--jobs", "2", "--public-only", "--roster", str(roster),
                    "--assignment", "Homework 3 (12345)")
    assert run.returncode == 0, run.stderr
    assert "12 submissions:" in run.stdout
    assert "1 hand-in(s) match no roster row" in run.stdout and "kim.py" in run.stdout  # said, by name
    assert "student(s) on the roster have no hand-in: 113" in run.stdout

    with open(out / GRADEBOOK, newline="", encoding="utf-8") as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    assert len(rows) == 12
    ids = {name: row["student_id"] for name, row in rows.items()}
    assert ids == {"ada": "101", "bo": "102", "Cy Doe_103": "103", "dee": "104", "eve": "105", "fay": "106",
                   "gus.tar.gz": "107", "hal": "108", "ivy": "109", "jo": "110", "kim.py": "", "lee": "112"}
    graded = {name: row for name, row in rows.items() if row["status"] == "graded"}
    why = {n: (r["status"], r["note"]) for n, r in rows.items()}
    assert set(graded) == {"ada", "bo", "Cy Doe_103", "dee", "ivy"}, why
    assert graded["ada"]["total"] == PUBLIC_TOTAL and graded["ivy"]["total"] == "0"
    assert graded["bo"]["2.1 q_sample"] == "0" and 0 < float(graded["bo"]["total"]) < float(PUBLIC_TOTAL)
    for name in ("Cy Doe_103", "dee"):  # schedules.py only: its items earn points, the starter's files none
        row = graded[name]
        assert float(row["1.1 linear_beta_schedule"]) > 0 and row["2.1 q_sample"] == "0", row
        output = json.loads((results_folder(out, name) / "results.json").read_text())["output"]
        assert "Hand-in:" in output and "starter" in output, output
    reasons = {"eve": "no diffusion_hw/ package", "fay": "cut off in the upload", "gus.tar.gz": "not a .zip archive",
               "hal": "not a readable notebook", "jo": "holds 2 diffusion_hw packages", "kim.py": "not a .zip archive",
               "lee": "leaves its folder"}
    for name, reason in reasons.items():
        row = rows[name]
        assert row["status"] == "rejected" and row["total"] == "0" and reason in row["note"], (name, row)
    for name in rows:  # each hand-in's folder holds its results and what its grading printed
        folder = results_folder(out, name)
        assert (folder / "results.json").is_file(), name
        log = (folder / GRADING_LOG).read_text(encoding="utf-8")
        assert log.startswith(f"grade batch: {name}, started") and "exit status 0" in log.splitlines()[-1], log

    with open(out / CANVAS_CSV, newline="", encoding="utf-8") as handle:
        canvas = list(csv.reader(handle))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 3 (12345)"]
    by_id = {line[2]: line for line in canvas[1:]}
    assert len(by_id) == 11 and "" not in by_id  # kim.py matched no roster row: Canvas could not place it
    assert by_id["101"] == ["Ada Lovelace", "", "101", "ada@uni.edu", "", PUBLIC_TOTAL]
    assert by_id["105"][-1] == "0"  # rejected: a final zero
