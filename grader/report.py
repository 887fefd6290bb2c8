"""The terminal summary of a grade: a table of checks grouped by TODO item, then what failed and why."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.results import GradeReport


def _num(value: float) -> str:
    return f"{value:g}"


def render(report: GradeReport, console: Console | None = None, *, verbose: bool = False) -> None:
    """Print the summary; each failed check's feedback follows the table (in full with `verbose`)."""
    console = console or Console(highlight=False)
    title = f"{report.submission}: {_num(report.score)} / {_num(report.max_score)}"
    if report.public_only:
        title += "  (public checks only)"
    table = Table(title=title, box=box.SIMPLE_HEAD, expand=False, pad_edge=False)
    table.add_column("TODO item / check", overflow="fold")
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("result", no_wrap=True)
    item_scores = report.item_scores()
    current = None
    for check in report.checks:
        if check.item != current:
            current = check.item
            got, out_of = item_scores[check.item]
            style = "green" if got == out_of else ("red" if got == 0 else "yellow")
            table.add_row(Text(check.item, style=f"bold {style}"), Text(f"{_num(got)} / {_num(out_of)}", style=f"bold {style}"), "")
        name = Text("  " + check.check_id.split(".", 1)[1])
        if not check.public:
            name.append(" (hidden)", style="dim")
        status = Text("passed", style="green") if check.passed else Text("failed", style="bold red")
        table.add_row(name, f"{_num(check.score)} / {_num(check.max_score)}", status)
    console.print(table)
    failed = [c for c in report.checks if not c.passed]
    if report.rejected:
        console.print(Text(f"The submission could not be graded: {report.rejected}", style="bold red"))
    elif failed:
        console.print(Text("What failed:", style="bold"))
        for check in failed:
            message = check.message if verbose or len(check.message) <= 400 else check.message[:397] + "..."
            line = Text(f"  {check.item_number} {check.check_id}: ", style="red")
            line.append(message)
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
    console.print(Text(f"Sandbox: {report.confinement}", style="dim"))
    console.print(f"Graded in {report.execution_time:.1f} s.")
