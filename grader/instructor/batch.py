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

Each grading process runs in a session of its own and writes what it prints (its report, warnings,
errors) to OUT/submissions/<name>/grading.log. Ctrl-C (SIGINT) reaches only the batch, which then:

    first Ctrl-C    starts no new grading, and says which are still running and which will wait
    second Ctrl-C   stops the running ones (SIGINT to each grading process, which closes its sandboxes
                    and removes its temporary folders; SIGKILL if it has not stopped STOP_GRACE_S later)

and then writes the gradebook with every hand-in's row: those not graded are "incomplete" with a note
saying to run the same command again, which grades just them (kept results are reused, never lost).
The gradebook is also rewritten after every finished grading, so a batch killed outright leaves one.

Student ids: the gradebook's `student_id` is the hand-in's name, or, with a roster CSV (columns id,
name, email; optional canvas_id and section), the id of the roster row the hand-in matches (`match_roster`
says how); hand-ins that match no row are named in the log and left without an id. OUT/canvas.csv is
the same scores in Canvas's gradebook import format (`write_canvas_csv`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable

from grader.api import prepare_plans
from grader.errors import GraderError
from grader.generative.grading import GenerativeOptions
from grader.generative.grading import prepare as prepare_generative
from grader.grading.plans import save_plans
from grader.grading.reference import DEFAULT_SOLUTION, REPO_ROOT
from grader.grading.untrusted import safe_text
from grader.output.results import item_scores_from_results, results_status, write_atomically
from grader.rubric import DEFAULT_RUBRIC, load_rubric

if TYPE_CHECKING:
    from grader.instructor.cluster import ClusterOptions

GRADEBOOK = "gradebook.csv"
CANVAS_CSV = "canvas.csv"  # the same scores in Canvas's gradebook import format
GRADING_LOG = "grading.log"  # in OUT/submissions/<name>/: what that submission's grading process printed
DEFAULT_ASSIGNMENT = "Diffusion homework"  # Canvas's column: "Name (ID)" updates assignment ID, "Name" creates one
STOP_GRACE_S = 60.0  # after the second Ctrl-C: how long a grading process may take to close its sandboxes
POLL_S = 0.1
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


class BatchInterrupted(Exception):
    """Ctrl-C stopped the batch; the gradebook was written with `rows` (those not graded are incomplete)."""

    def __init__(self, rows: list[BatchRow]):
        super().__init__("interrupted")
        self.rows = rows


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
    roster: Path | None = None,
    assignment: str = DEFAULT_ASSIGNMENT,
) -> list[BatchRow]:
    """Grade every submission in `directory`; `cluster` runs each as a submitit (Slurm) job instead
    of a local process (grader/instructor/cluster.py); `generative` adds the generative metrics (see above);
    `roster` gives the student ids, `assignment` names Canvas's column. Ctrl-C: BatchInterrupted,
    after the gradebook is written."""
    directory, out = Path(directory).resolve(), Path(out).resolve()  # the grading processes run elsewhere
    rubric_path = Path(rubric_path).resolve()
    generative = generative or GenerativeOptions()
    if jobs < 1:
        raise GraderError(f"--jobs must be at least 1, got {jobs}")
    if generative.samples is not None or generative.checkpoint is not None:
        raise GraderError("grade batch scores each submission's own samples: pass --samples-in REL or "
                          "--checkpoint-in REL (a path inside every submission), not --samples / --checkpoint")
    submissions = find_submissions(directory)
    students = load_roster(roster) if roster is not None else None
    rubric = load_rubric(rubric_path)
    prepared_generative = prepare_generative(rubric, generative, solution)  # the grader's own problems: now
    out.mkdir(parents=True, exist_ok=True)
    names = [name for name, _ in submissions]
    matched = _report_roster(names, students, log) if students is not None else None
    scored, feedback = _generative_items(generative)
    items = [f"{item.number} {item.function}" for item in rubric.items] + scored
    rows: dict[str, BatchRow] = {}

    def write_books() -> list[BatchRow]:
        ordered = [rows.get(name) or BatchRow(name, "incomplete", None, NOT_GRADED_YET) for name in names]
        write_gradebook(out / GRADEBOOK, ordered, items, feedback, students=matched)
        write_canvas_csv(out / CANVAS_CSV, ordered, assignment, matched)
        return ordered

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
    try:
        if todo:
            _grade_todo(todo, out, jobs, public_only, rubric, rubric_path, solution, generative, prepared_generative,
                        cluster, rows, write_books, log)
    except (KeyboardInterrupt, BatchInterrupted):  # KeyboardInterrupt: before the local gradings (or on a cluster)
        raise BatchInterrupted(write_books()) from None
    if students is not None:
        _report_roster(names, students, log)  # again at the end, where the instructor looks
    return write_books()


INTERRUPTED = "not graded: the batch was interrupted (Ctrl-C); run the same command again to grade it"
STOPPED = "stopped by Ctrl-C before it finished: run the same command again to grade it"
INTERRUPTED_NOTES = (INTERRUPTED, STOPPED)
NOT_GRADED_YET = "not graded yet: run the same command again to grade it (results kept are reused)"


def _grade_todo(todo, out, jobs, public_only, rubric, rubric_path, solution, generative, prepared_generative, cluster,
                rows: dict[str, BatchRow], write_books: Callable[[], list[BatchRow]], log) -> None:
    """Grade `todo` into `rows`, calling write_books() after each; BatchInterrupted after Ctrl-C."""
    # On a cluster the plans file must be on the folder the compute nodes share, still private (0700).
    private_parent = cluster.folder.expanduser() if cluster is not None else None
    if private_parent is not None:
        private_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grade-batch-", dir=private_parent) as private:
        plans_file = Path(private) / "plans.safetensors"
        save_plans(prepare_plans(rubric, public_only=public_only, solution=solution), plans_file)
        extra_args = _prepare_generative_once(generative, prepared_generative, Path(private), solution, log)
        if cluster is not None:
            from grader.instructor.cluster import grade_with_submitit

            graded = grade_with_submitit(
                todo, _grade_in_subprocess,
                lambda name, path: (name, path, results_folder(out, name), plans_file, public_only, rubric_path,
                                    extra_args),
                replace(cluster, folder=private_parent / "logs"), rubric_path, jobs, log,
                lambda name, note: BatchRow(name, "incomplete", None, note),
            )
            rows.update((row.name, row) for row in graded)
            return
        commands = {name: _grading_command(path, results_folder(out, name), plans_file, public_only, rubric_path,
                                           extra_args) for name, path in todo}
        _run_locally(commands, out, jobs, rows, write_books, log)


@dataclass
class _Grading:
    """One grading process of a local batch, in a session of its own (Ctrl-C in the terminal reaches
    only the batch), writing what it prints to its folder's grading.log."""

    name: str
    out_dir: Path
    process: subprocess.Popen
    started: float
    stop_sent: float | None = None
    note: str = ""  # set when the batch stopped it

    @classmethod
    def start(cls, name: str, command: list[str], out_dir: Path) -> "_Grading":
        out_dir.mkdir(parents=True, exist_ok=True)
        stale = out_dir / "results.json"
        if stale.exists():
            stale.unlink()  # --redo, or a stopped grading: never let an old file pass for a new result
        python_path = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env = dict(os.environ, PYTHONPATH=python_path)
        with open(out_dir / GRADING_LOG, "w", encoding="utf-8", errors="backslashreplace") as header:
            header.write(f"grade batch: {name}, started {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
                         f"$ {subprocess.list2cmdline(command)}\n")
        with open(out_dir / GRADING_LOG, "ab") as sink:  # O_APPEND: the process and we both append
            process = start_grading_process(command, log_file=sink, env=env)
        return cls(name, out_dir, process, time.monotonic())

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def stop(self, note: str) -> None:
        """Ask the process to stop as after Ctrl-C: its sandboxes close and its temporary folders go."""
        self.note = note
        self.stop_sent = time.monotonic()
        self._signal(signal.SIGINT)

    def kill(self, note: str) -> None:
        self.note = self.note or note
        self._signal(signal.SIGKILL)

    def _signal(self, number: int) -> None:
        if self.process.poll() is None:  # not reaped: its group id cannot have been reused
            try:
                os.killpg(self.process.pid, number)
            except OSError:
                pass

    def finish(self) -> BatchRow:
        """The row, once the process has exited (the trailer goes into grading.log)."""
        code = self.process.wait()
        seconds = self.seconds()
        with open(self.out_dir / GRADING_LOG, "a", encoding="utf-8", errors="backslashreplace") as trailer:
            note = f" ({self.note})" if self.note else ""
            trailer.write(f"grade batch: exit status {code} after {seconds:.0f} s{note}\n")
        return _row_after(self.name, self.out_dir, code, seconds, self.note)


def start_grading_process(command: list[str], log_file: BinaryIO, env: dict[str, str]) -> subprocess.Popen:
    """Start `python -m grader ...` for one submission: in a session of its own (so the terminal's Ctrl-C
    reaches only the batch), writing everything it prints to `log_file`. (Tests replace this one seam.)"""
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                            cwd=REPO_ROOT, start_new_session=True)


def _grading_command(path: Path, out_dir: Path, plans_file: Path, public_only: bool, rubric_path: Path,
                     extra_args: tuple[str, ...] = ()) -> list[str]:
    command = [sys.executable, "-m", "grader", str(path), "--out", str(out_dir), "--plans", str(plans_file),
               "--rubric", str(rubric_path), "--verbose", *extra_args]
    if public_only:
        command.append("--public-only")
    return command


def _row_after(name: str, out_dir: Path, code: int, seconds: float, note: str = "") -> BatchRow:
    results = _read(out_dir / "results.json")
    if code in (0, INCOMPLETE_EXIT) and results is not None:
        return _row_from_results(name, results, f"in {seconds:.0f} s")
    if note:
        return BatchRow(name, "incomplete", None, note)
    return BatchRow(name, "error", None, _reason_from_log(out_dir / GRADING_LOG, code))


def _reason_from_log(log_file: Path, code: int) -> str:
    """The grading process's one-line reason ("grade: ..."), else its last line, else its exit status."""
    try:
        lines = [line.strip() for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines()[2:]]
    except OSError:
        lines = []
    lines = [line for line in lines if line]
    reason = next((line for line in reversed(lines) if line.startswith("grade:")), lines[-1] if lines else "")
    return f"{reason or f'exit status {code}'} (see {GRADING_LOG})"


def _run_locally(commands: dict[str, list[str]], out: Path, jobs: int, rows: dict[str, BatchRow],
                 write_books: Callable[[], list[BatchRow]], log: Callable[[str], None]) -> None:
    """Run the grading processes, `jobs` at a time, handling Ctrl-C as the module says."""
    pending = deque(commands)
    running: dict[str, _Grading] = {}
    interrupts = [0]
    handled = 0

    def on_sigint(_signum, _frame) -> None:
        interrupts[0] += 1

    in_main_thread = threading.current_thread() is threading.main_thread()  # where Python runs signal handlers
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # started with nohup or as a background job
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main_thread and not ignored else None
    try:
        while pending or running:
            if interrupts[0] > handled:
                handled = interrupts[0]
                _on_interrupt(handled, pending, running, rows, log)
            while pending and len(running) < jobs and not handled:
                name = pending.popleft()
                running[name] = _Grading.start(name, commands[name], results_folder(out, name))
            for name, grading in list(running.items()):
                if grading.process.poll() is None:
                    if grading.stop_sent is not None and time.monotonic() - grading.stop_sent > STOP_GRACE_S:
                        grading.kill(grading.note)
                    elif grading.seconds() > PER_SUBMISSION_TIMEOUT_S and grading.stop_sent is None:
                        grading.kill(f"grading took longer than {PER_SUBMISSION_TIMEOUT_S} s of wall-clock time and "
                                     "was stopped (a very busy machine?)")
                    continue
                row = running.pop(name).finish()
                rows[name] = row
                log(row.line())
                write_books()
            time.sleep(POLL_S)
    finally:
        for grading in running.values():  # only on an error of our own: leave nothing running
            grading.kill("the batch itself failed")
            grading.process.wait()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if handled and any(rows[name].note.startswith(INTERRUPTED_NOTES) for name in commands):
        raise BatchInterrupted([])  # Ctrl-C left some ungraded (if the running ones simply finished, nothing was)


def _on_interrupt(count: int, pending: deque, running: dict[str, _Grading], rows: dict[str, BatchRow],
                  log: Callable[[str], None]) -> None:
    if count == 1:
        waiting = list(pending)
        pending.clear()
        for name in waiting:
            rows[name] = BatchRow(name, "incomplete", None, INTERRUPTED)
        later = f"; {len(waiting)} not started ({_names(waiting)}) are left for the next run" if waiting else ""
        if running:
            now = ", ".join(f"{name} (for {grading.seconds():.0f} s)" for name, grading in running.items())
            log(f"Ctrl-C: no new grading starts{later}. Waiting for the {len(running)} running: {now}. "
                "Press Ctrl-C again to stop them now (they are graded again next run).")
        else:
            log(f"Ctrl-C: no new grading starts{later}.")
    elif count == 2:
        log(f"Ctrl-C again: stopping {_names(list(running))} (their sandboxes are closed; "
            f"SIGKILL after {STOP_GRACE_S:.0f} s); the gradebook follows.")
        for grading in running.values():
            grading.stop(STOPPED)
    else:
        log(f"Ctrl-C a third time: killing {_names(list(running))} now.")
        for grading in running.values():
            grading.kill(STOPPED)


def _names(names: list[str], shown: int = 8) -> str:
    text = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
    return safe_text(text, 2000)


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
    if options.data_root is not None:  # where named datasets live, for every grading process
        args += ["--data-root", str(Path(options.data_root).resolve())]
    if options.scores_samples:
        from grader.generative.samples import warm_reference_caches

        started = time.monotonic()
        warm_reference_caches(prepared.dataset, prepared.reference)  # the grading processes read the caches
        log(f"FID statistics{' and real-data AFD' if prepared.dataset.afd else ''} of {prepared.reference.label} "
            f"ready ({time.monotonic() - started:.0f} s)")
        if options.samples_in:
            flag, rel = "--samples-in", options.samples_in
        else:
            flag, rel = "--checkpoint-in", options.checkpoint_in
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
        profile = save_reference_run(smoke_file, solution, prepared.smoke_profile, data_root=options.data_root)
        log(f"reference smoke run ({profile.name}) ready ({time.monotonic() - started:.0f} s)")
        args += ["--smoke", "--smoke-reference", str(smoke_file), "--solution", str(Path(solution).resolve())]
    return tuple(args)


def _grade_in_subprocess(name: str, path: Path, out_dir: Path, plans_file: Path, public_only: bool, rubric_path: Path,
                         extra_args: tuple[str, ...] = ()) -> BatchRow:
    """Grade one submission to its end (what a cluster job runs): the same process, log and row as a local batch's."""
    command = _grading_command(path, out_dir, plans_file, public_only, rubric_path, extra_args)
    grading = _Grading.start(name, command, out_dir)
    try:
        grading.process.wait(timeout=PER_SUBMISSION_TIMEOUT_S)
    except subprocess.TimeoutExpired:  # the student's time is bounded by the sandbox: this is the machine
        grading.kill(f"grading took longer than {PER_SUBMISSION_TIMEOUT_S} s of wall-clock time and was stopped "
                     "(a very busy machine?)")
    return grading.finish()


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


def write_gradebook(path: Path, rows: list[BatchRow], items: list[str], feedback_items: list[str] = (),
                    students: dict[str, Student | None] | None = None) -> None:
    """One row per submission: its `student_id` (the hand-in's name; with a roster, the matched row's id,
    and its name and email in two more columns), a column per TODO item (its points; "M generative
    metrics" too when samples were scored), one per feedback item ("S training smoke run": "k/n passed",
    its checks earn no points), the total, the outcome (`status`, one of STATUSES) and its `note`.
    Written to a temporary file beside `path`, then moved over it: readers see the old gradebook or the
    new one, never half of one."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    who = ["student_id"] if students is None else ["student_id", "student_name", "email"]
    writer.writerow(["submission", *who, *items, *feedback_items, "total", "max", "status", "note"])
    for row in rows:
        if students is None:
            identity = [row.name]
        else:
            student = students.get(row.name)
            identity = ["", "", ""] if student is None else [student.id, student.name, student.email]
        if row.results is None:
            cells = [row.name, *identity, *([""] * (len(items) + len(feedback_items))), "", "", row.status, row.note]
        else:
            scores = item_scores_from_results(row.results)
            cells = [row.name, *identity, *(f"{scores[item][0]:g}" if item in scores else "" for item in items)]
            cells += [_passed_count(row.results, item) for item in feedback_items]
            out_of = sum(v[1] for v in scores.values())
            cells += [f"{float(row.results.get('score', 0)):g}", f"{out_of:g}", row.status, row.note]
        writer.writerow([spreadsheet_text(cell) for cell in cells])
    write_atomically(Path(path), buffer.getvalue())


CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def write_canvas_csv(path: Path, rows: list[BatchRow], assignment: str = DEFAULT_ASSIGNMENT,
                     students: dict[str, Student | None] | None = None) -> None:
    """The scores as Canvas imports them (Grades > Import): the columns Student, ID, SIS User ID, SIS
    Login ID, Section, then one assignment column whose header is "Name (ID)" to update assignment ID,
    or just "Name" to create a new assignment. Canvas matches each row to a student by ID, SIS User ID
    or SIS Login ID, so:

      * with a roster, a row per matched hand-in: Student = name, ID = canvas_id (if the roster has
        it), SIS User ID = id, SIS Login ID = email, Section = section; unmatched hand-ins are left out
        (the log names them: Canvas could not place them);
      * without one, a row per hand-in with Student and SIS User ID = the hand-in's name, which works
        when hand-ins are named by SIS user id.

    Only final scores are exported: a hand-in whose grading is incomplete or failed (status incomplete
    or error) has an empty cell, which Canvas leaves unchanged; rejected ones score 0 as in the gradebook."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow([*CANVAS_COLUMNS, assignment])
    for row in rows:
        if students is None:
            identity = [row.name, "", row.name, "", ""]
        else:
            student = students.get(row.name)
            if student is None:
                continue
            identity = [student.name, student.canvas_id, student.id, student.email, student.section]
        final = row.results is not None and row.status in ("graded", "rejected")
        score = f"{float(row.results.get('score', 0)):g}" if final else ""
        writer.writerow([spreadsheet_text(cell) for cell in [*identity, score]])
    write_atomically(Path(path), buffer.getvalue())


@dataclass(frozen=True)
class Student:
    """A roster row: id (the student id an LMS knows, e.g. Canvas's SIS User ID), name, email; optional
    canvas_id (Canvas's own numeric user ID) and section."""

    id: str
    name: str
    email: str
    canvas_id: str = ""
    section: str = ""


ROSTER_COLUMNS = ("id", "name", "email")


def load_roster(path: Path) -> list[Student]:
    """The roster CSV: a header row with the columns id, name and email (any order, any case; other
    columns, such as canvas_id and section, are kept when known, ignored otherwise), then one row per student."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
            missing = [column for column in ROSTER_COLUMNS if column not in header]
            if missing:
                raise GraderError(f"the roster {path} has no column {', '.join(missing)}: its first row must name the "
                                  f"columns {', '.join(ROSTER_COLUMNS)} (optional: canvas_id, section)")
            students = []
            for number, record in enumerate(reader, start=2):
                cell = {key: " ".join(str(record.get(original) or "").split()) for key, original in header.items()}
                if not any(cell.values()):
                    continue
                if not cell["id"]:
                    raise GraderError(f"row {number} of the roster {path} has no id: give every student one")
                students.append(Student(cell["id"], cell["name"], cell["email"], cell.get("canvas_id", ""),
                                        cell.get("section", "")))
    except OSError as exc:
        raise GraderError(f"the roster {path} cannot be read ({exc.strerror or exc}): pass a CSV file") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise GraderError(
            f"the roster {path} is not a UTF-8 CSV file ({type(exc).__name__}): save it as CSV UTF-8"
        ) from None
    seen: set[str] = set()
    for student in students:
        if student.id in seen:
            raise GraderError(f"the roster {path} lists id {student.id} twice: keep one row per student")
        seen.add(student.id)
    if not students:
        raise GraderError(f"the roster {path} lists no student: one row per student after the header")
    return students


def _key(text: str) -> str:
    return " ".join(text.replace("_", " ").replace(".", " ").split()).casefold()


def match_roster(names: list[str], students: list[Student]) -> tuple[dict[str, Student | None], list[str]]:
    """hand-in name -> its roster row (None when none), and a line per problem found.

    A hand-in matches a row when its name, compared without case and with _ . and runs of spaces
    alike, is the row's id, name, email or the email's part before the @, or, as Gradescope names
    exports ("First Last_123"), when the part after its last _ is the id or the part before it the
    name; failing that, the same for its name up to the first . (a file's suffixes: "gus.tar.gz").
    A hand-in that would match two rows, or a row matched by two hand-ins, is left unmatched (an id
    given to the wrong student is worse than none)."""
    keys: dict[str, set[int]] = {}
    for index, student in enumerate(students):
        local = student.email.split("@", 1)[0] if "@" in student.email else ""
        for value in (student.id, student.name, student.email, local):
            if value:
                keys.setdefault(_key(value), set()).add(index)
    def rows_for(text: str) -> set[int]:
        candidates = set(keys.get(_key(text), set()))
        if not candidates and "_" in text:
            before, after = text.rsplit("_", 1)
            candidates = {i for i in keys.get(_key(after), set()) if _key(students[i].id) == _key(after)}
            candidates = candidates or {
                i for i in keys.get(_key(before), set()) if _key(students[i].name) == _key(before)
            }
        return candidates

    found: dict[str, set[int]] = {}
    for name in names:  # a file's name is tried without its suffixes too ("gus.tar.gz": gus)
        found[name] = rows_for(name) or (rows_for(name.split(".", 1)[0]) if "." in name.lstrip(".") else set())
    problems: list[str] = []
    claimed: dict[int, list[str]] = {}
    for name, candidates in found.items():
        if len(candidates) == 1:
            claimed.setdefault(next(iter(candidates)), []).append(name)
        elif len(candidates) > 1:
            ids = ", ".join(sorted(students[i].id for i in candidates))
            problems.append(f"hand-in {name} matches several roster rows (ids {ids}): rename it to one student's id")
    matched: dict[str, Student | None] = {name: None for name in names}
    for index, claimants in claimed.items():
        if len(claimants) > 1:
            problems.append(f"roster id {students[index].id} is matched by {len(claimants)} hand-ins "
                            f"({', '.join(claimants)}): keep one hand-in per student")
            continue
        matched[claimants[0]] = students[index]
    return matched, problems


def _report_roster(names: list[str], students: list[Student], log: Callable[[str], None]) -> dict[str, Student | None]:
    matched, problems = match_roster(names, students)
    unmatched = [name for name in names if matched[name] is None]
    for line in problems:
        log(f"roster: {line}")
    if unmatched:
        log(f"roster: {len(unmatched)} hand-in(s) match no roster row, so they have no student_id and are left out "
            f"of {CANVAS_CSV}: {_names(unmatched, 50)} "
            "(rename each to its student's id, or add the student to the roster)")
    taken = {student.id for student in matched.values() if student is not None}
    absent = [student.id for student in students if student.id not in taken]
    if absent:
        log(f"roster: {len(absent)} student(s) on the roster have no hand-in: {_names(absent, 50)}")
    return matched


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
