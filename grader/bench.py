"""`python3 -m grader.bench grade`: how long grading one correct submission takes, against an anchor.

The anchor, measured in the same run, is the fixed cost every grading pays: starting the sandbox
(its fork server imports torch) and one trivial call. The ratio says how much the checks themselves
add, whatever the machine's speed or load; the budget for one correct submission is 60 s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from grader.reference import DEFAULT_SOLUTION
from grader.session import DEFAULT_LIMITS, PROBES_FILE


def bench_grade() -> None:
    from grader.api import grade_submission
    from grader.sandbox import Sandbox

    started = time.monotonic()
    with Sandbox(DEFAULT_SOLUTION, limits=DEFAULT_LIMITS, probes_module=PROBES_FILE) as sandbox:
        sandbox.call("beta_schedule", {}, {"schedule": "linear", "cases": [{"T": 10}]})
    anchor = time.monotonic() - started

    started = time.monotonic()
    report = grade_submission(Path("solution"))
    graded = time.monotonic() - started
    print(f"anchor  sandbox start + 1 call          {anchor:6.1f} s")
    print(f"grade   solution ({report.score:g} / {report.max_score:g}), all checks  {graded:6.1f} s"
          f"  = {graded / anchor:.1f} x anchor  (budget 60 s: {'ok' if graded <= 60 else 'OVER'})")


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "grade"
    if what != "grade":
        print(f"bench: unknown benchmark {what!r}; available: grade", file=sys.stderr)
        return 2
    bench_grade()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
