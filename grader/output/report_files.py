"""The reports a person reads, next to results.json: one for staff, one that students may see.

    report.md / report.html                  staff: every check, hidden ones too, with their messages and
                                             pictures, the notes and the sandbox's description
    student_report.md / student_report.html  students: the visible checks only (their names, messages,
                                             pictures and sum), notes about their hand-in; of the hidden
                                             checks only that they exist (GradeReport.for_students)

Both lead with what stops everything (the grading is incomplete, the hand-in was rejected, the package
does not import: one line with file and line), then the score table by TODO item and check, each
failed check's message in full under "What failed" (a FAILED cell links to it), with its
expected-vs-got picture beside it (grader/output/check_pictures.py: a schedule's curve, a view's images, an error
heat map), then the notes and the run's other pictures (loss curves, sample grids, metric bands:
every .png / .jpg in the results folder or one folder down, except the check pictures in checks/,
which appear only beside their own check). The HTML embeds every picture, so it is one file to mail
or upload; the Markdown links them by relative path.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from grader.output.results import CHECK_PICTURES, CheckResult, GradeReport, ItemRow, points

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
STUDENT_REPORT_MD = "student_report.md"
STUDENT_REPORT_HTML = "student_report.html"
PICTURE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
MAX_PICTURES = 24
MAX_PICTURE_BYTES = 8 << 20  # a picture larger than this is linked in Markdown but not embedded in HTML


def find_pictures(folder: Path) -> list[Path]:
    """The run's pictures in `folder` and its subfolders (one level down), sorted by path, at most
    MAX_PICTURES; the check pictures (folder/checks/) are not among them."""
    folder = Path(folder)
    candidates = [*folder.glob("*"), *(p for p in folder.glob("*/*") if p.parent.name != CHECK_PICTURES)]
    found = sorted(p for p in candidates if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES)
    return found[:MAX_PICTURES]


def anchor(check: CheckResult) -> str:
    """The id of a failed check's entry under "What failed" (check ids are letters, digits, _ and .)."""
    return "fail-" + "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_.-") else "-" for ch in check.check_id)


def _caption(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ")


def _status(check: CheckResult) -> str:
    if check.passed:
        return "passed"
    return "NOT GRADED" if check.incomplete else ("NOT RUN" if check.cause else "FAILED")


def _title(report: GradeReport) -> str:
    title = f"{report.submission}: {points(report.score)} / {points(report.max_score)}"
    if report.public_only:
        title += " (public checks only)"
    elif report.hidden_left_out:
        title += " (visible checks)"
    return title


def _leading_lines(report: GradeReport) -> list[str]:
    """What stops everything, one line each, before the table."""
    lines = [report.incomplete_line(), report.import_failure_line()]
    if report.rejected:
        lines.append(f"The submission could not be graded: {report.rejected}")
    return [line for line in lines if line]


def _hidden_line(report: GradeReport) -> str:
    if not report.hidden_left_out:
        return ""
    return "Hidden checks are graded too; their results appear when grades are published."


def render_markdown(report: GradeReport, pictures: list[Path], folder: Path) -> str:
    lines = [f"# {_title(report)}", ""]
    for line in _leading_lines(report):
        lines += [f"**{line}**", ""]
    if _hidden_line(report):
        lines += [_hidden_line(report), ""]
    lines += ["| TODO item / check | points | result |", "| --- | ---: | --- |"]
    failed = report.failed_checks() if not report.rejected else []
    for row in report.table_rows():
        if isinstance(row, ItemRow):
            lines.append(f"| **{row.item}** | **{points(row.score)} / {points(row.max_score)}** | |")
            continue
        name = row.name + ("" if row.public else " (hidden)")
        status = f"[{_status(row)}](#{anchor(row)})" if row in failed else _status(row)
        lines.append(f"| &nbsp;&nbsp;{name} | {points(row.score)} / {points(row.max_score)} | {status} |")
    if failed:
        lines += ["", "## What failed", ""]
        for check in failed:
            lines += [f'### <a id="{anchor(check)}"></a>{check.item_number} {check.check_id}', "", check.title, "",
                      "```text", check.message, "```", ""]
            for picture in check.pictures:
                lines += [f"![expected vs got: {check.check_id}]({picture})", ""]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report.notes]
    if pictures:
        lines += ["", "## Pictures", ""]
        for picture in pictures:
            relative = picture.relative_to(folder).as_posix()
            lines += [f"**{_caption(picture)}**", "", f"![{_caption(picture)}]({relative})", ""]
    lines.append("")
    if report.confinement:
        lines += [f"Sandbox: {report.confinement}", ""]
    lines.append(f"Graded in {report.execution_time:.1f} s.")
    return "\n".join(lines).rstrip() + "\n"


_STYLE = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;max-width:100%}\
td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left;overflow-wrap:anywhere}
td.points{text-align:right;white-space:nowrap}tr.item td{font-weight:bold;background:#f4f4f4}
.passed{color:#1a7f37}.failed{color:#cf222e;font-weight:bold}.failed a{color:inherit}\
.incomplete{color:#9a6700;font-weight:bold}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:.6em}h3:target{background:#fff8c5}
figure{display:inline-block;margin:.5em;max-width:100%}figure img{max-width:min(28em,100%);height:auto}
figure.check img{max-width:min(40em,100%)}.dim{color:#777}"""


def _embedded(path: Path, alt: str, caption: str, css: str = "") -> str:
    """A <figure> holding the picture at `path` as a data: URI ("" when it is missing or too large)."""
    e = html.escape
    try:
        if not path.is_file() or path.stat().st_size > MAX_PICTURE_BYTES:
            return ""
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError:
        return ""
    mime = PICTURE_SUFFIXES.get(path.suffix.lower(), "image/png")
    return (f"<figure{f' class={css!r}' if css else ''}><img alt='{e(alt)}' src='data:{mime};base64,{data}'>"
            f"<figcaption>{e(caption)}</figcaption></figure>")


def render_html(report: GradeReport, pictures: list[Path], folder: Path | None = None) -> str:
    """The report as one HTML page; check pictures (named relative to `folder`) sit beside their messages."""
    e = html.escape
    title = _title(report)
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             "<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{e(title)}</h1>"]
    for line in _leading_lines(report):
        parts.append(f"<p class='failed'>{e(line)}</p>")
    if _hidden_line(report):
        parts.append(f"<p class='dim'>{e(_hidden_line(report))}</p>")
    parts.append("<table><tr><th>TODO item / check</th><th>points</th><th>result</th></tr>")
    failed = report.failed_checks() if not report.rejected else []
    for row in report.table_rows():
        if isinstance(row, ItemRow):
            parts.append(f"<tr class='item'><td>{e(row.item)}</td>"
                         f"<td class='points'>{points(row.score)} / {points(row.max_score)}</td><td></td></tr>")
            continue
        name = e(row.name) + ("" if row.public else " <span class='dim'>(hidden)</span>")
        css = "passed" if row.passed else ("incomplete" if row.incomplete else "failed")
        status = f"<a href='#{anchor(row)}'>{_status(row)}</a>" if row in failed else _status(row)
        parts.append(f"<tr><td>&nbsp;&nbsp;{name}</td>"
                     f"<td class='points'>{points(row.score)} / {points(row.max_score)}</td>"
                     f"<td class='{css}'>{status}</td></tr>")
    parts.append("</table>")
    if failed:
        parts.append("<h2>What failed</h2>")
        for check in failed:
            parts.append(f"<h3 id='{anchor(check)}'>{e(check.item_number)} {e(check.check_id)}</h3>"
                         f"<p>{e(check.title)}</p><pre>{e(check.message)}</pre>")
            if folder is not None:
                for picture in check.pictures:
                    parts.append(_embedded(Path(folder) / picture, f"expected vs got: {check.check_id}",
                                           "expected (reference) vs got (yours)", "check"))
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>")
    if pictures:
        parts.append("<h2>Pictures</h2>")
        parts.extend(_embedded(picture, _caption(picture), _caption(picture)) for picture in pictures)
    sandbox = f"Sandbox: {e(report.confinement)}<br>" if report.confinement else ""
    parts.append(f"<p class='dim'>{sandbox}Graded in {report.execution_time:.1f} s.</p></body></html>")
    return "\n".join(part for part in parts if part) + "\n"


def write_feedback(report: GradeReport, folder: Path) -> tuple[Path, Path]:
    """Write the staff reports (report.md, report.html) and the students' (student_report.md/html) into
    `folder`, drawing the failed checks' pictures first if results.json has not; return the staff pair."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report.draw_pictures(folder)
    pictures = find_pictures(folder)
    written = []
    for shown, (markdown_name, html_name) in ((report, (REPORT_MD, REPORT_HTML)),
                                              (report.for_students(), (STUDENT_REPORT_MD, STUDENT_REPORT_HTML))):
        markdown, page = folder / markdown_name, folder / html_name
        markdown.write_text(render_markdown(shown, pictures, folder), encoding="utf-8")
        page.write_text(render_html(shown, pictures, folder), encoding="utf-8")
        written.append((markdown, page))
    return written[0]
