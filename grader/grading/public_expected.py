"""grader/grading/public_expected.safetensors: the public checks' inputs and reference outputs, precomputed.

Students have no solution/, yet `grade --public-only` must compare their code against the reference.
So the instructors' side writes the public checks' plans (inputs, params and the reference's outputs)
into this file, which ships with the grader; `grade --public-only` replays it and never imports a
reference. It holds reference *outputs* for the public inputs only, never code.

Rebuild after changing the solution, a public check, or the rubric's public/hidden split:

    python3 -m grader.grading.public_expected

tests/grading/test_public_expected.py fails while the committed file is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

PUBLIC_EXPECTED = Path(__file__).resolve().parent / "public_expected.safetensors"


def build_public_expected(path: Path = PUBLIC_EXPECTED, solution: Path | None = None) -> Path:
    """Write the public checks' plans, with the reference's outputs, to `path`."""
    from grader.grading.plans import build_plans, save_plans
    from grader.grading.reference import DEFAULT_SOLUTION, LiveReference
    from grader.rubric import load_rubric

    rubric = load_rubric()
    plans = build_plans(rubric.checks(public_only=True), LiveReference(solution or DEFAULT_SOLUTION))
    note = "public checks of grader/rubric.toml; rebuild with `python3 -m grader.grading.public_expected`"
    save_plans(plans, Path(path), note=note)
    Path(path).chmod(0o644)  # package data: readable by whoever runs the grader
    return Path(path)


def main() -> int:
    from grader.errors import GraderError

    try:
        written = build_public_expected()
    except GraderError as exc:
        print(f"public_expected: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written} ({written.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
