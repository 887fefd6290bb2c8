"""The terminal summary: long messages cut at a word with a pointer to --verbose, and a package that
does not import said once, above the table, with its file and line."""

from __future__ import annotations

import pytest
from rich.console import Console

from grader.grading.session import import_failure_summary
from grader.output.results import NOT_RUN_IMPORT, CheckResult, GradeReport
from grader.output.terminal import render, shortened

LONG = " ".join(f"word{i:03d}" for i in range(120))  # 959 characters


def _printed(report: GradeReport, verbose: bool = False) -> str:
    console = Console(record=True, width=2000)  # wide: no wrapping, so the text is compared as printed
    render(report, console, verbose=verbose)
    return console.export_text()


def _report(message: str, **fields) -> GradeReport:
    check = CheckResult("q_sample.matches_reference", "2.1", "q_sample", "title", 0.0, 5.0, False, message, True,
                        ("q_sample",), **fields)
    return GradeReport("erin", [check], 1.0, "confined", items=[("2.1", "q_sample")])


def test_a_long_message_is_cut_at_a_word_and_says_how_to_see_the_rest():
    cut = shortened(LONG)
    kept = cut.split(" ... [")[0]
    assert LONG.startswith(kept) and kept.split()[-1] in LONG.split()  # whole words only
    assert len(kept) <= 400 and f"[{len(LONG) - len(kept)} more characters: --verbose prints the whole message]" in cut
    assert shortened("short message") == "short message"
    one_word = "x" * 1000
    assert shortened(one_word).startswith("x" * 400 + " ... [600 more")  # nothing to cut at: cut at the limit


def test_verbose_prints_the_whole_message_and_the_default_does_not():
    assert LONG in _printed(_report(LONG), verbose=True)
    short = _printed(_report(LONG))
    assert LONG not in short and "--verbose prints the whole message" in short


def test_an_import_failure_is_said_once_above_the_table():
    printed = _printed(_report(NOT_RUN_IMPORT, cause="SyntaxError in diffusion_hw/views.py line 7: invalid syntax"))
    assert printed.count("SyntaxError in diffusion_hw/views.py line 7") == 1
    assert printed.index("The package does not import") < printed.index("TODO item / check")
    assert "not run" in printed and "What failed" not in printed


@pytest.mark.parametrize(("description", "line"), [
    ("SyntaxError in diffusion_hw/schedules.py line 3: invalid syntax\n    x = = 1",
     "SyntaxError in diffusion_hw/schedules.py line 3: invalid syntax"),
    ("NameError: name 'np' is not defined\nTraceback (your code, most recent call last):\n"
     "  diffusion_hw/__init__.py, line 1, in <module>\n    from .views import *\n"
     "  diffusion_hw/views.py, line 9, in <module>\n    SCALE = np.pi\n",
     "NameError: name 'np' is not defined (diffusion_hw/views.py, line 9)"),
    ("", "the import raised an error without a message"),
])
def test_an_import_failure_becomes_one_line_with_its_file_and_line(description, line):
    assert import_failure_summary(description) == line


def test_an_import_failure_line_is_bounded():
    line = import_failure_summary("ValueError: " + LONG * 3 + "\n  diffusion_hw/a.py, line 2, in <module>")
    assert len(line) <= 300 and line.endswith(" ... (diffusion_hw/a.py, line 2)")
    assert line.split(" ... (")[0].split()[-1] in LONG.split()  # cut at a word


def test_a_rejected_hand_in_prints_the_reason_and_no_table_of_zeros():
    checks = [CheckResult(f"q_sample.check_{i}", "2.1", "q_sample", "title", 0.0, 1.0, False, "not run: not a zip",
                          True, ("q_sample",)) for i in range(40)]
    report = GradeReport("frank.zip", checks, 0.1, "not started",
                         rejected="frank.zip is not a zip file: hand in a .zip", items=[("2.1", "q_sample")])
    printed = _printed(report).splitlines()
    assert printed[:2] == ["frank.zip: 0 / 40",
                           "The submission could not be graded: frank.zip is not a zip file: hand in a .zip"]
    assert len(printed) <= 4 and not any("check_" in line for line in printed)
