"""One grading session: every planned call runs in one Sandbox, then each check is judged here.

Student code runs only inside the sandbox's worker processes; this process sees nothing but the
tensors that came back, and does every comparison and all the scoring itself.

The calls of one TODO item travel together as a single sandbox call (the `many` probe): one fresh
worker per item instead of one per check keeps grading fast, and a hang or crash still costs only
the item whose code caused it.

When the grading machine fails instead of the code (the sandbox does not start, a busy machine hits
the wall-clock backstop, a process is killed from outside: status "incomplete"), the item is run
once more; if it fails again its checks are reported incomplete, with the reason, and score nothing
until they are graded again. They are never judged as the student's failure.

When the submission's package does not import, every call fails the same way. The session then
confirms it with one call that carries no inputs (so its message cannot hold anything the hidden
inputs showed), and the checks of that item and every later one are "not run: the package does not
import" with that one-line reason as their `cause`, which the reports print once, at the top.

A check that fails on values keeps the reported case's expected and got values (`mismatch`), from
which the report draws its expected-vs-got picture.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

from grader.checks import Call, CheckRun, Outcome, Verdict
from grader.checks._compare import Mismatch, recording_mismatches
from grader.errors import GraderError
from grader.grading.deadline import DeadlinePassed, call_with_deadline
from grader.grading.plans import CheckPlan
from grader.grading.untrusted import error_text
from grader.output.results import NOT_RUN_IMPORT, CheckResult
from grader.rubric import RubricCheck
from grader.sandbox import Limits, Sandbox, SandboxError, SandboxStartError, Status, open_sandbox

PROBES_FILE = Path(__file__).resolve().parent / "probes.py"
DEFAULT_LIMITS = Limits(
    call_timeout_s=15.0,  # one call runs all of an item's cases; correct code needs well under a second
    memory_bytes=2 << 30,
    max_processes=32,
    threads=1,
    total_timeout_s=300.0,
)
JUDGE_DEADLINE_S = 20.0  # judging one check takes milliseconds; outputs far beyond the asked-for size take longer

Progress = Callable[[CheckResult], None]


def run_session(
    submission_root: Path,
    checks: list[RubricCheck],
    plans: dict[str, CheckPlan],
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> tuple[list[CheckResult], str]:
    """Grade every check; returns the results (in `checks` order) and the sandbox's confinement."""
    try:
        sandbox = open_sandbox(submission_root, limits=limits, probes_module=PROBES_FILE, device="cpu")
    except SandboxStartError as exc:  # twice: the machine's problem, so nothing is scored
        reason = f"the sandbox did not start (tried twice): {' '.join(str(exc).split())[:600]}"
        results = [incomplete_result(c, reason) for c in checks]
        for result in results if progress else ():
            progress(result)
        return results, "not started (the grading machine failed)"
    except SandboxError as exc:
        raise GraderError(f"the sandbox could not run: {' '.join(str(exc).split())[:600]}") from None
    try:
        with sandbox:
            confinement = sandbox.confinement
            described = f"{confinement.kind}: {confinement.detail}" if confinement else "unknown"
            outcomes: dict[str, Outcome] = {}  # by call digest
            results: list[CheckResult] = []
            import_failure = ""
            for function in dict.fromkeys(c.function for c in checks):
                item_checks = [c for c in checks if c.function == function]
                started = time.monotonic()
                if not import_failure:
                    item_calls = [call for c in item_checks for call in plans[c.id].calls]
                    _run_item(sandbox, item_calls, outcomes)
                    import_failure = _import_failure(sandbox, [outcomes[call.digest()] for call in item_calls])
                share = (time.monotonic() - started) / len(item_checks)
                for rubric_check in item_checks:
                    if import_failure:
                        results.append(not_run_result(rubric_check, import_failure))
                        if progress:
                            progress(results[-1])
                        continue
                    plan = plans[rubric_check.id]
                    run = CheckRun(plan.calls, [outcomes[c.digest()] for c in plan.calls], plan.expected,
                                   rubric_check.public)
                    stopped = next((o for o in run.outcomes if o.status == Status.INCOMPLETE), None)
                    if stopped is not None:
                        result = incomplete_result(rubric_check, stopped.message, share)
                    else:
                        result = _result(rubric_check, *_judge_with_values(rubric_check, run), share)
                    results.append(result)
                    if progress:
                        progress(result)
    except SandboxError as exc:
        raise GraderError(f"the sandbox could not run: {' '.join(str(exc).split())[:600]}") from None
    return results, described


def _run_item(sandbox: Sandbox, calls: list[Call], outcomes: dict[str, Outcome]) -> None:
    """Run the item's calls not yet run as one sandbox call; record an Outcome for each."""
    pending: dict[str, Call] = {}
    for call in calls:
        key = call.digest()
        if key not in outcomes and key not in pending:
            pending[key] = call
    if not pending:
        return
    inputs, batch = {}, []
    for k, call in enumerate(pending.values()):
        batch.append({"probe": call.probe, "params": call.params})
        inputs.update({f"{k}/{name}": value for name, value in call.inputs.items()})
    result = sandbox.call("many", inputs, {"calls": batch}, retry_incomplete=True)
    for k, key in enumerate(pending):
        if result.status != Status.OK:
            outcomes[key] = Outcome(result.status, {}, result.message, result.seconds, result.stderr)
            continue
        prefix = f"{k}/"
        outputs = {name[len(prefix):]: v for name, v in result.outputs.items() if name.startswith(prefix)}
        error = outputs.pop("error", None)
        if error is not None:
            outcomes[key] = Outcome(Status.ERROR, {}, error_text(error), result.seconds, result.stderr)
        else:
            outcomes[key] = Outcome(Status.OK, outputs, "", result.seconds, result.stderr)


def _import_failure(sandbox: Sandbox, item_outcomes: list[Outcome]) -> str:
    """The one-line reason the package does not import, or "" when it imports.

    Seen first in an item's call, which holds that item's inputs, hidden ones too: the message is the
    submission's own text and could carry them. So the failure is confirmed by a call with no inputs,
    and its message, not the first one, becomes the reason every report shows."""
    package = getattr(sandbox, "package", "diffusion_hw")
    prefix = f"importing {package} failed:"
    if not any(o.status == Status.ERROR and o.message.startswith(prefix) for o in item_outcomes):
        return ""
    bare = sandbox.call("many", {}, {"calls": []}, retry_incomplete=True)
    if bare.status != Status.ERROR or not str(bare.message).startswith(prefix):
        return ""
    return import_failure_summary(str(bare.message)[len(prefix):])


_FRAME = re.compile(r"^\s*(?P<where>\S.*?, line \d+), in ")


def import_failure_summary(description: str, limit: int = 300) -> str:
    """One line with the file and line from the sandbox's description of an import error:

        "SyntaxError in diffusion_hw/schedules.py line 3: invalid syntax\n    def f(:"
            -> "SyntaxError in diffusion_hw/schedules.py line 3: invalid syntax"
        "NameError: name 'x' is not defined\nTraceback (your code, ...):\n  diffusion_hw/a.py, line 5, in <module>"
            -> "NameError: name 'x' is not defined (diffusion_hw/a.py, line 5)"
    """
    lines = [line for line in str(description).splitlines() if line.strip()]
    if not lines:
        return "the import raised an error without a message"
    first = " ".join(lines[0].split())
    frames = [match.group("where") for match in map(_FRAME.match, lines[1:]) if match]
    where = f" ({frames[-1][:150]})" if frames and not re.search(r" line \d+", first) else ""
    room = limit - len(where)
    if len(first) > room:  # cut at a word, keeping the file and line
        first = first[: room - 4].rsplit(" ", 1)[0] + " ..."
    return first + where


def not_run_result(rubric_check: RubricCheck, import_failure: str) -> CheckResult:
    """A check that could not run because the package does not import: 0 points, the reason once."""
    return CheckResult(
        check_id=rubric_check.id,
        item_number=rubric_check.item_number,
        function=rubric_check.function,
        title=rubric_check.check.title,
        score=0.0,
        max_score=rubric_check.points,
        passed=False,
        message=NOT_RUN_IMPORT,
        public=rubric_check.public,
        tags=tuple(rubric_check.check.tag_list()),
        cause=import_failure,
    )


def _result(rubric_check: RubricCheck, verdict: Verdict, mismatch: Mismatch | None, seconds: float) -> CheckResult:
    return CheckResult(
        check_id=rubric_check.id,
        item_number=rubric_check.item_number,
        function=rubric_check.function,
        title=rubric_check.check.title,
        score=rubric_check.points if verdict.passed else 0.0,
        max_score=rubric_check.points,
        passed=verdict.passed,
        message=verdict.message,
        public=rubric_check.public,
        tags=tuple(rubric_check.check.tag_list()),
        seconds=seconds,
        mismatch=None if verdict.passed else mismatch,
    )


def incomplete_result(rubric_check: RubricCheck, reason: str, seconds: float = 0.0) -> CheckResult:
    """A check that could not be graded because the grading machine failed: 0 points for now, marked
    incomplete so that every report says so and `grade batch --regrade-incomplete` grades it again."""
    return CheckResult(
        check_id=rubric_check.id,
        item_number=rubric_check.item_number,
        function=rubric_check.function,
        title=rubric_check.check.title,
        score=0.0,
        max_score=rubric_check.points,
        passed=False,
        message=f"not graded: {reason}. This is the grading machine's failure, not the submission's: "
                "the item must be graded again",
        public=rubric_check.public,
        tags=tuple(rubric_check.check.tag_list()),
        seconds=seconds,
        incomplete=True,
    )


def _judge_with_values(rubric_check: RubricCheck, run: CheckRun) -> tuple[Verdict, Mismatch | None]:
    """The verdict, and the values of the case it reports when it failed on values: of the mismatches
    the judge met (several cases may fail), the one whose message the verdict carries."""
    with recording_mismatches() as found:
        verdict = _judge(rubric_check, run)
    if verdict.passed:
        return verdict, None
    return verdict, next((m for m in found if m.message and m.message in verdict.message), None)


def _judge(rubric_check: RubricCheck, run: CheckRun, deadline_s: float = JUDGE_DEADLINE_S) -> Verdict:
    """The check's verdict, within `deadline_s`. Judging reads outputs the student's code chose, so
    whatever goes wrong while judging (any exception: odd shapes, int(inf), bytes([1.5]), memory) or a
    judge still busy at the deadline is that check's failure, with the reason, never the grader's."""
    try:
        return call_with_deadline(lambda: rubric_check.check.verdict(run), deadline_s)
    except DeadlinePassed:
        return Verdict(False, f"the result could not be checked within {deadline_s:g} s: the outputs are far larger "
                              "or stranger than the ones asked for; return tensors of the shapes the docstring gives")
    except Exception as exc:  # see the docstring (Check.verdict names the message where it may)
        return Verdict(False, f"the result could not be checked ({type(exc).__name__}); "
                              "the outputs are missing something or have an unexpected form")
