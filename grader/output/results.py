"""The outcome of grading one submission, and its Gradescope results.json form.

Gradescope's format (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
    {"score", "execution_time", "output", "tests": [{"name", "score", "max_score", "status",
     "output", "visibility", "tags", "extra_data"}]}
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grader.grading.untrusted import safe_text

if TYPE_CHECKING:
    from grader.checks._compare import Mismatch

MAX_NAME_CHARS = 200  # a submission's name: a folder's or a file's, chosen by the student
CHECK_PICTURES = "checks"  # the results folder's subfolder of check pictures (report.md links them)
MAX_CHECK_PICTURES = 20  # per report: the first failed checks with a picture get one
NOT_RUN_IMPORT = "not run: the package does not import"


@dataclass(frozen=True)
class CheckResult:
    check_id: str  # "q_sample.matches_reference"
    item_number: str  # "2.1"
    function: str  # "q_sample": the TODO item
    title: str
    score: float
    max_score: float
    passed: bool
    message: str
    public: bool
    tags: tuple[str, ...]
    seconds: float = 0.0
    incomplete: bool = False  # not graded: the grading machine failed (message says how); grade again
    # The reported case's values when the check failed on them (see grader/checks/_compare.Mismatch):
    # GradeReport.draw_pictures turns it into `pictures`. Kept in memory only, never in results.json.
    mismatch: Mismatch | None = field(default=None, compare=False, repr=False)
    pictures: tuple[str, ...] = ()  # this check's picture files, relative to the results folder
    cause: str = ""  # why the check did not run, one line shared by every such check (the import failure)

    def __post_init__(self) -> None:
        # The message quotes what the student's code said (an exception, a file name): make it writable.
        object.__setattr__(self, "message", safe_text(self.message))
        object.__setattr__(self, "title", safe_text(self.title))
        object.__setattr__(self, "cause", safe_text(self.cause, 400))

    @property
    def item(self) -> str:
        return f"{self.item_number} {self.function}"

    @property
    def name(self) -> str:
        """The check's name within its item: "matches_reference" for "q_sample.matches_reference"."""
        return self.check_id.split(".", 1)[1]


@dataclass(frozen=True)
class ItemRow:
    """A TODO item's line of the score table: its label and (score, max_score) summed over its checks."""

    item: str
    score: float
    max_score: float


@dataclass
class GradeReport:
    submission: str
    checks: list[CheckResult]
    execution_time: float
    confinement: str  # e.g. "bubblewrap: Student code runs as uid 65534, ..."
    public_only: bool = False
    rejected: str = ""  # why the submission could not be graded at all ("" when it was)
    hidden_visibility: str = "after_published"
    items: list[tuple[str, str]] = field(default_factory=list)  # (number, function), rubric order
    notes: list[str] = field(default_factory=list)  # informational lines worth no points (the CLIP score)
    hidden_left_out: int = 0  # in a report for students (for_students): how many hidden checks it leaves out

    def __post_init__(self) -> None:
        # Every string here can come from a hand-in (its name, why it was rejected, its CLIP prompts) and
        # ends up in results.json, report.md/html and the terminal: each must be writable as UTF-8.
        self.submission = safe_text(self.submission, MAX_NAME_CHARS)
        self.rejected = safe_text(self.rejected)
        self.confinement = safe_text(self.confinement)
        self.notes = [safe_text(note) for note in self.notes]

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    @property
    def incomplete(self) -> list[str]:
        """The items that could not be graded because the grading machine failed ([] when complete)."""
        return list(dict.fromkeys(c.item for c in self.checks if c.incomplete))

    @property
    def status(self) -> str:
        """"complete", "incomplete" (some items must be graded again) or "rejected"."""
        return "rejected" if self.rejected else ("incomplete" if self.incomplete else "complete")

    @property
    def import_failure(self) -> str:
        """Why the package does not import, one line with file and line ("" when it imports): the checks
        it stopped say only NOT_RUN_IMPORT, and every report says the reason once, at the top."""
        return next((c.cause for c in self.checks if c.cause), "")

    def import_failure_line(self) -> str:
        return f"The package does not import: {self.import_failure}" if self.import_failure else ""

    def failed_checks(self) -> list[CheckResult]:
        """The failed checks whose messages the reports list (not those an import failure stopped)."""
        return [c for c in self.checks if not c.passed and not c.cause]

    def for_students(self) -> GradeReport:
        """This report as students may see it before grades are published: the visible checks only (their
        names, messages, pictures and sum), the notes about their hand-in, no sandbox description.

        Hidden checks are graded on secret inputs; their names, messages and pictures stay in the staff
        report. The import failure comes from a call with no inputs (grader/grading/session.py), so it stays."""
        visible = [c for c in self.checks if c.public]
        notes = [note for note in self.notes if note.startswith("Hand-in:")]
        if "NOT CONFINED" in self.confinement:
            notes.append("This result is provisional: the course staff will confirm the score.")
        return dataclasses.replace(self, checks=visible, notes=notes, confinement="",
                                   hidden_left_out=self.hidden_left_out + len(self.checks) - len(visible))

    def draw_pictures(self, folder: Path) -> None:
        """Draw each failed check's expected-vs-got picture into folder/checks/ (at most MAX_CHECK_PICTURES)
        and name it in the check's `pictures`. Pictures of an earlier grading in `folder` are removed
        first. Nothing is drawn twice; a picture that cannot be drawn is simply left out."""
        if any(c.pictures for c in self.checks):
            return
        from grader.output.check_pictures import draw_mismatch

        pictures_folder = Path(folder) / CHECK_PICTURES
        if pictures_folder.is_dir() and not pictures_folder.is_symlink():
            for old in pictures_folder.glob("*.png"):
                with contextlib.suppress(OSError):
                    old.unlink()
        drawn = 0
        for index, check in enumerate(self.checks):
            if check.passed or check.mismatch is None or drawn >= MAX_CHECK_PICTURES:
                continue
            name = f"{CHECK_PICTURES}/{_file_name(check.check_id)}.png"
            title = f"{check.item_number} {check.check_id}: {check.mismatch.message}"
            if draw_mismatch(check.mismatch, Path(folder) / name, title):
                self.checks[index] = dataclasses.replace(check, pictures=(name,))
                drawn += 1

    def incomplete_line(self) -> str:
        """The one-line warning every output leads with when the grading is incomplete ("" otherwise)."""
        if not self.incomplete:
            return ""
        return (f"INCOMPLETE, not a final score: {len(self.incomplete)} item(s) could not be graded because the "
                f"grading machine failed, not the submission ({', '.join(self.incomplete)}); grade it again")

    def item_scores(self) -> dict[str, tuple[float, float]]:
        """'2.1 q_sample' -> (score, max_score), in rubric order."""
        scores: dict[str, tuple[float, float]] = {f"{n} {f}": (0.0, 0.0) for n, f in self.items}
        for c in self.checks:
            got, out_of = scores.get(c.item, (0.0, 0.0))
            scores[c.item] = (got + c.score, out_of + c.max_score)
        return scores

    def table_rows(self) -> list[ItemRow | CheckResult]:
        """The score table every renderer shows: each item's ItemRow, then that item's checks."""
        item_scores = self.item_scores()
        rows: list[ItemRow | CheckResult] = []
        for check in self.checks:
            if not rows or check.item != getattr(rows[-1], "item", None):
                rows.append(ItemRow(check.item, *item_scores[check.item]))
            rows.append(check)
        return rows

    def summary_line(self) -> str:
        return (f"{self.submission}: {points(self.score)} / {points(self.max_score)}"
                + (" (public checks only)" if self.public_only else "")
                + (" INCOMPLETE" if self.incomplete else ""))

    def overall_output(self) -> str:
        lines = [self.summary_line()]
        if self.import_failure:
            lines.append(self.import_failure_line())
        if self.incomplete:
            lines.append(self.incomplete_line())
        if self.rejected:
            lines.append(f"The submission could not be graded: {self.rejected}")
        for label, (got, out_of) in self.item_scores().items():
            lines.append(f"  {label}: {points(got)} / {points(out_of)}")
        lines.extend(self.notes)
        lines.append(f"Sandbox: {self.confinement}")
        if self.public_only:
            lines.append("Only the public checks ran; the hidden checks are run by the course's grader.")
        return "\n".join(lines)

    def to_gradescope(self) -> dict:
        return {
            "score": round(self.score, 6),
            "execution_time": round(self.execution_time, 3),
            "output": self.overall_output(),
            "extra_data": {"status": self.status, "incomplete_items": self.incomplete},
            "tests": [
                {
                    "name": f"{c.item_number} {c.function}: {c.title}",
                    "score": round(c.score, 6),
                    "max_score": round(c.max_score, 6),
                    "status": "passed" if c.passed else "failed",
                    "output": c.message,
                    "visibility": "visible" if c.public else self.hidden_visibility,
                    "tags": list(c.tags),
                    "extra_data": {"check": c.check_id, "item": c.item_number, "function": c.function,
                                   **({"incomplete": True} if c.incomplete else {}),
                                   **({"pictures": list(c.pictures)} if c.pictures else {})},
                }
                for c in self.checks
            ],
        }

    def write(self, out_dir: Path) -> Path:
        """Write out_dir/results.json atomically (a half-written file is never left behind), after the
        failed checks' pictures (draw_pictures), which it names."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.draw_pictures(out_dir)
        target = out_dir / "results.json"
        write_atomically(target, json.dumps(self.to_gradescope(), indent=2) + "\n")
        return target


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then move it over `path`: readers see the old
    file or the new one, never half of one, and a failed write leaves no temporary file behind."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _file_name(check_id: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in check_id)[:120]


def points(value: float) -> str:
    """A score as people write it: 3, 2.5, 130."""
    return f"{value:g}"


def results_status(results: dict) -> str:
    """"complete", "incomplete" or "rejected" of a results.json written by GradeReport.write."""
    extra = results.get("extra_data")
    status = extra.get("status") if isinstance(extra, dict) else None
    return status if status in ("complete", "incomplete", "rejected") else "complete"


def item_scores_from_results(results: dict) -> dict[str, tuple[float, float]]:
    """'2.1 q_sample' -> (score, max_score) from a results.json written by GradeReport.write."""
    scores: dict[str, tuple[float, float]] = {}
    for test in results.get("tests", []):
        extra = test.get("extra_data") or {}
        label = f"{extra.get('item', '?')} {extra.get('function', '?')}"
        got, out_of = scores.get(label, (0.0, 0.0))
        scores[label] = (got + float(test.get("score", 0)), out_of + float(test.get("max_score", 0)))
    return scores
