"""The terminal summary of a grade: a table of checks grouped by TODO item, then what failed and why.

A long message is cut at a word boundary and says so, and how to see the rest (`--verbose`); a
package that does not import is one line above the table, not a copy of its error in every check.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.output.results import GradeReport, ItemRow, points

SHORT_MESSAGE_CHARS = 400


def shortened(message: str, limit: int = SHORT_MESSAGE_CHARS) -> str:
    """`message` if it has at most `limit` characters, else its start cut at a word boundary, followed
    by how much is left out and how to see it."""
    if len(message) <= limit:
        return message
    cut = message[:limit]
    if not message[limit].isspace() and " " in cut.strip():
        cut = cut.rstrip().rsplit(None, 1)[0]  # never mid-word
    cut = cut.rstrip()
    return f"{cut} ... [{len(message) - len(cut)} more characters: --verbose prints the whole message]"


def render(report: GradeReport, console: Console | None = None, *, verbose: bool = False) -> None:
    """Print the summary; each failed check's feedback follows the table (in full with `verbose`).

    A hand-in that could not be graded at all prints its score and the reason only: a table in which
    every check scores 0 "not run" would bury the reason."""
    console = console or Console(highlight=False)
    title = f"{report.submission}: {points(report.score)} / {points(report.max_score)}"
    if report.public_only:
        title += "  (public checks only)"
    if report.rejected:
        console.print(Text(title, style="bold red"))
        console.print(Text(f"The submission could not be graded: {report.rejected}", style="bold red"))
        console.print(f"No check ran ({len(report.checks)} checks score 0); results.json and report.md list them.")
        for note in report.notes:
            console.print(Text(note))
        return
    table = Table(title=title, box=box.SIMPLE_HEAD, expand=False, pad_edge=False)
    table.add_column("TODO item / check", overflow="fold")
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("result", no_wrap=True)
    if report.import_failure:
        console.print(Text(report.import_failure_line(), style="bold red"))
    for row in report.table_rows():
        if isinstance(row, ItemRow):
            style = "green" if row.score == row.max_score else ("red" if row.score == 0 else "yellow")
            score = Text(f"{points(row.score)} / {points(row.max_score)}", style=f"bold {style}")
            table.add_row(Text(row.item, style=f"bold {style}"), score, "")
            continue
        name = Text("  " + row.name)
        if not row.public:
            name.append(" (hidden)", style="dim")
        if row.incomplete:
            status = Text("not graded", style="bold yellow")
        elif row.cause:
            status = Text("not run", style="bold red")
        else:
            status = Text("passed", style="green") if row.passed else Text("failed", style="bold red")
        table.add_row(name, f"{points(row.score)} / {points(row.max_score)}", status)
    console.print(table)
    if report.incomplete:
        console.print(Text(report.incomplete_line(), style="bold yellow"))
    failed = report.failed_checks()
    if report.import_failure:
        console.print(Text("No check ran: the package does not import (the reason is above the table); fix it and "
                           "grade again", style="bold red"))
    if failed:
        console.print(Text("What failed:", style="bold"))
        for check in failed:
            line = Text(f"  {check.item_number} {check.check_id}: ", style="red")
            line.append(check.message if verbose else shortened(check.message))
            if check.pictures:
                line.append(" [expected vs got: a picture in report.html]", style="dim")
            console.print(line)
    measured = [c for c in report.checks if c.passed and {"metrics", "smoke"} & set(c.tags)]
    if measured:  # the numbers behind passed metric entries (failed ones are listed above)
        console.print(Text("Measured:", style="bold"))
        for check in measured:
            line = Text(f"  {check.check_id}: ", style="green")
            line.append(check.message)
            console.print(line)
    for note in report.notes:
        console.print(Text(note))
    if report.confinement:
        console.print(Text(f"Sandbox: {report.confinement}", style="dim"))
    console.print(f"Graded in {report.execution_time:.1f} s.")
