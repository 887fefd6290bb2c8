"""What students can read (probes.py, the checks, the public plan file) holds no solution code."""

from __future__ import annotations

import re
from pathlib import Path

from grader.instructor.starter import BEGIN, END

ROOT = Path(__file__).resolve().parents[2]


def solution_lines() -> set[str]:
    """Every non-trivial line of code inside a BEGIN/END SOLUTION block, whitespace-normalised."""
    lines: set[str] = set()
    for path in (ROOT / "solution" / "diffusion_hw").glob("*.py"):
        inside = False
        for line in path.read_text().splitlines():
            if BEGIN.match(line):
                inside = True
            elif END.match(line):
                inside = False
            elif inside:
                code = " ".join(line.split())
                if len(code) > 25 and not code.startswith("#"):
                    lines.add(code)
    return lines


def test_no_solution_line_appears_in_the_grader():
    answers = solution_lines()
    assert len(answers) > 10
    grader = ROOT / "grader"
    student_side = [p for p in grader.rglob("*.py") if "instructor" not in p.relative_to(grader).parts]
    for path in student_side:
        source = {" ".join(line.split()) for line in path.read_text().splitlines()}
        leaked = answers & source
        assert not leaked, f"{path.relative_to(ROOT)} contains solution code: {sorted(leaked)[:3]}"


def test_probes_import_nothing_but_torch_and_the_standard_library():
    source = (ROOT / "grader" / "grading" / "probes.py").read_text()
    imports = set(re.findall(r"^(?:from|import) ([\w.]+)", source, flags=re.M))
    assert imports <= {"__future__", "contextlib", "sys", "typing", "torch"}, imports
