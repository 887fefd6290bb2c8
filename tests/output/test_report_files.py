"""report.md and report.html: the score table, every failed check's message, and the run's pictures."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

from PIL import Image

from grader.output.report_files import REPORT_HTML, REPORT_MD, STUDENT_REPORT_HTML, STUDENT_REPORT_MD, write_feedback
from grader.output.results import CheckResult, GradeReport


def _check(check_id: str, item: str, passed: bool, message: str, public: bool = True,
           points: float = 3.0) -> CheckResult:
    function = check_id.split(".", 1)[0]
    return CheckResult(check_id, item, function, f"{check_id} works", points if passed else 0.0, points, passed,
                       message, public, (function,))


def _report() -> GradeReport:
    checks = [
        _check("q_sample.matches_reference", "2.1", True, "passed"),
        _check("q_sample.draws_noise", "2.1", False,
               "q_sample returned shape (4, 3, 32) but <(4, 3, 32, 32)> was expected", public=False),
        _check("p_sample.adds_no_noise_at_t_0", "2.3", False, "p_sample added noise at t = 0: sigma must be 0 there"),
    ]
    return GradeReport("alice", checks, 12.5, "bubblewrap: confined", items=[("2.1", "q_sample"), ("2.3", "p_sample")],
                       notes=["CLIP score: not measured"])


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def test_reports_hold_the_table_every_failed_message_and_the_pictures(tmp_path):
    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "loss_curve.png")
    (tmp_path / "samples").mkdir()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(tmp_path / "samples" / "samples_grid.png")
    markdown_path, html_path = write_feedback(_report(), tmp_path)
    assert (markdown_path.name, html_path.name) == (REPORT_MD, REPORT_HTML)

    markdown = markdown_path.read_text()
    assert markdown.startswith("# alice: 3 / 9\n")
    assert "| **2.1 q_sample** | **3 / 6** | |" in markdown
    assert "| &nbsp;&nbsp;draws_noise (hidden) | 0 / 3 | [FAILED](#fail-q_sample.draws_noise) |" in markdown
    assert '### <a id="fail-q_sample.draws_noise"></a>2.1 q_sample.draws_noise' in markdown
    assert "q_sample returned shape (4, 3, 32) but <(4, 3, 32, 32)> was expected" in markdown
    assert "p_sample added noise at t = 0" in markdown
    assert "![loss curve](loss_curve.png)" in markdown and "(samples/samples_grid.png)" in markdown
    assert "CLIP score: not measured" in markdown

    page = html_path.read_text()
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in page
    assert "<a href='#fail-p_sample.adds_no_noise_at_t_0'>FAILED</a>" in page  # the table row links its message
    assert "<h3 id='fail-p_sample.adds_no_noise_at_t_0'>" in page
    assert "&lt;(4, 3, 32, 32)&gt;" in page and "<(4, 3, 32, 32)>" not in page  # messages are escaped
    parser = _Images()
    parser.feed(page)
    assert len(parser.sources) == 2
    embedded = base64.b64decode(parser.sources[0].split(",", 1)[1])
    assert embedded == (tmp_path / "loss_curve.png").read_bytes()


def test_a_run_without_pictures_or_failures_has_no_such_sections(tmp_path):
    report = GradeReport("bob", [_check("q_sample.matches_reference", "2.1", True, "passed")], 1.0, "none",
                         items=[("2.1", "q_sample")])
    markdown_path, html_path = write_feedback(report, tmp_path)
    markdown = markdown_path.read_text()
    assert "# bob: 3 / 3" in markdown
    assert "What failed" not in markdown and "Pictures" not in markdown and "<img" not in html_path.read_text()


def test_a_rejected_submission_says_why_in_both_reports(tmp_path):
    report = GradeReport("carol", [_check("q_sample.matches_reference", "2.1", False, "not run: no package")], 0.1,
                         "not started", rejected="no diffusion_hw/ package was found", items=[("2.1", "q_sample")])
    markdown_path, html_path = write_feedback(report, tmp_path)
    assert "**The submission could not be graded: no diffusion_hw/ package was found**" in markdown_path.read_text()
    assert "could not be graded: no diffusion_hw/ package was found" in html_path.read_text()


def test_the_student_report_holds_the_visible_checks_only(tmp_path):
    report = _report()
    report.confinement = "NOT CONFINED: no namespaces"
    report.notes = ["CLIP score: not computed (set DIFFUSION_HW_CLIP=/staff/path)",
                    "Hand-in: views.py came from the starter"]
    write_feedback(report, tmp_path)
    for name in (STUDENT_REPORT_MD, STUDENT_REPORT_HTML):
        student = (tmp_path / name).read_text()
        assert "p_sample added noise at t = 0" in student and "adds_no_noise_at_t_0" in student
        assert "3 / 6" in student  # the visible checks' sum
        for leak in ("draws_noise", "(hidden)", "(4, 3, 32", "CLIP", "/staff/path", "NOT CONFINED", "Sandbox"):
            assert leak not in student, (name, leak)
        assert "Hand-in: views.py came from the starter" in student and "provisional" in student
        assert "Hidden checks are graded too" in student
    staff = (tmp_path / REPORT_MD).read_text()
    assert "draws_noise (hidden)" in staff and "/staff/path" in staff and "Sandbox: NOT CONFINED" in staff


def test_a_public_only_run_gives_students_the_same_checks(tmp_path):
    report = GradeReport("dana", [_check("q_sample.matches_reference", "2.1", False, "wrong values")], 1.0, "confined",
                         public_only=True, items=[("2.1", "q_sample")])
    write_feedback(report, tmp_path)
    student = (tmp_path / STUDENT_REPORT_MD).read_text()
    assert student.startswith("# dana: 0 / 3 (public checks only)") and "wrong values" in student
    assert "Hidden checks are graded too" not in student
