"""The grader's Python API; grader/cli.py is a thin layer over it.

    from grader.api import grade_submission
    report = grade_submission("submissions/alice.zip", out=Path("results/alice"))
    print(report.score, report.max_score)

Reference outputs come from solution/diffusion_hw (imported here as `diffusion_hw_reference`), or,
for `public_only`, from grader/grading/public_expected.safetensors, so students can run the public checks
without the solution. `plans` (a file from `save_plans`) replays a prepared plan instead; the batch
command uses it to build the reference side once for all submissions.

The instructor's plans are drawn under the grading salt (grader/grading/salt.py), never from the handout's
fixed cases: those serve students' self-checks (`public_only`) only.

`rubric_path` may be an assignment profile's (grader/rubric.py: `profile_path(name)`); its starter
(starter/<name>/ in the course repository) is then what `starter` grades and what a notebook or loose
TODO files are completed from.
"""

from __future__ import annotations

import time
from pathlib import Path

from grader.checks._cases import salted
from grader.errors import GraderError, SubmissionError
from grader.generative.grading import GenerativeOptions
from grader.generative.grading import prepare as prepare_generative
from grader.grading.plans import CheckPlan, build_plans, load_plans
from grader.grading.public_expected import PUBLIC_EXPECTED
from grader.grading.reference import DEFAULT_SOLUTION, LiveReference
from grader.grading.salt import grading_salt
from grader.grading.session import DEFAULT_LIMITS, Progress, run_session
from grader.intake.submission import REPO_ROOT, open_submission, resolve_path, submission_name
from grader.metrics.clip_score import clip_score_line
from grader.output.results import CheckResult, GradeReport
from grader.rubric import DEFAULT_RUBRIC, Rubric, RubricCheck, load_rubric
from grader.sandbox import Limits


def prepare_plans(
    rubric: Rubric, *, public_only: bool = False, solution: Path = DEFAULT_SOLUTION, plans: Path | None = None,
    salt: str | None = None,
) -> dict[str, CheckPlan]:
    """The plan of every selected check: from `plans`, the public file, or the live reference.

    The live reference plans under `salt` (default: `grading_salt()`, the course's secret), so that
    no case of the instructor's grading is one of the handout's."""
    checks = rubric.checks(public_only)
    if plans is None and public_only:
        plans = PUBLIC_EXPECTED
        live = rubric.path != DEFAULT_RUBRIC and (Path(solution) / "diffusion_hw").is_dir()
        if live and not _has_plans(plans, checks):
            # a profile that makes public a check the default keeps hidden: the handout's fixed cases, live
            return build_plans(checks, LiveReference(solution))
    if plans is not None:
        loaded = load_plans(Path(plans))
        missing = [c.id for c in checks if c.id not in loaded]
        if missing:
            raise GraderError(
                f"{plans} has no plan for check(s) {', '.join(missing[:5])}: it is out of date; "
                "rebuild it with `python3 -m grader.grading.public_expected` (instructors)"
            )
        return loaded
    with salted(salt or grading_salt(rubric.path)):
        return build_plans(checks, LiveReference(solution))


def _has_plans(path: Path, checks: list[RubricCheck]) -> bool:
    return Path(path).is_file() and all(c.id in load_plans(Path(path)) for c in checks)


def profile_starter(rubric: Rubric) -> Path | None:
    """The clean starter of the rubric's assignment profile, in the course repository: starter/<name>/
    for a profile of grader/assignments/; None for the default profile and wherever the grader carries
    one assignment only (the handout, the Gradescope zip), whose clean starter is intake's own."""
    from grader.rubric import ASSIGNMENTS_DIR, DEFAULT_PROFILE

    if rubric.name in (None, DEFAULT_PROFILE) or not ASSIGNMENTS_DIR.is_dir():
        return None
    return REPO_ROOT / "starter" / rubric.name


def grade_submission(
    submission: str | Path,
    *,
    out: Path | None = None,
    public_only: bool = False,
    rubric_path: Path = DEFAULT_RUBRIC,
    solution: Path = DEFAULT_SOLUTION,
    plans: Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    generative: GenerativeOptions | None = None,
    salt: str | None = None,
) -> GradeReport:
    """Grade one submission (a folder holding diffusion_hw/, a .zip of one, 'solution' or 'starter').

    `salt` replaces the grading salt (grader/grading/salt.py) the instructor's cases are drawn from.
    `generative` adds the generative metrics after the numerical checks (--samples, --checkpoint,
    --samples-in, --checkpoint-in, --smoke; see grader/generative/grading.py): more entries, tagged
    "metrics" or "smoke".

    Raises GraderError only when the grader itself cannot run; a submission that cannot be graded
    (unsafe zip, no package) gets a report scoring 0 that says why.
    """
    started = time.monotonic()
    rubric = load_rubric(rubric_path)
    starter = profile_starter(rubric)
    # "starter" names the profile's starter, also from the repository root, where a folder starter/ exists
    # (it holds the default's package first: grading that folder would grade the default's starter)
    the_starter = str(submission) == "starter" and (
        not Path(submission).exists() or Path(submission).resolve() == (REPO_ROOT / "starter").resolve())
    path = resolve_path(starter if the_starter and starter is not None else submission)
    checks = rubric.checks(public_only)
    options = generative or GenerativeOptions()
    extra = prepare_generative(rubric, options, solution)  # checks the reference data first
    prepared = prepare_plans(rubric, public_only=public_only, solution=solution, plans=plans, salt=salt)
    items = [(item.number, item.function) for item in rubric.items]
    try:
        extra_bytes, extra_files = options.zip_room()  # a zip may also hold samples or a checkpoint
        with open_submission(path, extra_bytes=extra_bytes, extra_files=extra_files, starter=starter) as opened:
            results, confinement = run_session(opened.root, checks, prepared, limits, progress)
            if extra is not None:
                results = results + extra.run(opened.root, solution, opened.source, pictures=out)
            report = GradeReport("starter" if the_starter else opened.name, results, 0.0, confinement, public_only,
                                 hidden_visibility=rubric.hidden_visibility, items=items,
                                 notes=[*opened.warnings, clip_score_line(opened.root)])
    except SubmissionError as exc:
        report = GradeReport(submission_name(path), [_rejected(c, str(exc)) for c in checks], 0.0,
                             "not started (the submission was rejected)", public_only, rejected=str(exc),
                             hidden_visibility=rubric.hidden_visibility, items=items)
    report.execution_time = time.monotonic() - started
    if out is not None:
        from grader.output.report_files import write_feedback

        report.write(Path(out))
        write_feedback(report, Path(out))  # report.md and report.html for people, next to results.json
    return report


def _rejected(check: RubricCheck, reason: str) -> CheckResult:
    return CheckResult(check.id, check.item_number, check.function, check.check.title, 0.0, check.points,
                       False, f"not run: {reason}", check.public, tuple(check.check.tag_list()))
