"""The gradebook's student ids, the roster that gives them, and the Canvas import file (no grading here:
rows are built from results as `grade batch` reads them)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from grader.errors import GraderError
from grader.instructor.batch import (
    CANVAS_COLUMNS,
    BatchRow,
    Student,
    load_roster,
    match_roster,
    write_canvas_csv,
    write_gradebook,
)

ITEMS = ["1.1 linear_beta_schedule", "2.1 q_sample"]


def results(first: float, second: float) -> dict:
    tests = [{"score": first, "max_score": 3, "extra_data": {"item": "1.1", "function": "linear_beta_schedule"}},
             {"score": second, "max_score": 5, "extra_data": {"item": "2.1", "function": "q_sample"}}]
    return {"score": first + second, "tests": tests}


ROWS = [
    BatchRow("Ada Lovelace_101", "graded", results(3, 5), "in 9 s"),
    BatchRow("bo", "rejected", results(0, 0), "bo.tar.gz is not a .zip archive"),
    BatchRow("cy@uni.edu", "incomplete", results(3, 0), "not graded: 2.1 q_sample"),
    BatchRow("=dee", "error", None, "grade: internal error"),
    BatchRow("stranger", "graded", results(1, 1), "in 8 s"),
]
ROSTER = [
    Student("101", "Ada Lovelace", "ada@uni.edu", canvas_id="9001", section="A"),
    Student("102", "Bo Chen", "bo@uni.edu"),
    Student("103", "Cy Young", "cy@uni.edu"),
    Student("104", "Dee Hart", "dee.hart@uni.edu"),
    Student("105", "Eve Absent", "eve@uni.edu"),
]


def read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_hand_ins_match_roster_rows_by_id_name_email_or_gradescope_style_name():
    matched, problems = match_roster([row.name for row in ROWS], ROSTER)
    assert {name: (s.id if s else None) for name, s in matched.items()} == {
        "Ada Lovelace_101": "101",  # Gradescope's "First Last_ID"
        "bo": "102",  # the email's local part
        "cy@uni.edu": "103",  # the email
        "=dee": None,  # no row says "=dee"
        "stranger": None,
    }
    assert problems == []


def test_an_ambiguous_hand_in_or_a_row_claimed_twice_is_left_unmatched_and_said():
    roster = [Student("1", "Sam Lee", "sam@a.edu"), Student("2", "Sam Lee", "slee@b.edu"),
              Student("3", "Kim", "kim@a.edu")]
    matched, problems = match_roster(["Sam Lee", "kim", "Kim_3"], roster)
    assert matched == {"Sam Lee": None, "kim": None, "Kim_3": None}
    assert any("Sam Lee matches several roster rows (ids 1, 2)" in line for line in problems), problems
    assert any("roster id 3 is matched by 2 hand-ins (kim, Kim_3)" in line for line in problems), problems


def test_the_gradebook_has_a_student_id_column_the_hand_ins_name_without_a_roster(tmp_path):
    write_gradebook(tmp_path / "gradebook.csv", ROWS, ITEMS)
    header, *rows = read(tmp_path / "gradebook.csv")
    assert header == ["submission", "student_id", *ITEMS, "total", "max", "status", "note"]
    assert [row[1] for row in rows] == ["Ada Lovelace_101", "bo", "cy@uni.edu", "'=dee", "stranger"]
    assert [row[-2] for row in rows] == ["graded", "rejected", "incomplete", "error", "graded"]  # the outcome only


def test_with_a_roster_the_gradebook_carries_id_name_and_email_and_leaves_unmatched_blank(tmp_path):
    matched, _ = match_roster([row.name for row in ROWS], ROSTER)
    write_gradebook(tmp_path / "gradebook.csv", ROWS, ITEMS, students=matched)
    header, *rows = read(tmp_path / "gradebook.csv")
    assert header[:4] == ["submission", "student_id", "student_name", "email"]
    assert [row[:4] for row in rows] == [
        ["Ada Lovelace_101", "101", "Ada Lovelace", "ada@uni.edu"], ["bo", "102", "Bo Chen", "bo@uni.edu"],
        ["cy@uni.edu", "103", "Cy Young", "cy@uni.edu"], ["'=dee", "", "", ""], ["stranger", "", "", ""]]


def test_the_canvas_file_has_canvass_import_columns_and_only_final_scores(tmp_path):
    matched, _ = match_roster([row.name for row in ROWS], ROSTER)
    write_canvas_csv(tmp_path / "canvas.csv", ROWS, "Homework 3 (12345)", matched)
    header, *rows = read(tmp_path / "canvas.csv")
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 3 (12345)"]
    assert tuple(header[:5]) == CANVAS_COLUMNS
    assert rows == [
        ["Ada Lovelace", "9001", "101", "ada@uni.edu", "A", "8"],
        ["Bo Chen", "", "102", "bo@uni.edu", "", "0"],  # rejected: a final 0
        ["Cy Young", "", "103", "cy@uni.edu", "", ""],  # incomplete: left for Canvas to keep as it is
    ]  # unmatched hand-ins cannot be placed in Canvas, so they are left out (the batch's log names them)


def test_without_a_roster_the_canvas_file_identifies_students_by_the_hand_ins_name(tmp_path):
    write_canvas_csv(tmp_path / "canvas.csv", ROWS)
    header, *rows = read(tmp_path / "canvas.csv")
    assert header[-1] == "Diffusion homework"  # a name without "(ID)": Canvas creates the assignment
    assert [(row[0], row[2], row[-1]) for row in rows] == [
        ("Ada Lovelace_101", "Ada Lovelace_101", "8"), ("bo", "bo", "0"), ("cy@uni.edu", "cy@uni.edu", ""),
        ("'=dee", "'=dee", ""), ("stranger", "stranger", "2")]


def test_a_roster_is_read_with_any_column_order_and_case_and_refused_with_a_reason_when_unusable(tmp_path):
    good = tmp_path / "roster.csv"
    good.write_text("\ufeffEmail,Name,ID,Section\nada@uni.edu,Ada  Lovelace,101,A\n,,,\nbo@uni.edu,Bo Chen,102,B\n",
                    encoding="utf-8")
    assert load_roster(good) == [Student("101", "Ada Lovelace", "ada@uni.edu", section="A"),
                                 Student("102", "Bo Chen", "bo@uni.edu", section="B")]
    cases = {
        "name,email\nAda,ada@uni.edu\n": "has no column id",
        "id,name,email\n101,Ada,a@x\n101,Bo,b@x\n": "lists id 101 twice",
        "id,name,email\n,Ada,a@x\n": "row 2 of the roster",
        "id,name,email\n": "lists no student",
    }
    for text, reason in cases.items():
        bad = tmp_path / "bad.csv"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(GraderError, match=reason):
            load_roster(bad)
    with pytest.raises(GraderError, match="cannot be read"):
        load_roster(tmp_path / "missing.csv")
