"""Gradescope's side: what `run_autograder` runs, and `python3 tasks.py gradescope`, which builds the zip.

Gradescope unpacks the autograder zip into /autograder/source, runs setup.sh once when it builds the
image, then, for every submission, runs /autograder/source/run_autograder, which must leave
/autograder/results/results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/).

    python -m grader.instructor.gradescope [--root /autograder]       grade ROOT/submission into ROOT/results
    python -m grader.instructor.gradescope build [ZIP] [--assignment NAME]   write dist/gradescope.zip

The zip grades one assignment profile (grader/rubric.py): its rubric is the zip's grader/rubric.toml
and its starter the zip's starter/diffusion_hw; the other profiles (grader/assignments/) stay out.

What students hand in (ROOT/submission) may be the folder holding diffusion_hw/, one .zip of it, or
one notebook with marked cells. Whatever happens, results.json is written: a submission that cannot
be graded scores 0 and says why, and a failure of the grader itself says so (and asks the student
to tell the course staff) rather than leaving Gradescope's generic error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT_ENV = "GRADESCOPE_ROOT"  # tests point this at a fake /autograder tree
DEFAULT_ROOT = Path("/autograder")
REPO_ROOT = Path(__file__).resolve().parents[2]
GRADESCOPE_ZIP = REPO_ROOT / "dist" / "gradescope.zip"

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission into /autograder/results.
set -uo pipefail
ROOT="${GRADESCOPE_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
cd "$ROOT/source"
exec "$PYTHON" -m grader.instructor.gradescope --root "$ROOT"
"""

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04 base).
set -euxo pipefail
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq software-properties-common bubblewrap
add-apt-repository -y ppa:deadsnakes/ppa
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11 python3.11-venv
python3.11 -m venv /autograder/venv
/autograder/venv/bin/pip install -q --upgrade pip
# CPU wheels of torch: Gradescope's graders have no GPU.
/autograder/venv/bin/pip install -q --extra-index-url https://download.pytorch.org/whl/cpu \\
    -r /autograder/source/requirements.txt
/autograder/venv/bin/pip install -q --no-deps -r /autograder/source/requirements-nodeps.txt
chmod +x /autograder/source/run_autograder
bash /autograder/source/lock_source.sh /autograder/source
"""

# Run by setup.sh last (and testable on its own, on a copy): see its comment.
LOCK_SOURCE_SH = """#!/usr/bin/env bash
# Make the autograder's files readable by root only: the grader (root) reads them, student code never.
# Student code runs as nobody (uid 65534). Where the container allows no namespaces, the sandbox cannot
# hide the host's files from it (the run says NOT CONFINED), and it could read whatever "others" may:
# the solution, the hidden checks, the rubric and the grading salt. What the sandbox needs readable (the
# submission, the probes, the fork server) it copies world-readable itself; /autograder/venv stays readable.
set -euo pipefail
SOURCE="${1:?usage: lock_source.sh /autograder/source}"
if [ "$(id -u)" -eq 0 ]; then
  chown -R 0:0 "$SOURCE"
fi
chmod -R go-rwx "$SOURCE"
"""

# requirements.txt lines the autograder needs (same ranges), not the instructors' tools.
GRADER_REQUIREMENTS = (
    "torch", "torchvision", "numpy", "scipy", "pillow", "matplotlib", "tqdm", "scikit-learn", "safetensors",
    "rich", "clean-fid",
)


def _root(argument: str | None) -> Path:
    return Path(argument or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def find_handed_in(submission_dir: Path) -> Path:
    """What to grade in Gradescope's submission folder: the folder itself when it holds diffusion_hw/
    or loose .py files (grader/intake/submission.py grades those over the starter), else its one .zip or its
    one .ipynb."""
    from grader.errors import SubmissionError
    from grader.intake.submission import find_package

    try:
        find_package(submission_dir)
        return submission_dir
    except SubmissionError as no_package:
        files = [p for p in sorted(submission_dir.iterdir()) if p.is_file()]
        for suffix in (".zip", ".ipynb"):
            found = [p for p in files if p.suffix.lower() == suffix]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise SubmissionError(f"the submission holds {len(found)} {suffix} files "
                                      f"({', '.join(p.name for p in found[:4])}): hand in exactly one") from None
        if any(p.suffix.lower() == ".py" for p in files):  # TODO files dragged in loose: graded over the starter
            return submission_dir
        raise no_package


def _failure_results(message: str, started: float) -> dict:
    from grader.grading.untrusted import safe_text  # the message may quote a file name the student chose

    return {"score": 0, "execution_time": round(time.monotonic() - started, 3), "output": safe_text(message),
            "tests": [], "visibility": "visible", "stdout_visibility": "hidden"}


def _write_json(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


STAFF_ENTRY = "Staff only: the full report"
PROVISIONAL = ("This result is provisional: the grading machine could not confine the code, so the course "
               "staff will confirm the score.")
STAFF_PROVISIONAL = ("PROVISIONAL, not a final score: the sandbox could not confine student code on this machine "
                     "(the Sandbox line below says why), so it could read what others may read there. Regrade this "
                     "submission where the sandbox confines it (bubblewrap installed, namespaces allowed) before "
                     "publishing; setup.sh's lock_source.sh keeps the solution and hidden checks unreadable meanwhile.")


def student_view(results: dict) -> dict:
    """results.json as students may see it before grades are published.

    Gradescope shows the top-level `output` to students at once, so it is rebuilt from the visible
    checks only (their points per item, their sum); the hidden checks keep their own visibility, and
    everything else the full output held (hidden totals, the sandbox's description, informational
    notes for staff) moves into one entry that only staff ever see. A run that was not confined says
    so, to staff in that entry and to students as "provisional"."""
    full = str(results.get("output", ""))
    tests = [dict(test) for test in results.get("tests", [])]
    visible = [test for test in tests if test.get("visibility") == "visible"]
    lines = [line for line in full.splitlines()
             if line.startswith(("INCOMPLETE", "The submission could not be graded:", "The package does not import:",
                                 "Hand-in:"))]
    items: dict[str, tuple[float, float]] = {}
    for test in visible:
        extra = test.get("extra_data") or {}
        label = f"{extra.get('item', '?')} {extra.get('function', '?')}"
        got, out_of = items.get(label, (0.0, 0.0))
        items[label] = (got + float(test.get("score", 0)), out_of + float(test.get("max_score", 0)))
    got = sum(v[0] for v in items.values())
    out_of = sum(v[1] for v in items.values())
    header = f"Visible checks: {got:g} / {out_of:g}"
    if len(visible) < len(tests):
        header += " (the hidden checks are graded too; their results appear when grades are published)"
    body = [f"  {label}: {a:g} / {b:g}" for label, (a, b) in items.items()]
    unconfined = "NOT CONFINED" in full
    student_lines = [header, *lines, *body] + ([PROVISIONAL] if unconfined else [])
    tests.append({"name": STAFF_ENTRY, "score": 0, "max_score": 0, "status": "passed",
                  "output": f"{STAFF_PROVISIONAL}\n{full}" if unconfined else full, "visibility": "hidden",
                  "tags": ["staff", "provisional"] if unconfined else ["staff"], "extra_data": {"staff": True}})
    extra = dict(results.get("extra_data") or {})
    if unconfined:
        extra["provisional"] = True
    return dict(results, output="\n".join(student_lines), tests=tests, extra_data=extra, visibility="visible",
                stdout_visibility="hidden")


def run_autograder(root: Path) -> dict:
    """Grade root/submission; write root/results/results.json (and the reports beside it); return it."""
    from grader.api import grade_submission
    from grader.errors import SubmissionError

    started = time.monotonic()
    results_dir = root / "results"
    try:
        handed_in = find_handed_in(root / "submission")
    except (SubmissionError, OSError) as exc:
        results = _failure_results(f"The submission could not be graded: {exc}", started)
        _write_json(results_dir / "results.json", results)
        return results
    try:
        grade_submission(handed_in, out=results_dir)  # also writes report.md and report.html
        results = student_view(json.loads((results_dir / "results.json").read_text(encoding="utf-8")))
        _write_json(results_dir / "results.json", results)
        return results
    except Exception as exc:  # GraderError or a bug: never leave Gradescope without a results.json
        traceback.print_exc()
        results = _failure_results(
            f"The autograder itself failed ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}). "
            "This is not your fault: tell the course staff.", started)
        _write_json(results_dir / "results.json", results)
        return results


def profile_rubric_text(rubric) -> str:
    """The profile's rubric file as the zip's grader/rubric.toml: unchanged, but naming itself in
    [assignment] (outside grader/assignments/ its file name no longer does), and with the checks its
    items reuse from other profiles (checks_as) written out, since the zip holds no other profile."""
    import tomllib

    from grader.rubric import resolved_rubric_text

    text = resolved_rubric_text(Path(rubric.path))
    if rubric.name is None or "name" in tomllib.loads(text).get("assignment", {}):
        return text
    return re.sub(r"^\[assignment\][ \t]*\n", f'[assignment]\nname = "{rubric.name}"\n', text, count=1, flags=re.M)


def build_gradescope_zip(archive: Path = GRADESCOPE_ZIP, root: Path = REPO_ROOT, assignment: str | None = None) -> Path:
    """dist/gradescope.zip: setup.sh and run_autograder at the top, the full grader, the reference
    solution (hidden checks need it), the starter (notebook submissions need it), data/ (as
    diffusion_hw_data/) and requirements, for the assignment profile `assignment` (None: the default).

    The grading salt of this machine (grader/grading/salt.py) goes in as grader/grading-salt: every container
    Gradescope starts then draws the same cases, so a regrade gives the same score, and they are not
    the handout's. Rebuild the zip after rotating the salt."""
    from grader.grading.salt import SALT_FILE, grading_salt
    from grader.instructor.handout import DATA_PACKAGE, write_zip
    from grader.instructor.starter import generate_starter
    from grader.rubric import ASSIGNMENTS_DIR, load_profile

    rubric = load_profile(assignment)
    with tempfile.TemporaryDirectory(prefix="gradescope-") as scratch:
        staged = Path(scratch) / "source"
        staged.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
        shutil.copytree(root / "grader", staged / "grader",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ASSIGNMENTS_DIR.name))
        (staged / "grader" / "rubric.toml").write_text(profile_rubric_text(rubric), encoding="utf-8")
        salt = grading_salt(root / "grader" / "rubric.toml")
        (staged / "grader" / SALT_FILE).write_text(salt + "\n", encoding="utf-8")
        shutil.copytree(root / "data", staged / DATA_PACKAGE, ignore=ignore)
        shutil.copytree(root / "solution", staged / "solution", ignore=ignore)
        generate_starter(root / "solution", staged / "starter", rubric)
        keep = []
        for line in (root / "requirements.txt").read_text(encoding="utf-8").splitlines():
            name = line.strip().split(">", 1)[0].split("=", 1)[0].split("<", 1)[0].split(" ", 1)[0].lower()
            if name in GRADER_REQUIREMENTS:
                keep.append(line.split("#", 1)[0].strip())
        (staged / "requirements.txt").write_text("\n".join(keep) + "\n", encoding="utf-8")
        shutil.copy2(root / "requirements-nodeps.txt", staged / "requirements-nodeps.txt")
        scripts = (("run_autograder", RUN_AUTOGRADER), ("setup.sh", SETUP_SH), ("lock_source.sh", LOCK_SOURCE_SH))
        for name, text in scripts:
            (staged / name).write_text(text, encoding="utf-8")
            (staged / name).chmod(0o755)
        return write_zip(staged, archive)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["build"]:
        from grader.errors import GraderError

        build = argparse.ArgumentParser(prog="gradescope build", description="write the Gradescope autograder zip")
        build.add_argument("archive", nargs="?", type=Path, default=GRADESCOPE_ZIP)
        build.add_argument("--assignment", help="an assignment profile (default: the default one)")
        options = build.parse_args(argv[1:])
        try:
            written = build_gradescope_zip(options.archive, assignment=options.assignment)
        except GraderError as exc:
            print(f"gradescope: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2
        print(f"wrote {written} ({written.stat().st_size // 1024} kB)")
        return 0
    parser = argparse.ArgumentParser(prog="run_autograder", description=__doc__.splitlines()[0])
    parser.add_argument("--root", help=f"the autograder tree (default: ${ROOT_ENV} or /autograder)")
    args = parser.parse_args(argv)
    results = run_autograder(_root(args.root))
    print(f"score {results['score']:g}; results in {_root(args.root) / 'results' / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
