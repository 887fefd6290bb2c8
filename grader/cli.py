"""`grade`: the command line over grader.api and grader.instructor.batch.

    grade SUBMISSION [--out DIR] [--public-only] [--quiet | --verbose] [--assignment NAME]
          [--samples DIR | --checkpoint model.pt | --samples-in REL | --checkpoint-in REL]
          [--reference-data DIR] [--data-root DIR] [--dataset NAME] [--num-samples N] [--smoke]
    grade calibrate DATASET [--data-root DIR] [--out FILE] [--limit N] [--no-smoke]  (numbers to set the bands from)
    grade assignments                                   (the assignment profiles, one name per line, default first)
    grade batch DIR --out OUT [--jobs N] [--redo | --regrade-incomplete] [--public-only]
          [--executor submitit [--cluster slurm|local] ...]
          [--roster roster.csv] [--assignment NAME] [--canvas-assignment "Name (ID)"]
          [--samples-in REL | --checkpoint-in REL] [--reference-data DIR] [--data-root DIR] [--dataset NAME]
          [--num-samples N] [--smoke]

--samples-in REL / --checkpoint-in REL: the samples folder / checkpoint each submission hands in, at REL
relative to the folder that holds its diffusion_hw/ (inside a .zip too); one that lacks it scores 0 on
the metrics, with a message saying what to hand in (grader/generative/handed_in.py).

SUBMISSION is a folder holding diffusion_hw/, a .zip of one, a notebook with marked cells
(grader/intake/notebook.py), or `solution` / `starter` (resolved from the repository root; with
--assignment, `starter` is that profile's starter).

--assignment NAME grades with an assignment profile's rubric (grader/rubric.py; `grade assignments`
lists them, the default first; without it, the default profile grader/rubric.toml), and completes a
notebook or loose TODO files from that profile's starter. `grade batch --assignment` takes a profile
name too; any other text there is canvas.csv's assignment column, as before there were profiles
(--canvas-assignment says that explicitly).

Exit status: 0 whenever grading completed, whatever the score; 3 when it completed except for items
the grading machine failed to grade (results say INCOMPLETE and why: grade again; `grade batch
--regrade-incomplete` does that for a class); 2 when the grader could not run (bad path or arguments,
broken rubric, no reference), with a one-line reason; 1 for a bug in the grader itself
(GRADER_DEBUG=1 shows its traceback); 130 after Ctrl-C (`grade batch` writes its gradebook first, and
running the same command again grades what was left).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import NoReturn, Sequence

USAGE_ERROR = 2
INTERNAL_ERROR = 1
INCOMPLETE = 3  # graded, but some items not: the grading machine failed; grade again
INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _grade_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="grade",
        usage="grade SUBMISSION [options]\n       grade batch DIR --out OUT [options]\n"
              "       grade calibrate DATASET [options]\n       grade assignments",
        description="Grade a diffusion_hw submission in a sandbox. Other commands: `grade batch DIR --out OUT` grades "
                    "a whole class into a gradebook (and a Canvas import file); `grade calibrate DATASET` prints the "
                    "numbers to set the metric bands from (each has its own --help); `grade assignments` lists the "
                    "assignment profiles.",
        epilog="Exit status 0 whenever grading completed, whatever the score; 3 if some items could not be "
               "graded because the grading machine failed (grade again); 2 if the grader could not run; "
               "130 after Ctrl-C.",
    )
    parser.add_argument("submission", help="a folder holding diffusion_hw/ (or loose TODO files), a .zip of one, "
                                           "a .ipynb, or 'solution' / 'starter'")
    parser.add_argument("--out", type=Path, help="write OUT/results.json (Gradescope format)")
    parser.add_argument("--public-only", action="store_true",
                        help="run only the public checks, against grader/grading/public_expected.safetensors "
                             "(no solution needed)")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the total (stdout); a hand-in that was rejected or does not import also "
                             "gets its one-line reason on stderr")
    parser.add_argument("--verbose", action="store_true", help="print every failed check's feedback in full")
    parser.add_argument("--assignment", metavar="NAME",
                        help="grade with this assignment profile's rubric (`grade assignments` lists them; "
                             "default: the default profile, grader/rubric.toml)")
    parser.add_argument("--rubric", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--solution", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--plans", type=Path, help=argparse.SUPPRESS)  # prepared by `grade batch`
    parser.add_argument("--smoke-reference", type=Path, help=argparse.SUPPRESS)  # likewise: the reference's smoke run
    metrics = parser.add_argument_group(
        "generative metrics (grader/generative/; points from the rubric's [metrics] bands)"
    )
    metrics.add_argument("--samples", type=Path, help="score a folder of generated images: FID, KID, AFD, memorisation")
    metrics.add_argument("--checkpoint", type=Path,
                         help="regenerate samples from a Trainer checkpoint in the sandbox (fixed seed), "
                              "then score them")
    _add_generative_arguments(metrics)
    return parser


def _add_generative_arguments(group) -> None:
    """The generative options `grade` and `grade batch` share (grader/generative/grading.py)."""
    group.add_argument("--samples-in", metavar="REL",
                       help="score the samples folder each submission hands in at REL, relative to the folder "
                            "holding its diffusion_hw/ (e.g. samples)")
    group.add_argument("--checkpoint-in", metavar="REL",
                       help="regenerate and score samples from the checkpoint each submission hands in at REL "
                            "(e.g. model-final.pt)")
    group.add_argument("--num-samples", type=int,
                       help="samples to regenerate from a checkpoint (default: the dataset's min_samples)")
    group.add_argument("--reference-data", type=Path,
                       help="folder of real images to compare with (default: the rubric's)")
    group.add_argument("--data-root", type=Path, metavar="DIR",
                       help="the folder named datasets (the rubric's references, the smoke run's data) live in "
                            "(default: $DIFFUSION_HW_DATA, else the rubric's data_root, "
                            "else ~/.cache/diffusion-hw/data)")
    group.add_argument("--dataset", help="a [[metrics.dataset]] of the rubric (default: its default_dataset)")
    group.add_argument("--smoke", action="store_true",
                       help="train the given U-Net briefly with the submission's code and compare with the "
                            "reference's run")


def _generative_options(args: argparse.Namespace):
    from grader.generative.grading import GenerativeOptions

    return GenerativeOptions(
        samples=getattr(args, "samples", None), checkpoint=getattr(args, "checkpoint", None), smoke=args.smoke,
        reference_data=args.reference_data, data_root=args.data_root, dataset=args.dataset,
        num_samples=args.num_samples,
        samples_in=args.samples_in, checkpoint_in=args.checkpoint_in,
        smoke_reference=getattr(args, "smoke_reference", None),
    )


def _batch_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grade batch",
                     description="Grade every hand-in in DIR into OUT/gradebook.csv and OUT/canvas.csv. "
                     "Ctrl-C once: no new grading starts; twice: the running ones stop; the gradebook is written "
                     "either way, and the same command again grades what is left.")
    parser.add_argument("directory", type=Path,
                        help="folder of hand-ins: each a folder, a .zip or a .ipynb "
                             "(any other file gets a row saying why it was not graded)")
    parser.add_argument("--out", type=Path, required=True,
                        help="OUT/submissions/<name>/ per hand-in (results.json, reports, grading.log), "
                             "OUT/gradebook.csv, OUT/canvas.csv")
    parser.add_argument("--roster", type=Path,
                        help="CSV with columns id, name, email (optional canvas_id, section): the gradebook's "
                             "student ids, matched to hand-ins by name or id")
    parser.add_argument("--assignment", default=None, metavar="NAME",
                        help="grade with this assignment profile (`grade assignments`); any other text is taken as "
                             "--canvas-assignment")
    parser.add_argument("--canvas-assignment", default=None,
                        help="canvas.csv's assignment column: 'Name (ID)' updates Canvas assignment ID, 'Name' "
                             "creates one (default 'Diffusion homework')")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at the same time (default 2)")
    parser.add_argument("--redo", action="store_true", help="grade again those that already have results")
    parser.add_argument("--regrade-incomplete", action="store_true",
                        help="grade again only those whose grading the machine could not complete "
                             "(status incomplete or error)")
    parser.add_argument("--public-only", action="store_true", help="run only the public checks")
    parser.add_argument("--executor", choices=("processes", "submitit"), default="processes",
                        help="processes: N local processes (default); submitit: one cluster job per submission")
    cluster = parser.add_argument_group("--executor submitit (resources default to rubric.toml's [resources])")
    cluster.add_argument("--cluster", choices=("slurm", "local", "debug"), default="slurm",
                         help="submitit's executor: slurm (default), or local/debug to try it without Slurm")
    cluster.add_argument("--submitit-folder", type=Path, default=None,
                         help="private folder on a file system the nodes share "
                              "(default ~/.cache/diffusion-hw/submitit)")
    cluster.add_argument("--partition", help="Slurm partition")
    cluster.add_argument("--gpus", dest="gpus_per_node", type=int, help="GPUs per job")
    cluster.add_argument("--cpus", dest="cpus_per_task", type=int, help="CPUs per job")
    cluster.add_argument("--mem-gb", dest="mem_gb", type=float, help="memory per job, GB")
    cluster.add_argument("--timeout-min", dest="timeout_min", type=float, help="time limit per job, minutes")
    _add_generative_arguments(parser.add_argument_group(
        "generative metrics, per submission (the reference data and the smoke run's reference are prepared once)"))
    parser.add_argument("--rubric", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--solution", type=Path, help=argparse.SUPPRESS)
    return parser


def _cluster_options(args: argparse.Namespace):
    if args.executor != "submitit":
        return None
    from grader.instructor.cluster import DEFAULT_FOLDER, ClusterOptions

    flags = {k: getattr(args, k) for k in ("partition", "gpus_per_node", "cpus_per_task", "mem_gb", "timeout_min")}
    return ClusterOptions(args.cluster, (args.submitit_folder or DEFAULT_FOLDER).expanduser(),
                          {k: v for k, v in flags.items() if v is not None})


def _grade(args: argparse.Namespace) -> int:
    from rich.console import Console

    from grader.api import grade_submission
    from grader.grading.reference import DEFAULT_SOLUTION
    from grader.output.terminal import render
    from grader.rubric import profile_path

    generative = _generative_options(args)  # grading.prepare checks them: at most one source of samples
    report = grade_submission(
        args.submission, out=args.out, public_only=args.public_only, rubric_path=_rubric_path(args, profile_path),
        solution=args.solution or DEFAULT_SOLUTION, plans=args.plans, generative=generative,
    )
    if args.quiet:
        print(report.summary_line())
        for reason in _why_nothing_was_graded(report):
            print(reason, file=sys.stderr)
    else:
        render(report, Console(highlight=False), verbose=args.verbose)
    if args.out is not None and not args.quiet:
        print(f"results: {args.out / 'results.json'}")
    if report.incomplete:
        if args.quiet:
            print(report.incomplete_line(), file=sys.stderr)
        return INCOMPLETE
    return 0


def _rubric_path(args: argparse.Namespace, profile_path) -> Path:
    """--rubric (a file), else --assignment's profile, else the default profile's grader/rubric.toml."""
    if args.rubric is not None and args.assignment is not None:
        from grader.errors import GraderError

        raise GraderError("--rubric and --assignment both choose the rubric: give one of them")
    return args.rubric or profile_path(args.assignment)


def _assignments() -> int:
    """`grade assignments`: every profile's name, one per line, the default first."""
    from grader.rubric import profile_names

    for name in profile_names():
        print(name)
    return 0


def _why_nothing_was_graded(report) -> list[str]:
    """The lines `--quiet` adds to stderr, so that a total of 0 never stands without its cause: why the
    hand-in was rejected (not a zip, no diffusion_hw/, ...) and why the package does not import, each
    on one line ([] for a submission that was graded)."""
    lines = []
    if report.rejected:
        lines.append(f"The submission could not be graded: {' '.join(report.rejected.split())}")
    if report.import_failure:
        lines.append(" ".join(report.import_failure_line().split()))
    return lines


def _batch(args: argparse.Namespace) -> int:
    from grader.grading.reference import DEFAULT_SOLUTION
    from grader.instructor.batch import (
        CANVAS_CSV,
        DEFAULT_ASSIGNMENT,
        GRADEBOOK,
        STATUSES,
        BatchInterrupted,
        grade_batch,
    )
    from grader.rubric import profile_names, profile_path

    canvas_assignment = args.canvas_assignment
    if args.assignment is not None and args.assignment not in profile_names():
        # not a profile: canvas.csv's assignment column, as --assignment meant before there were profiles
        canvas_assignment, args.assignment = canvas_assignment or args.assignment, None
    started = time.monotonic()
    try:
        rows = grade_batch(
            args.directory, args.out, jobs=args.jobs, redo=args.redo, regrade_incomplete=args.regrade_incomplete,
            public_only=args.public_only,
            rubric_path=_rubric_path(args, profile_path), solution=args.solution or DEFAULT_SOLUTION,
            log=lambda line: print(line, flush=True), cluster=_cluster_options(args),
            generative=_generative_options(args),
            roster=args.roster, assignment=canvas_assignment or DEFAULT_ASSIGNMENT,
        )
        interrupted = False
    except BatchInterrupted as stopped:
        rows, interrupted = stopped.rows, True
    counts = {status: sum(row.status == status for row in rows) for status in STATUSES}
    done = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    print(f"{len(rows)} submissions: {done or 'none'}, in {time.monotonic() - started:.0f} s "
          f"(--jobs {args.jobs}); gradebook: {args.out / GRADEBOOK}, for Canvas: {args.out / CANVAS_CSV}", flush=True)
    if interrupted:
        print("grade batch: interrupted; run the same command again to grade the hand-ins not graded "
              "(the results kept are reused)", file=sys.stderr)
        return INTERRUPTED
    if counts["incomplete"] or counts["error"]:
        print("grade batch: some gradings did not complete; run the same command with --regrade-incomplete",
              file=sys.stderr)
        return INCOMPLETE
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from grader.errors import GraderError

    try:
        if argv[:1] in (["batch"], ["calibrate"]) and not (Path(__file__).parent / "instructor").is_dir():
            raise GraderError(f"`grade {argv[0]}` is an instructor tool and is not part of the students' handout: "
                              "run it from the course repository (grade a single submission with `grade PATH`)")
        if argv[:1] == ["batch"]:
            return _batch(_batch_parser().parse_args(argv[1:]))
        if argv[:1] == ["calibrate"]:
            from grader.instructor.calibrate import calibrate_command

            return calibrate_command(argv[1:], _Parser)
        if argv == ["assignments"] and not Path(argv[0]).exists():  # a hand-in folder of that name is graded
            return _assignments()
        return _grade(_grade_parser().parse_args(argv))
    except GraderError as exc:
        print(f"grade: {' '.join(str(exc).split())}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("grade: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:  # a bug in the grader: still one line unless asked for more
        if os.environ.get("GRADER_DEBUG"):
            raise
        print(f"grade: internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:500]} "
              "(set GRADER_DEBUG=1 for the traceback)", file=sys.stderr)
        return INTERNAL_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
