"""The reports of real gradings: expected-vs-got pictures beside their checks (and loaded by a real
browser), a student report that holds nothing of the hidden checks, and a package that does not import
reported once, with its file and line, instead of in every check."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from grader.api import grade_submission
from grader.output.report_files import REPORT_HTML, REPORT_MD, STUDENT_REPORT_HTML, STUDENT_REPORT_MD
from grader.output.results import NOT_RUN_IMPORT
from grader.output.terminal import render
from tests.support.corpus import SCHEDULES, VIEWS, mutation

pytestmark = pytest.mark.slow

SIGMOID_IGNORES_TAU = (SCHEDULES, "    # BEGIN SOLUTION (TODO 1.3 sigmoid_beta_schedule)\n",
                       "    # BEGIN SOLUTION (TODO 1.3 sigmoid_beta_schedule)\n    tau = 1.0\n")
WRONG_VALUES = mutation(
    "linear_schedule_unscaled_and_rotate180_a_flip",
    (SCHEDULES, "scale = 1000 / timesteps", "scale = 1.0"),
    (VIEWS, "        return x.flip(-2, -1)\n", "        return x.flip(-1)\n"),
    (VIEWS, "        return noise.flip(-2, -1)\n", "        return noise.flip(-1)\n"),
    SIGMOID_IGNORES_TAU,
)
HIDDEN_ONLY = mutation("sigmoid_ignores_tau", SIGMOID_IGNORES_TAU)  # the public cases use tau = 1
SYNTAX_ERROR = mutation(
    "syntax_error_in_schedules",
    (SCHEDULES, "def linear_beta_schedule(timesteps: int) -> torch.Tensor:\n",
     "def linear_beta_schedule(timesteps: int) -> torch.Tensor:\n    x = = 1\n"),
)
HIDDEN_CHECK = "sigmoid_beta_schedule.matches_reference_for_any_parameters"


def _grade(tmp_path_factory, submission) -> tuple[object, Path]:
    folder = tmp_path_factory.mktemp(submission.name)
    out = folder / "out"
    report = grade_submission(submission.build(folder / "handin"), out=out)
    return report, out


@pytest.fixture(scope="module")
def wrong_values(tmp_path_factory):
    return _grade(tmp_path_factory, WRONG_VALUES)


@pytest.fixture(scope="module")
def hidden_only(tmp_path_factory):
    return _grade(tmp_path_factory, HIDDEN_ONLY)


@pytest.fixture(scope="module")
def syntax_error(tmp_path_factory):
    return _grade(tmp_path_factory, SYNTAX_ERROR)


def _failed(results: dict) -> dict[str, dict]:
    return {test["extra_data"]["check"]: test for test in results["tests"] if test["status"] == "failed"}


def test_a_failed_schedule_and_a_failed_view_show_their_picture_beside_their_message(wrong_values):
    _, out = wrong_values
    failed = _failed(json.loads((out / "results.json").read_text()))
    curve = failed["linear_beta_schedule.matches_reference"]["extra_data"]["pictures"]
    images = failed["Rotate180View.view_matches_reference"]["extra_data"]["pictures"]
    assert curve == ["checks/linear_beta_schedule.matches_reference.png"]
    assert images == ["checks/Rotate180View.view_matches_reference.png"]
    assert (out / curve[0]).stat().st_size > 1000 and (out / images[0]).stat().st_size > 1000
    markdown = (out / REPORT_MD).read_text()
    entry = markdown.split('<a id="fail-Rotate180View.view_matches_reference"></a>', 1)[1].split("\n### ", 1)[0]
    assert "Rotate180View().view(x)" in entry and f"]({images[0]})" in entry  # the message, then its picture


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
LOADED_IMAGES = """<script>addEventListener("load", () => { document.body.dataset.images = JSON.stringify(
  [...document.images].map(image => [image.alt, image.complete, image.naturalWidth, image.naturalHeight]))
})</script>"""


def _images_a_browser_loaded(page: Path, scratch: Path) -> list[tuple[str, bool, int, int]]:
    """[(alt, complete, natural width, natural height)] of every <img> of `page` as headless Chromium
    loaded it: a copy of the page gets a script that writes them into the DOM Chromium dumps."""
    browser = next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)
    assert browser, ("Chromium is needed to check that report.html's pictures load in a browser, and it is not "
                     "installed: `apt-get install -y chromium` (as root; .ci/run does it)")
    probe = scratch / f"loaded-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", LOADED_IMAGES + "</body>"), encoding="utf-8")
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={scratch / 'chromium-profile'}", "--virtual-time-budget=10000",
                           "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=300)
    found = re.search(r'data-images="([^"]*)"', done.stdout)
    assert found, f"Chromium dumped no list of images (exit {done.returncode}): {done.stderr[-800:]}"
    return [tuple(image) for image in json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))]


def test_report_html_shows_expected_vs_got_pictures_in_a_headless_browser(wrong_values, tmp_path):
    _, out = wrong_values
    images = _images_a_browser_loaded(out / REPORT_HTML, tmp_path)
    pictures = {alt: (complete, width, height) for alt, complete, width, height in images}
    for check in ("linear_beta_schedule.matches_reference", "Rotate180View.view_matches_reference", HIDDEN_CHECK):
        complete, width, height = pictures[f"expected vs got: {check}"]
        assert complete and width > 100 and height > 100, (check, width, height)
    failed = _failed(json.loads((out / "results.json").read_text()))
    visible = {f"expected vs got: {check}" for check, test in failed.items()
               if test["visibility"] == "visible" and test["extra_data"].get("pictures")}
    student = _images_a_browser_loaded(out / STUDENT_REPORT_HTML, tmp_path)
    assert {alt for alt, *_ in student} == visible and len(visible) < len(pictures)  # hidden pictures: staff only
    assert all(complete and width > 100 for _, complete, width, _ in student)


def test_a_submission_failing_only_hidden_checks_shows_students_nothing_of_them(hidden_only):
    report, out = hidden_only
    failed = [c for c in report.checks if not c.passed]
    assert [c.check_id for c in failed] == [HIDDEN_CHECK] and not failed[0].public
    assert failed[0].pictures  # the staff report has its picture ...
    staff = (out / REPORT_HTML).read_text()
    assert HIDDEN_CHECK in staff and f"expected vs got: {HIDDEN_CHECK}" in staff
    visible_points = sum(c.max_score for c in report.checks if c.public)
    for name in (STUDENT_REPORT_MD, STUDENT_REPORT_HTML):
        student = (out / name).read_text()
        assert f"{visible_points:g} / {visible_points:g}" in student  # every visible point, out of the visible ones
        for leak in ("matches_reference_for_any_parameters", "(hidden)", "tau", "What failed", "<img", "checks/",
                     "Sandbox:", "bubblewrap", "CLIP"):
            assert leak not in student, (name, leak)
        assert "Hidden checks are graded too" in student


def test_a_package_that_does_not_import_is_one_line_at_the_top_and_no_check_repeats_it(syntax_error):
    report, out = syntax_error
    line = "The package does not import: SyntaxError in diffusion_hw/schedules.py line 25: invalid syntax"
    assert report.import_failure_line() == line
    assert all(c.message == NOT_RUN_IMPORT and not c.passed and c.score == 0 for c in report.checks)
    results = json.loads((out / "results.json").read_text())
    assert results["output"].splitlines()[1] == line
    assert {test["output"] for test in results["tests"]} == {NOT_RUN_IMPORT}
    for name in (REPORT_MD, STUDENT_REPORT_MD):
        markdown = (out / name).read_text()
        assert markdown.splitlines()[2] == f"**{line}**" and markdown.count("SyntaxError") == 1
        assert "What failed" not in markdown and "| NOT RUN |" in markdown
    page = (out / REPORT_HTML).read_text()
    assert page.count("SyntaxError") == 1 and len(page) < 20_000
    console = Console(record=True, width=100)
    render(report, console)
    printed = console.export_text()
    assert printed.count("SyntaxError") == 1 and printed.index("SyntaxError") < printed.index("TODO item / check")
    assert printed.count("not run") == len(report.checks)
