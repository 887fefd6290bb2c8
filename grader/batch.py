"""`grade batch DIR`: grade every submission in DIR, N at a time, and write a CSV gradebook.

Each submission is graded by its own `python -m grader` process (so a submission that somehow takes
its grader down takes nothing else with it), writing OUT/submissions/<name>/results.json: a folder of
their own, so no hand-in's name (`gradebook.csv.zip`) can collide with the batch's own files. The
reference side is planned once, here, and handed to every process as a plans file in a private
temporary folder (it holds hidden reference outputs, so it is never written under OUT). A re-run skips submissions that
already have a results.json unless `redo`; `regrade_incomplete` grades again just those whose grading
the machine could not complete (status "incomplete", or "error" with no result).

The gradebook's `status` is the outcome only: graded, incomplete (some items not graded because the
grading machine failed; the score is not final), rejected (scored 0: the hand-in cannot be graded) or
error (no result); `note` says why, or how long it took. It is written atomically (a crash never leaves
half a gradebook), and its cells are text a spreadsheet shows as text: names and notes come from the
hand-ins, so one starting with = + - @ (a formula, say `=HYPERLINK(...)`) is quoted with a leading '.

Generative options (`generative`: --samples-in, --checkpoint-in, --smoke, ...) are checked once, here,
before anything is graded: missing reference data or a rubric without [metrics] stops the batch with one
line. Then what every submission would compute alike is computed once and shared:

    --samples-in / --checkpoint-in   the FID statistics of the reference data and, for anime faces, its
                                     AFD, into the metrics' caches (keyed by content), which each process reads
    --smoke                          the reference solution's smoke run, saved next to the plans file and
                                     handed over with the hidden flag --smoke-reference

Each submission's own samples folder or checkpoint is looked up inside it (grader/generative/handed_in.py);
one that lacks it scores 0 on the metric items ("M generative metrics" in the gradebook) and keeps the rest.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from grader.api import prepare_plans
from grader.errors import GraderError
from grader.generative.grading import GenerativeOptions
from grader.generative.grading import prepare as prepare_generative
from grader.plans import save_plans
from grader.reference import DEFAULT_SOLUTION, REPO_ROOT
from grader.results import item_scores_from_results, results_status, write_atomically
from grader.rubric import DEFAULT_RUBRIC, load_rubric
from grader.untrusted import safe_text

if TYPE_CHECKING:
    from grader.cluster import ClusterOptions

GRADEBOOK = "gradebook.csv"
SUBMISSIONS = "submissions"  # OUT/submissions/<name>/: each submission's results.json and reports
MAX_CELL_CHARS = 500
SMOKE_REFERENCE = "smoke-reference.safetensors"  # in the private folder, beside the plans file
REJECTED = "The submission could not be graded:"  # how GradeReport.overall_output says it
PER_SUBMISSION_TIMEOUT_S = 3600  # wall-clock: only a machine in trouble gets near it
INCOMPLETE_EXIT = 3  # cli.INCOMPLETE: results were written, some items marked incomplete


STATUSES = ("graded", "incomplete", "rejected", "error")


@dataclass(frozen=True)
class BatchRow:
    name: str
    status: str  # one of STATUSES
    results: dict | None
    note: str = ""  # why (rejected, incomplete, error), or how long grading took

    @property
    def needs_regrading(self) -> bool:
        return self.status in ("incomplete", "error")

    def line(self) -> str:
        """The row as the batch's log prints it: 'alice: graded 130 (in 12 s)'."""
        total = "" if self.results is None else f" {float(self.results.get('score', 0)):g}"
        return safe_text(f"{self.name}: {self.status}{total}" + (f" ({self.note})" if self.note else ""), 2000)


def results_folder(out: Path, name: str) -> Path:
    """Where submission `name` of a batch writing to `out` gets its results.json and reports."""
    return Path(out) / SUBMISSIONS / name


def find_submissions(directory: Path) -> list[tuple[str, Path]]:
    """(name, path) of every hand-in in `directory`, sorted; names are unique.

    Every entry is one student's hand-in, whatever its kind: a folder, a .zip, a .ipynb (named without
    the suffix) or any other file, which `grade` then rejects with the reason, so that it still gets
    its gradebook row. Names starting with "." or "_" are skipped (.DS_Store, __MACOSX)."""
    if not directory.is_dir():
        raise GraderError(f"{directory} is not a folder of submissions")
    found: list[tuple[str, Path]] = []
    taken: set[str] = set()
    for path in sorted(directory.iterdir()):
        if path.name.startswith((".", "_")):
            continue
        name = path.stem if path.is_file() and path.suffix.lower() in (".zip", ".ipynb") else path.name
        if name in taken:
            name = path.name
        taken.add(name)
        found.append((name, path))
    if not found:
        raise GraderError(f"{directory} holds no hand-ins: put each student's folder, .zip or .ipynb in it")
    return found


def grade_batch(
    directory: Path,
    out: Path,
    *,
    jobs: int = 2,
    redo: bool = False,
    regrade_incomplete: bool = False,
    public_only: bool = False,
    rubric_path: Path = DEFAULT_RUBRIC,
    solution: Path = DEFAULT_SOLUTION,
    log: Callable[[str], None] = print,
    cluster: ClusterOptions | None = None,
    generative: GenerativeOptions | None = None,
) -> list[BatchRow]:
    """Grade every submission in `directory`; `cluster` runs each as a submitit (Slurm) job instead
    of a local process (grader/cluster.py); `generative` adds the generative metrics (see above)."""
    directory, out = Path(directory).resolve(), Path(out).resolve()  # the grading processes run elsewhere
    rubric_path = Path(rubric_path).resolve()
    generative = generative or GenerativeOptions()
    if jobs < 1:
        raise GraderError(f"--jobs must be at least 1, got {jobs}")
    if generative.samples is not None or generative.checkpoint is not None:
        raise GraderError("grade batch scores each submission's own samples: pass --samples-in REL or "
                          "--checkpoint-in REL (a path inside every submission), not --samples / --checkpoint")
    submissions = find_submissions(directory)
    rubric = load_rubric(rubric_path)
    prepared_generative = prepare_generative(rubric, generative, solution)  # the grader's own problems: now
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, BatchRow] = {}
    todo = []
    for name, path in submissions:
        earlier = None if redo else _read(results_folder(out, name) / "results.json")
        kept = None if earlier is None else _row_from_results(name, earlier, "kept from an earlier run")
        if kept is None or (regrade_incomplete and kept.needs_regrading):
            todo.append((name, path))
            continue
        rows[name] = kept
        hint = ("--regrade-incomplete grades it again" if kept.needs_regrading else "--redo grades it again")
        log(f"{kept.line()}; already graded: {hint}")
    if todo:
        # On a cluster the plans file must be on the folder the compute nodes share, still private (0700).
        private_parent = cluster.folder.expanduser() if cluster is not None else None
        if private_parent is not None:
            private_parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="grade-batch-", dir=private_parent) as private:
            plans_file = Path(private) / "plans.safetensors"
            save_plans(prepare_plans(rubric, public_only=public_only, solution=solution), plans_file)
            extra_args = _prepare_generative_once(generative, prepared_generative, Path(private), solution, log)
            if cluster is not None:
                from grader.cluster import grade_with_submitit

                graded = grade_with_submitit(
                    todo, _grade_in_subprocess,
                    lambda name, path: (name, path, results_folder(out, name), plans_file, public_only, rubric_path,
                                        extra_args),
                    replace(cluster, folder=private_parent / "logs"), rubric_path, jobs, log,
                    lambda name, note: BatchRow(name, "incomplete", None, note),
                )
                rows.update((row.name, row) for row in graded)
            else:

                def grade_one(entry: tuple[str, Path]) -> BatchRow:
                    name, path = entry
                    row = _grade_in_subprocess(name, path, results_folder(out, name), plans_file, public_only, rubric_path,
                                               extra_args)
                    log(row.line())
                    return row

                with ThreadPoolExecutor(max_workers=jobs) as pool:
                    for row in pool.map(grade_one, todo):
                        rows[row.name] = row
    ordered = [rows[name] for name, _ in submissions]
    scored, feedback = _generative_items(generative)
    write_gradebook(out / GRADEBOOK, ordered, [f"{item.number} {item.function}" for item in rubric.items] + scored, feedback)
    return ordered


def _generative_items(options: GenerativeOptions) -> tuple[list[str], list[str]]:
    """The gradebook's extra columns: (items with points, items of 0-point checks shown as 'k/n passed')."""
    scored, feedback = [], []
    if options.scores_samples:
        from grader.generative.samples import ITEM_FUNCTION, ITEM_NUMBER

        scored.append(f"{ITEM_NUMBER} {ITEM_FUNCTION}")
    if options.smoke:
        from grader.generative.smoke import ITEM_FUNCTION, ITEM_NUMBER

        feedback.append(f"{ITEM_NUMBER} {ITEM_FUNCTION}")
    return scored, feedback


def _prepare_generative_once(options: GenerativeOptions, prepared, private: Path, solution: Path,
                             log: Callable[[str], None]) -> tuple[str, ...]:
    """Compute once what every grading process would compute alike; return the flags that hand it over."""
    if prepared is None:
        return ()
    args: list[str] = []
    if options.scores_samples:
        from grader.generative.samples import warm_reference_caches

        started = time.monotonic()
        warm_reference_caches(prepared.dataset, prepared.reference)  # the grading processes read the caches
        log(f"FID statistics{' and real-data AFD' if prepared.dataset.afd else ''} of {prepared.reference.label} "
            f"ready ({time.monotonic() - started:.0f} s)")
        flag, rel = ("--samples-in", options.samples_in) if options.samples_in else ("--checkpoint-in", options.checkpoint_in)
        args += [flag, rel]
        if options.reference_data is not None:
            args += ["--reference-data", str(Path(options.reference_data).resolve())]
        if options.dataset is not None:
            args += ["--dataset", options.dataset]
        if options.num_samples is not None:
            args += ["--num-samples", str(options.num_samples)]
    if options.smoke:
        from grader.generative.smoke import save_reference_run

        started = time.monotonic()
        smoke_file = private / SMOKE_REFERENCE
        profile = save_reference_run(smoke_file, solution)
        log(f"reference smoke run ({profile.name}) ready ({time.monotonic() - started:.0f} s)")
        args += ["--smoke", "--smoke-reference", str(smoke_file), "--solution", str(Path(solution).resolve())]
    return tuple(args)


def _grade_in_subprocess(name: str, path: Path, out_dir: Path, plans_file: Path, public_only: bool, rubric_path: Path,
                         extra_args: tuple[str, ...] = ()) -> BatchRow:
    command = [sys.executable, "-m", "grader", str(path), "--out", str(out_dir), "--plans", str(plans_file),
               "--rubric", str(rubric_path), "--quiet", *extra_args]
    if public_only:
        command.append("--public-only")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    stale = out_dir / "results.json"
    if stale.exists():
        stale.unlink()  # --redo: never let an old file pass for a new result
    started = time.monotonic()
    try:
        finished = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                                  timeout=PER_SUBMISSION_TIMEOUT_S)
    except subprocess.TimeoutExpired:  # the student's time is bounded by the sandbox: this is the machine
        return BatchRow(name, "incomplete", None, f"grading took longer than {PER_SUBMISSION_TIMEOUT_S} s of "
                                                  "wall-clock time and was stopped (a very busy machine?)")
    results = _read(stale)
    if finished.returncode not in (0, INCOMPLETE_EXIT) or results is None:
        lines = (finished.stderr or finished.stdout or "").strip().splitlines()
        reason = lines[-1] if lines else f"exit status {finished.returncode}"
        return BatchRow(name, "error", None, reason)
    return _row_from_results(name, results, f"in {time.monotonic() - started:.0f} s")


def _row_from_results(name: str, results: dict, note: str) -> BatchRow:
    status = results_status(results)
    reason = next((line[len(REJECTED):].strip() for line in str(results.get("output", "")).splitlines()
                   if line.startswith(REJECTED)), None)
    if status == "rejected" or reason is not None:
        return BatchRow(name, "rejected", results, reason or "")
    if status == "incomplete":
        extra = results.get("extra_data") or {}
        items = ", ".join(str(i) for i in extra.get("incomplete_items") or [])
        return BatchRow(name, "incomplete", results, f"not graded: {items}; {note}")
    return BatchRow(name, "graded", results, note)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_gradebook(path: Path, rows: list[BatchRow], items: list[str], feedback_items: list[str] = ()) -> None:
    """One row per submission: a column per TODO item (its points; "M generative metrics" too when samples
    were scored), one per feedback item ("S training smoke run": "k/n passed", its checks earn no points),
    the total, the outcome (`status`, one of STATUSES) and its `note`. Written to a temporary file
    beside `path`, then moved over it: readers see the old gradebook or the new one, never half of one."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["submission", *items, *feedback_items, "total", "max", "status", "note"])
    for row in rows:
        if row.results is None:
            cells = [row.name, *([""] * (len(items) + len(feedback_items))), "", "", row.status, row.note]
        else:
            scores = item_scores_from_results(row.results)
            cells = [row.name, *(f"{scores[item][0]:g}" if item in scores else "" for item in items)]
            cells += [_passed_count(row.results, item) for item in feedback_items]
            out_of = sum(v[1] for v in scores.values())
            cells += [f"{float(row.results.get('score', 0)):g}", f"{out_of:g}", row.status, row.note]
        writer.writerow([spreadsheet_text(cell) for cell in cells])
    write_atomically(Path(path), buffer.getvalue())


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: object) -> str:
    """A gradebook cell that a spreadsheet shows as the text it is: one line, writable, bounded, and
    quoted with a leading ' when it would start a formula (OWASP's CSV injection advice). Numbers we
    wrote ourselves ("-0", say) are left alone."""
    text = " ".join(safe_text(value, MAX_CELL_CHARS).splitlines())
    if text.startswith(_FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and text.lower().lstrip("+-") not in ("inf", "infinity", "nan")


def _passed_count(results: dict, item: str) -> str:
    """'k/n passed' over the tests of `item` in a results.json ("" when it has none)."""
    statuses = []
    for test in results.get("tests", []):
        extra = test.get("extra_data") or {}
        if f"{extra.get('item', '?')} {extra.get('function', '?')}" == item:
            statuses.append(test.get("status"))
    return f"{statuses.count('passed')}/{len(statuses)} passed" if statuses else ""
