"""dist/handout.zip holds what a student needs and nothing the course keeps: no solution code, no hidden check.

Every test runs for every assignment profile (grader/rubric.py): the default profile's handout in the fast
tier, the others' in the slow one (each build regenerates its public checks' plans)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grader.instructor.handout import PUBLIC_CHECK_COMMAND
from grader.instructor.starter import BEGIN, END, profile_items, strip_solutions
from grader.rubric import DEFAULT_PROFILE, Rubric, load_profile, profile_names

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = ROOT / "solution"
MIN_LINE = 12  # shorter solution lines ("return x", "else:") are not evidence of anything
PROFILES = [name if name == DEFAULT_PROFILE else pytest.param(name, marks=pytest.mark.slow) for name in profile_names()]


def _zip_texts(archive: Path) -> dict[str, str]:
    with zipfile.ZipFile(archive) as zf:
        return {
            name: zf.read(name).decode("utf-8", "replace")
            for name in zf.namelist()
            if not name.endswith((".safetensors", ".png"))
        }


def _tree_texts(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text(encoding="utf-8")
            for p in folder.rglob("*.py") if "__pycache__" not in p.parts}


def solution_only_lines(rubric: Rubric | None = None) -> set[str]:
    """Stripped lines inside the solution's BEGIN/END SOLUTION blocks that the starter of the profile
    `rubric` (default: the default profile) does not also have: its TODO items' bodies, not the given code."""
    items = profile_items(rubric or load_profile())
    block_lines: set[str] = set()
    given_lines: set[str] = set()
    for path in (SOLUTION / "diffusion_hw").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        inside = False
        for line in text.splitlines():
            if BEGIN.match(line):
                inside = True
            elif END.match(line):
                inside = False
            elif inside:
                block_lines.add(line.strip())
        stubbed, _ = strip_solutions(text, path.relative_to(SOLUTION), items)
        given_lines.update(line.strip() for line in stubbed.splitlines())
    return {line for line in block_lines - given_lines if len(line) >= MIN_LINE and not line.startswith("#")}


def leaked_solution_lines(texts: dict[str, str], secret: set[str]) -> dict[str, list[str]]:
    leaks = {}
    for name, text in texts.items():
        found = sorted(secret & {line.strip() for line in text.splitlines()})
        if found or "BEGIN SOLUTION (TODO" in text:
            leaks[name] = found or ["a BEGIN SOLUTION marker"]
    return leaks


def hidden_check_words(rubric: Rubric | None = None) -> set[str]:
    """Every hidden check's id ("q_sample.draws_...") and name, from the profile `rubric` (default: the
    default profile, grader/rubric.toml); a name that is also one of its public checks' is not evidence."""
    rubric = rubric or load_profile()
    words = set()
    for check in rubric.checks():
        if not check.public:
            words.add(check.id)
            words.add(check.id.split(".", 1)[1])
    return words - {c.id.split(".", 1)[1] for c in rubric.checks(public_only=True)}


def mentions(texts: dict[str, str], words: set[str]) -> dict[str, list[str]]:
    found = {}
    for name, text in texts.items():
        hits = sorted(w for w in words if re.search(rf"(?<![\w.]){re.escape(w)}(?!\w)", text))
        if hits:
            found[name] = hits
    return found


@pytest.mark.parametrize("assignment", PROFILES)
def test_handout_holds_the_starter_grader_data_notebooks_and_readme(profile_handout, assignment):
    handout_zip = profile_handout(assignment)
    names = set(zipfile.ZipFile(handout_zip).namelist())
    for required in ("README.md", "requirements.txt", "prepare_data.py", "diffusion_hw/__init__.py",
                     "diffusion_hw/schedules.py", "grader/__main__.py", "grader/grading/probes.py",
                     "grader/grading/public_expected.safetensors", "grader/rubric.toml",
                     "diffusion_hw_data/__init__.py", "notebooks/run_in_colab.ipynb", "notebooks/run_in_kaggle.ipynb"):
        assert required in names, f"{required} is missing from the handout"
    assert not any(n.startswith(("solution/", "grader/instructor/", "grader/assignments/", "tests/")) for n in names)
    readme = zipfile.ZipFile(handout_zip).read("README.md").decode()
    assert PUBLIC_CHECK_COMMAND in readme and "submission.zip" in readme and "TODO" in readme


@pytest.mark.parametrize("assignment", PROFILES)
def test_handout_stubs_exactly_the_profiles_items_numbered_as_it_numbers_them(profile_handout, assignment):
    rubric = load_profile(assignment)
    texts = _zip_texts(profile_handout(assignment))
    stubs = {m for name, text in texts.items() if name.startswith("diffusion_hw/")
             for m in re.findall(r'raise NotImplementedError\("TODO ([\d.]+) ([\w.]+):', text)}
    # a class item's method (IdentityView.view) is numbered <item>.<n>
    items = {name.split(".")[0]: number.rsplit(".", 1)[0] if "." in name else number for number, name in stubs}
    assert items == profile_items(rubric)
    readme = texts["README.md"]
    assert readme.startswith(f"# {rubric.assignment.title}\n")
    for item in rubric.items:  # the README's TODO table: one row per stub (a class item: one per method)
        assert re.search(rf"\| {re.escape(item.number)}(\.\d+)? \| `{item.function}[`.]", readme), item.label
    assert "description" not in texts["grader/rubric.toml"]
    assert rubric.assignment.description not in "".join(texts.values())


@pytest.mark.parametrize("assignment", PROFILES)
def test_handout_holds_no_solution_code(profile_handout, assignment):
    handout_zip = profile_handout(assignment)
    secret = solution_only_lines(load_profile(assignment))
    assert len(secret) >= 20, "too few solution-only lines found: the detector itself is broken"
    assert leaked_solution_lines(_tree_texts(SOLUTION), secret), "the detector must flag solution/ itself"
    assert leaked_solution_lines(_zip_texts(handout_zip), secret) == {}


@pytest.mark.parametrize("assignment", PROFILES)
def test_handout_holds_no_hidden_check(profile_handout, assignment):
    handout_zip, rubric = profile_handout(assignment), load_profile(assignment)
    words = hidden_check_words(rubric)
    assert words, "the rubric has no hidden check"
    assert mentions(_tree_texts(ROOT / "grader" / "checks"), words), "the detector must flag the full grader"
    assert mentions(_zip_texts(handout_zip), words) == {}
    shipped = zipfile.ZipFile(handout_zip).read("grader/rubric.toml").decode()
    public = {c.id.split(".", 1)[1] for c in rubric.checks(public_only=True)}
    assert set(re.findall(r'check = "(\w+)"', shipped)) == public
    assert 'visibility = "hidden"' not in shipped


def _public_checks(folder: Path) -> tuple[dict, str]:
    """Run the README's command in an unpacked handout, as the student would (no repo on the path)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRADER_DEBUG")}
    where = subprocess.run([sys.executable, "-c", "import grader; print(grader.__file__)"], cwd=folder, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(folder.resolve()), f"the repo's grader was imported: {where}"
    command = PUBLIC_CHECK_COMMAND.split()[1:] + ["--out", "results/public"]
    done = subprocess.run([sys.executable, *command], cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads((folder / "results" / "public" / "results.json").read_text()), done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("assignment", profile_names())
def test_public_checks_run_from_the_handout_score_0_on_the_starter_and_full_with_the_solution(unpack, assignment):
    public_total = sum(c.points for c in load_profile(assignment).checks(public_only=True))
    folders = [unpack(f"student-starter-{assignment}", assignment=assignment),
               unpack(f"student-solved-{assignment}", with_solution=True, assignment=assignment)]
    with ThreadPoolExecutor(2) as pool:
        (starter, starter_out), (solved, solved_out) = pool.map(_public_checks, folders)
    assert starter["score"] == 0 and len(starter["tests"]) > 0, starter_out
    assert sum(t["max_score"] for t in starter["tests"]) == public_total
    assert all(t["visibility"] == "visible" for t in starter["tests"])
    assert solved["score"] == public_total, solved_out


def test_the_handout_grader_without_public_only_says_to_use_it(unpack):
    folder = unpack("student-no-flag")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRADER_DEBUG")}
    done = subprocess.run([sys.executable, "-m", "grader", "diffusion_hw"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--public-only" in done.stderr and "no reference solution" in done.stderr
