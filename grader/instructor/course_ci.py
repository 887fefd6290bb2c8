"""`python3 tasks.py ci-gpu`: grade the reference solution fully and fail unless it earns full marks.

"Fully" includes the training smoke run (`grade --smoke`), whose four checks must pass although they
earn no points: on a GPU runner that is the GPU profile (the named dataset anime-faces-64, 64 x 64 faces,
FID; grader/generative/smoke.py), and its time is in the results. The faces are looked up under the data
root: `--data-root DIR`, else $DIFFUSION_HW_DATA (the GPU workflow and .ci/run point it at the course
data beside the checkout when it is unset), else ~/.cache/diffusion-hw/data (data/root.py). `--no-smoke`
leaves it out (a runner without that data set).

The course's GPU workflow (.github/workflows/gpu.yml, on a `[self-hosted, gpu]` runner) runs this,
and so can anyone by hand on a GPU machine. It refuses to run without CUDA unless told
`--allow-cpu`, so that a mislabelled runner cannot pass the GPU job on its CPU.

    python -m grader.instructor.course_ci [--out results/ci-gpu] [--allow-cpu] [--no-smoke] [--data-root DIR]
                                          [--assignment NAME]        (grade with that profile's rubric)
    python -m grader.instructor.course_ci --check results/solution/results.json     (only judge a results.json)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def full_marks_failures(results: dict) -> list[str]:
    """Why `results` (a results.json) is not full marks; [] when it is."""
    tests = results.get("tests") or []
    if not tests:
        return ["no checks ran"]
    failures = [f"{t.get('name', '?')}: {t.get('score', 0):g} / {t.get('max_score', 0):g}: "
                f"{str(t.get('output', ''))[:300]}"
                for t in tests if t.get("status") != "passed" or t.get("score") != t.get("max_score")]
    out_of = sum(float(t.get("max_score", 0)) for t in tests)
    if not failures and abs(float(results.get("score", -1)) - out_of) > 1e-9:
        failures.append(f"the total {results.get('score')} is not the checks' {out_of:g}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ci-gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/ci-gpu"))
    parser.add_argument("--allow-cpu", action="store_true", help="run even where CUDA is not available")
    parser.add_argument("--no-smoke", dest="smoke", action="store_false",
                        help="leave out the training smoke run (on a GPU it needs the dataset anime-faces-64 "
                             "under the data root)")
    parser.add_argument("--data-root", type=Path, metavar="DIR",
                        help="the folder named datasets live in (default: $DIFFUSION_HW_DATA, else "
                             "~/.cache/diffusion-hw/data)")
    parser.add_argument("--assignment", metavar="NAME",
                        help="grade with this assignment profile's rubric (default: the default profile)")
    parser.add_argument("--check", type=Path, metavar="RESULTS_JSON",
                        help="grade nothing: fail unless this file is full marks")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.check is not None:
        try:
            results = json.loads(args.check.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"ci: cannot read {args.check} ({type(exc).__name__}: {exc}): did grading write it?", file=sys.stderr)
            return 2
        return _report_failures(results, args.check)

    import torch

    from grader.api import grade_submission
    from grader.errors import GraderError
    from grader.generative.grading import GenerativeOptions
    from grader.grading.reference import DEFAULT_SOLUTION
    from grader.rubric import profile_path

    if not torch.cuda.is_available() and not args.allow_cpu:
        print("ci-gpu: CUDA is not available on this machine: run it on a GPU runner (or pass --allow-cpu)",
              file=sys.stderr)
        return 2
    try:
        generative = GenerativeOptions(smoke=args.smoke, data_root=args.data_root)
        grade_submission(DEFAULT_SOLUTION, out=args.out, generative=generative,
                         rubric_path=profile_path(args.assignment))
    except GraderError as exc:
        print(f"ci: the grader could not run: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    results_file = args.out / "results.json"
    return _report_failures(json.loads(results_file.read_text(encoding="utf-8")), results_file)


def _report_failures(results: dict, path: Path) -> int:
    failures = full_marks_failures(results)
    out_of = sum(float(t.get("max_score", 0)) for t in results.get("tests") or [])
    print(f"ci: {path}: {float(results.get('score', 0)):g} / {out_of:g}" + (" (full marks)" if not failures else ""))
    for failure in failures:
        print(f"  not full marks: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
