"""`grade`: the command line over grader.api and grader.batch.

    grade SUBMISSION [--out DIR] [--public-only] [--quiet | --verbose]
    grade batch DIR --out OUT [--jobs N] [--redo] [--public-only]

SUBMISSION is a folder holding diffusion_hw/, a .zip of one, or `solution` / `starter` (resolved from
the repository root). Exit status: 0 whenever grading completed, whatever the score; 2 when the
grader could not run (bad path or arguments, broken rubric, no reference), with a one-line reason;
1 for a bug in the grader itself (GRADER_DEBUG=1 shows its traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn, Sequence

USAGE_ERROR = 2
INTERNAL_ERROR = 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _grade_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="grade",
        description="Grade a diffusion_hw submission in a sandbox; `grade batch DIR` grades a folder of them.",
        epilog="Exit status 0 whenever grading completed, whatever the score; 2 if the grader could not run.",
    )
    parser.add_argument("submission", help="a folder holding diffusion_hw/, a .zip of one, or 'solution' / 'starter'")
    parser.add_argument("--out", type=Path, help="write OUT/results.json (Gradescope format)")
    parser.add_argument("--public-only", action="store_true",
                        help="run only the public checks, against grader/public_expected.safetensors (no solution needed)")
    parser.add_argument("--quiet", action="store_true", help="print only the total")
    parser.add_argument("--verbose", action="store_true", help="print every failed check's feedback in full")
    parser.add_argument("--rubric", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--solution", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--plans", type=Path, help=argparse.SUPPRESS)  # prepared by `grade batch`
    return parser


def _batch_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grade batch", description="Grade every submission folder or .zip in DIR.")
    parser.add_argument("directory", type=Path, help="folder of submissions (each a folder or a .zip)")
    parser.add_argument("--out", type=Path, required=True, help="OUT/<name>/results.json per submission, OUT/gradebook.csv")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at the same time (default 2)")
    parser.add_argument("--redo", action="store_true", help="grade again those that already have results")
    parser.add_argument("--public-only", action="store_true", help="run only the public checks")
    parser.add_argument("--rubric", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--solution", type=Path, help=argparse.SUPPRESS)
    return parser


def _grade(args: argparse.Namespace) -> int:
    from rich.console import Console

    from grader.api import grade_submission
    from grader.reference import DEFAULT_SOLUTION
    from grader.report import render
    from grader.rubric import DEFAULT_RUBRIC

    report = grade_submission(
        args.submission, out=args.out, public_only=args.public_only, rubric_path=args.rubric or DEFAULT_RUBRIC,
        solution=args.solution or DEFAULT_SOLUTION, plans=args.plans,
    )
    if args.quiet:
        print(report.summary_line())
    else:
        render(report, Console(highlight=False), verbose=args.verbose)
    if args.out is not None and not args.quiet:
        print(f"results: {args.out / 'results.json'}")
    return 0


def _batch(args: argparse.Namespace) -> int:
    from grader.batch import GRADEBOOK, grade_batch
    from grader.reference import DEFAULT_SOLUTION
    from grader.rubric import DEFAULT_RUBRIC

    rows = grade_batch(
        args.directory, args.out, jobs=args.jobs, redo=args.redo, public_only=args.public_only,
        rubric_path=args.rubric or DEFAULT_RUBRIC, solution=args.solution or DEFAULT_SOLUTION,
        log=lambda line: print(line, flush=True),
    )
    failed = [row for row in rows if row.results is None]
    print(f"{len(rows) - len(failed)} of {len(rows)} submissions graded; gradebook: {args.out / GRADEBOOK}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from grader.errors import GraderError

    try:
        if argv[:1] == ["batch"]:
            return _batch(_batch_parser().parse_args(argv[1:]))
        return _grade(_grade_parser().parse_args(argv))
    except GraderError as exc:
        print(f"grade: {' '.join(str(exc).split())}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("grade: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in the grader: still one line unless asked for more
        if os.environ.get("GRADER_DEBUG"):
            raise
        print(f"grade: internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:500]} "
              "(set GRADER_DEBUG=1 for the traceback)", file=sys.stderr)
        return INTERNAL_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
