"""Docstrings and comments teach, and hold nothing that goes stale or means nothing to the reader.

Student-facing code (solution/ and starter/, what students read) names no course, university or
seed homework ("seed 000", "CS180"): provenance means nothing to a student. The grader's docstrings
and comments (every module of grader/, and the comments of its rubric files) hold no dates, no status
notes ("not measured yet") and no measured numbers: those belong in the README's measured table or in
`python3 tasks.py bench`'s output, where they are dated and re-measured.

Contract numbers (limits, thresholds, band edges, tolerances, shapes, defaults) stay. A measurement
is told apart by how it is written, not by its value:

    approximate or a range    "~10 ms", "about 5 images/s", "25-95 s", "~1 GB"
    tied to a machine         "on 2 CPU cores", "on a T4", "load average 8"
    a rate or a speed-up      "5 images/s", "~100x faster", "35 s -> 7 s"
    a quoted result           "82.05%" (two decimals), "87.2% / 82.1%" (a pair of results)
    a report                  "Measured on ...", "Measured:", "(..., measured)"

so "budget 60 s", "(15 min)", "the last 10% of steps" or "a false alarm < 0.2%" pass. Both sets of
rules also run on the student's code (a timing goes stale there too).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDENT_ROOTS = ("solution", "starter")
GRADER_PATTERNS = ("*.py", "*.toml")  # the grader's modules, and the comments of its rubric files

@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    advice: str


def _rule(name: str, alternatives: list[str], advice: str, flags: int = re.IGNORECASE) -> Rule:
    """A rule that flags a text when any of the regular expressions `alternatives` matches it."""
    return Rule(name, re.compile("|".join(f"(?:{a})" for a in alternatives), flags), advice)


_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_TIME_UNIT = r"(?:ms|s|secs?|seconds?|mins?|minutes?|h|hours?)\b"
_MEMORY_UNIT = r"(?:[KMGT]i?B)\b"
_YEAR = r"(?:19|20)\d\d\b"
_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
          r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)")
_HARDWARE = r"(?:T4|K80|P100|V100|A10G?|A100|H100|H200|L4|L40S?|RTX ?\d{4}|M[123](?: Pro| Max)?)"

PROVENANCE = [
    _rule("a seed homework", [r"\bseed ?\d{3}\b"],
          "name what the code does instead of the homework it came from"),
    _rule("a course code", [r"\b(?:CS|CSE|EECS|COMP) ?\d{2,3}[A-Z]?\b"],
          "drop the course: say what the code does, or cite the paper"),
    _rule("a university", [r"\b(?:NYCU|NCTU|SJTU|CMU|NTU|UCB|UIUC|Berkeley|Stanford|Tsinghua)\b",
                           r"\bMIT\b(?! [Ll]icen[cs]e)"],
          "drop the university: say what the code does, or cite the paper", flags=0),
    _rule("an earlier version of the homework",
          [r"\bas the original (?:homework|assignment|notebook)", r"\bthe original (?:homework|assignment)\b",
           r"\bthe course's published\b"],
          "say what the code does now, not where it came from"),
]

STUDENT_ONLY = [
    _rule("a course", [r"(?<!of )\bcourses?\b", r"\bsemester\b", rf"\b(?:fall|spring|summer|winter) {_YEAR}"],
          "a student knows their course: say what the code does"),
    _rule("another homework", [r"\b(?:homework|hw|assignment|lab|project) ?#?\d"],
          "refer to this homework's Parts and TODOs, not to other homeworks"),
]

STALE = [
    _rule("a date",
          [r"(?<![\w-])(?:19|20)\d\d-[01]\d-[0-3]\d(?![\w-])",  # 2026-12-01, not inception-2015-12-05.pt
           rf"\b{_MONTH}\.? (?:\d{{1,2}}(?:st|nd|rd|th)?,? )?{_YEAR}",  # December 2026, Dec. 1, 2026
           rf"\b\d{{1,2}} {_MONTH} {_YEAR}", rf"\bas of {_YEAR}"],
          "drop the date: git log dates the change, the README's measured table dates the numbers"),
    _rule("a status note",
          [r"\bnot (?:yet )?(?:measured|timed|calibrated) yet\b", r"\bnot measured yet\b",
           r"\bno GPU (?:where|so far|here|yet)\b", r"\bhas not been (?:measured|timed)\b",
           r"\bTODO:? (?:measure|time)\b"],
          "a status goes stale: file an issue, or record the number in the README's measured table"),
    _rule("a measurement report",  # "Measured on ...", "Measured:", "(..., measured)"; not "is measured"
          [r"(?<!is )(?<!are )(?<!is not )(?<!are not )\bmeasured(?=\s*[:()]|\s+(?:on|here|speed|by hand|with)\b)",
           r"^\s*measured\b", r",\s*measured\)"],
          "move the measured numbers to the README's measured table (or bench's output)"),
    _rule("an approximate or ranged quantity",
          [rf"(?:~|\b(?:about|around|roughly|approximately|takes|took|costs?) )\s?{_NUMBER} ?"
           rf"(?:{_TIME_UNIT}|{_MEMORY_UNIT}|%)",  # ~10 ms, about 0.6 GB, ~87%
           rf"{_NUMBER} ?- ?{_NUMBER} ?{_TIME_UNIT}",  # 25-95 s
           r"\babout (?:a|an|one) (?:second|minute|hour)\b"],
          "a timing or size measured on one machine goes stale: move it to the README's measured table"),
    _rule("a machine",
          [r"\bon (?:an? )?(?:idle |busy |loaded )?\d+[- ](?:CPU[- ])?cores?\b", rf"\bon an? {_HARDWARE}\b",
           r"\bload average \d"],
          "a number tied to a machine is a measurement: move it to the README's measured table"),
    _rule("a rate or speed-up",
          [rf"{_NUMBER} ?(?:images|samples|steps|calls|it|submissions)/(?:s|sec|second|min|minute|h|hour)\b",
           rf"~?{_NUMBER} ?x (?:faster|slower|cheaper|quicker)\b",
           rf"{_NUMBER} ?{_TIME_UNIT} ?(?:->|→) ?{_NUMBER}(?: ?{_TIME_UNIT})?"],  # 35 s -> 7 s
          "throughput and speed-ups are measurements: move them to the README's measured table or bench"),
    _rule("a quoted result", [r"\d+\.\d\d+ ?%", rf"{_NUMBER} ?% ?/ ?{_NUMBER} ?%"],  # 82.05%, 87.2% / 82.1%
          "a measured rate goes stale: move it to the README's measured table"),
]

STUDENT_RULES = PROVENANCE + STUDENT_ONLY + STALE
GRADER_RULES = PROVENANCE + STALE


@dataclass(frozen=True)
class Text:
    """One line of a docstring or one comment, with where it is."""

    path: str
    line: int
    kind: str  # "docstring" or "comment"
    text: str


def python_texts(path: Path) -> list[Text]:
    """Every line of every module, class and function docstring of `path`, and every comment."""
    source = path.read_text(encoding="utf-8")
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    texts = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) or not node.body:
            continue
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            for offset, line in enumerate(first.value.value.splitlines()):
                texts.append(Text(name, first.lineno + offset, "docstring", line))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            texts.append(Text(name, token.start[0], "comment", token.string))
    return texts


def toml_comments(path: Path) -> list[Text]:
    """Every comment of a TOML file (a '#' outside a quoted string, to the end of its line)."""
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    texts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        quote = None
        for index, char in enumerate(line):
            if quote:
                quote = None if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char == "#":
                texts.append(Text(name, number, "comment", line[index:]))
                break
    return texts


def violations(texts: list[Text], rules: list[Rule]) -> list[str]:
    """One line per text a rule flags: where, what was flagged, and what to do instead."""
    found = []
    for text in texts:
        for rule in rules:
            if match := rule.pattern.search(text.text):
                found.append(f"{text.path}:{text.line} ({text.kind}) {rule.name} {match.group(0).strip()!r}: "
                             f"{rule.advice}\n    {text.text.strip()}")
    return found


def _files(root: str, patterns: tuple[str, ...] = ("*.py",)) -> list[Path]:
    """The files under `root` (a folder or one file, relative to the repository) that match `patterns`."""
    top = ROOT / root
    if top.is_file():
        return [top]
    return sorted(p for pattern in patterns for p in top.rglob(pattern) if "__pycache__" not in p.parts)


def texts_of(paths: list[Path]) -> list[Text]:
    """The docstring lines and comments of Python files, the comments of TOML files (the rubrics)."""
    return [text for path in paths for text in (toml_comments(path) if path.suffix == ".toml" else python_texts(path))]


def _report(found: list[str]) -> str:
    return f"{len(found)} docstring or comment line(s) to fix:\n" + "\n".join(found)


# ------------------------------------------------------------------------------------ the tree


def test_student_docstrings_and_comments_name_no_course_or_seed_and_hold_no_measurement():
    files = [path for root in STUDENT_ROOTS for path in _files(root)]
    assert len(files) >= 10, f"expected the student package under {STUDENT_ROOTS}, found {len(files)} files"
    found = violations(texts_of(files), STUDENT_RULES)
    assert not found, _report(found)


def test_grader_docstrings_and_comments_hold_no_date_measurement_or_provenance():
    files = list(_files("grader", GRADER_PATTERNS))
    assert len(files) >= 30, f"expected the grader's modules and rubric.toml, found {len(files)}"
    found = violations(texts_of(files), GRADER_RULES)
    assert not found, _report(found)


# ------------------------------------------------------------------------------------ the rules


BAD_GRADER_LINES = [
    "Measured speed on 2 CPU cores: about 5 images/s; a GPU is ~100x faster.",
    "(scipy's `sqrtm` of a 2048 x 2048 matrix takes 25-95 s on 2 cores; the routes below take 0.3-7 s)",
    "AFD of a batch (N, 3, 64, 64) in [0, 1]; ~10 ms per image on a CPU.",
    "256 samples (DDIM 50 steps), FID. Not measured yet (no GPU where it was written):",
    "`grade calibrate digits` (2026-11-30): FID between two halves of the digits 13.05, KID 0.00058.",
    "the bands were calibrated in December 2026 on the real faces",
    "AFD of the real faces 82.05% (likelihood > 0.9)",
    "2,000 real faces                     87.2% / 82.1%",
    "Part 2 asks for the CLIP score of each reading, as seed 000's report did",
    "The course's published example sits in the medium-to-strong range.",
    "the student package imports plotting on first use: grading the solution 35 s -> 7 s",
    "(20-40 s for 2,000 faces on a CPU)",
    "Measured on 300 real faces upscaled to 128: the likelihoods are equal",
    "whatever Pillow is installed (same likelihoods, measured).",
    "Memory is limited relative to what the runtime already uses (~1 GB with torch).",
    "The defaults train for about an hour on a T4.",
    "CS180's \"scale 7\" is g = 7",
]

GOOD_GRADER_LINES = [
    "grade    grading one correct submission (all checks)     anchor: sandbox start + 1 call   budget 60 s",
    "# the grading subprocess itself stops at batch.PER_SUBMISSION_TIMEOUT_S (15 min)",
    "loss_falls      mean loss over the last 10% of steps <= max_loss_ratio x mean over the first 10%",
    "forward_process.png      q(x_t | x_0) at 0 / 25 / 50 / 75 / 99 % of T for 5 training images",
    "hence the 3-standard-error term (a false alarm < 0.2%)",
    "clean-fid downloads its network (`inception-2015-12-05.pt`) on first use",
    "FID <= at_most earns `points`; 1,000 samples; threshold 0.05; (B, C, H, W) float32",
    "the reference's own near-copy fraction is measured, cached and shown beside the samples'",
    "Only needed without schedstat, where sleeping is not measured: then a",
    "The row as the batch's log prints it: 'alice: graded 130 (in 12 s)'.",
    "(Heusel et al. 2017), the formula of clean-fid's `frechet_distance`; agree to 1e-6 relative",
    "timings against an anchor measured in the same run",
    "draw a tensor on the CPU while the model sits on a GPU",
]

BAD_STUDENT_LINES = [
    "Seed 003's forward-process figure: each image (row) noised to t = int(f T)",
    "dim: base width (seed 000's `channels = 64`)",
    "SDEdit (Meng et al. 2022; CS180 1.7): noise an image part of the way",
    "Typical guidance: 7 for DeepFloyd IF (CS 180 at Berkeley)",
    "The figure NYCU's version of the course asked for",
    "plot the loss as the original homework did",
    "like the interpolation of homework 4",
    "5 min of training, at 0.4 s per training step (about 14 min) on 2 CPU cores",
]

GOOD_STUDENT_LINES = [
    "x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps      (B, C, H, W) float32",
    "t_prev < 0 means the last step: return x_0 itself (eta = 0 makes DDIM deterministic)",
    "seed: seeds torch and the data order (None: not seeded).",
    "Part 2 (TODO 3.x): IdentityView / Rotate180View, fused_noise_estimate, classifier_free_guidance.",
    "view 1: classifier(x)            == a        chance 10 %",
    "DDIM (Song et al. 2021, eq. 12 and 16); of course eta = 1 is DDPM's variance",
]


def _flags(line: str, rules: list[Rule]) -> list[str]:
    return violations([Text("sample.py", 1, "docstring", line)], rules)


@pytest.mark.parametrize("line", BAD_GRADER_LINES)
def test_the_grader_rules_flag_a_measurement_date_status_or_provenance(line):
    assert _flags(line, GRADER_RULES), f"not flagged: {line!r}"


@pytest.mark.parametrize("line", GOOD_GRADER_LINES)
def test_the_grader_rules_pass_contract_numbers_and_plain_descriptions(line):
    assert not _flags(line, GRADER_RULES)


@pytest.mark.parametrize("line", BAD_STUDENT_LINES)
def test_the_student_rules_flag_provenance_and_measurements(line):
    assert _flags(line, STUDENT_RULES), f"not flagged: {line!r}"


@pytest.mark.parametrize("line", GOOD_STUDENT_LINES)
def test_the_student_rules_pass_formulas_shapes_edge_cases_and_hints(line):
    assert not _flags(line, STUDENT_RULES)


def test_a_bad_docstring_or_comment_anywhere_in_a_module_is_found_with_its_line(tmp_path):
    module = tmp_path / "module.py"
    module.write_text('"""Fine."""\n\n\nclass A:\n    """Fine too."""\n\n    def f(self):\n'
                      '        """Scores a batch.\n\n        Measured on 2 CPU cores: ~5 images/s.\n        """\n'
                      '        return 1  # 35 s -> 7 s since the fork server\n')
    found = violations(python_texts(module), GRADER_RULES)
    assert {entry.split(" ", 1)[0] for entry in found} == {f"{module}:10", f"{module}:12"}
    assert "(comment) a rate or speed-up '35 s -> 7 s'" in found[-1]


def test_a_toml_comment_is_read_but_a_hash_inside_a_string_is_not(tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('# calibrated 2026-12-01\nname = "a # 2026-12-01 in a string"\nmin = 1000  # seed 000 asks\n')
    found = violations(toml_comments(rubric), GRADER_RULES)
    assert [entry.split(" ", 1)[0] for entry in found] == [f"{rubric}:1", f"{rubric}:3"]
