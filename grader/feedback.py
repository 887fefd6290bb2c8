"""The report a person reads: report.md and report.html next to results.json.

Both hold the score table by TODO item and check, each failed check's message in full, any notes,
and the pictures the run left in the results folder (loss curve, samples grid, denoising progress,
illusion views: every .png / .jpg in it or one folder down). The HTML embeds the pictures, so it is one file to mail
or upload; the Markdown links them by relative path.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from grader.results import GradeReport, ItemRow, points

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
PICTURE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
MAX_PICTURES = 24


def find_pictures(folder: Path) -> list[Path]:
    """The pictures in `folder` and its subfolders (one level down), sorted by path, at most MAX_PICTURES."""
    candidates = [*Path(folder).glob("*"), *Path(folder).glob("*/*")]
    found = sorted(p for p in candidates if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES)
    return found[:MAX_PICTURES]


def _caption(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ")


def _status(check) -> str:
    return "passed" if check.passed else ("NOT GRADED" if check.incomplete else "FAILED")


def render_markdown(report: GradeReport, pictures: list[Path], folder: Path) -> str:
    title = f"# {report.submission}: {points(report.score)} / {points(report.max_score)}"
    lines = [title + (" (public checks only)" if report.public_only else ""), ""]
    if report.incomplete:
        lines += [f"**{report.incomplete_line()}**", ""]
    if report.rejected:
        lines += [f"**The submission could not be graded:** {report.rejected}", ""]
    lines += ["| TODO item / check | points | result |", "| --- | ---: | --- |"]
    for row in report.table_rows():
        if isinstance(row, ItemRow):
            lines.append(f"| **{row.item}** | **{points(row.score)} / {points(row.max_score)}** | |")
            continue
        name = row.name + ("" if row.public else " (hidden)")
        lines.append(f"| &nbsp;&nbsp;{name} | {points(row.score)} / {points(row.max_score)} | {_status(row)} |")
    failed = [c for c in report.checks if not c.passed]
    if failed and not report.rejected:
        lines += ["", "## What failed", ""]
        for check in failed:
            lines += [f"### {check.item_number} {check.check_id}", "", check.title, "", "```text", check.message, "```", ""]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report.notes]
    if pictures:
        lines += ["", "## Pictures", ""]
        for picture in pictures:
            relative = picture.relative_to(folder).as_posix()
            lines += [f"**{_caption(picture)}**", "", f"![{_caption(picture)}]({relative})", ""]
    lines += ["", f"Sandbox: {report.confinement}", "", f"Graded in {report.execution_time:.1f} s."]
    return "\n".join(lines).rstrip() + "\n"


_STYLE = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}
td.points{text-align:right;white-space:nowrap}tr.item td{font-weight:bold;background:#f4f4f4}
.passed{color:#1a7f37}.failed{color:#cf222e;font-weight:bold}.incomplete{color:#9a6700;font-weight:bold}pre{white-space:pre-wrap;background:#f6f8fa;padding:.6em}
figure{display:inline-block;margin:.5em}figure img{max-width:28em;image-rendering:pixelated}.dim{color:#777}"""


def render_html(report: GradeReport, pictures: list[Path]) -> str:
    e = html.escape
    title = f"{report.submission}: {points(report.score)} / {points(report.max_score)}" + (
        " (public checks only)" if report.public_only else "")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{e(title)}</h1>"]
    if report.incomplete:
        parts.append(f"<p class='failed'>{e(report.incomplete_line())}</p>")
    if report.rejected:
        parts.append(f"<p class='failed'>The submission could not be graded: {e(report.rejected)}</p>")
    parts.append("<table><tr><th>TODO item / check</th><th>points</th><th>result</th></tr>")
    for row in report.table_rows():
        if isinstance(row, ItemRow):
            parts.append(f"<tr class='item'><td>{e(row.item)}</td><td class='points'>{points(row.score)} / {points(row.max_score)}</td><td></td></tr>")
            continue
        name = e(row.name) + ("" if row.public else " <span class='dim'>(hidden)</span>")
        css = "passed" if row.passed else ("incomplete" if row.incomplete else "failed")
        parts.append(f"<tr><td>&nbsp;&nbsp;{name}</td><td class='points'>{points(row.score)} / {points(row.max_score)}</td>"
                     f"<td class='{css}'>{_status(row)}</td></tr>")
    parts.append("</table>")
    failed = [c for c in report.checks if not c.passed]
    if failed and not report.rejected:
        parts.append("<h2>What failed</h2>")
        for check in failed:
            parts.append(f"<h3>{e(check.item_number)} {e(check.check_id)}</h3><p>{e(check.title)}</p><pre>{e(check.message)}</pre>")
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>")
    if pictures:
        parts.append("<h2>Pictures</h2>")
        for picture in pictures:
            data = base64.b64encode(picture.read_bytes()).decode("ascii")
            mime = PICTURE_SUFFIXES[picture.suffix.lower()]
            parts.append(f"<figure><img alt='{e(_caption(picture))}' src='data:{mime};base64,{data}'>"
                         f"<figcaption>{e(_caption(picture))}</figcaption></figure>")
    parts.append(f"<p class='dim'>Sandbox: {e(report.confinement)}<br>Graded in {report.execution_time:.1f} s.</p></body></html>")
    return "\n".join(parts) + "\n"


def write_feedback(report: GradeReport, folder: Path) -> tuple[Path, Path]:
    """Write folder/report.md and folder/report.html; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pictures = find_pictures(folder)
    markdown, page = folder / REPORT_MD, folder / REPORT_HTML
    markdown.write_text(render_markdown(report, pictures, folder), encoding="utf-8")
    page.write_text(render_html(report, pictures), encoding="utf-8")
    return markdown, page
