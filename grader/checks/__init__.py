"""One module per TODO item; each module registers the checks that grade its student function.

A check has two halves that never meet student code in the same process:

    plan(reference)  -> the probe calls to make: probe name, JSON params, input tensors. Inputs are
                        drawn from seeded strategies (_strategies.py); downstream items get the *reference*
                        buffers as inputs, so they are graded independently of upstream TODOs.
    judge(run)       -> a Verdict from what the sandboxed student call returned, and (for
                        differential checks) what the reference returned for the very same call.

Adding a TODO item = a module here (its checks, registered with `@register`), its probes in
grader/grading/probes.py, and an `[[item]]` with the checks' points in grader/rubric.toml.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import json
import pkgutil
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Generic, TypeVar

import torch

from grader.grading.reference import Reference
from grader.grading.untrusted import error_text, safe_text
from grader.sandbox.probe_result import Status

Tensor = torch.Tensor
Spec = TypeVar("Spec")  # a check module's case spec: a small frozen dataclass naming the fields of one case


@dataclass(frozen=True)
class Call:
    """One probe call: the same one runs on the student (in the sandbox) and on the reference."""

    probe: str
    params: dict
    inputs: dict[str, Tensor] = field(default_factory=dict)

    def digest(self) -> str:
        h = hashlib.sha256(self.probe.encode())
        h.update(json.dumps(self.params, sort_keys=True).encode())
        for name in sorted(self.inputs):
            value = self.inputs[name].contiguous()
            h.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
            h.update(value.numpy().tobytes())
        return h.hexdigest()[:24]


@dataclass(frozen=True)
class Outcome:
    """What the sandbox returned for one call (see Status; INCOMPLETE calls are never judged)."""

    status: Status
    outputs: dict[str, Tensor]
    message: str = ""
    seconds: float = 0.0
    stderr: str = ""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str


class Fail(Exception):
    """Raised inside `judge` to fail the check with an actionable message.

    severity ranks failures of several cases (the worst is reported): for wrong values, how many
    times the tolerance the error is; anything else (an error, NaN, a wrong shape) is infinite.
    """

    def __init__(self, message: str, severity: float = float("inf")) -> None:
        super().__init__(message)
        self.severity = severity


STATUS_WORDS = {
    Status.TIMEOUT: "did not finish in time (an infinite loop, or far too slow?)",
    Status.CRASH: "crashed the process",
    Status.BAD_OUTPUT: "returned something that is not a set of tensors",
    Status.ERROR: "raised an error",
}


@dataclass
class CheckRun:
    """Everything `judge` may look at for one check."""

    calls: list[Call]
    outcomes: list[Outcome]
    expected: list[dict[str, Tensor]] | None
    public: bool  # public checks may show inputs and expected values in their feedback

    def outputs(self, call: int = 0) -> dict[str, Tensor]:
        """The student's outputs of call `call`, or Fail if the call did not complete."""
        outcome = self.outcomes[call]
        if outcome.status == Status.OK:
            _check_output_size(self.calls[call], outcome.outputs)
            return outcome.outputs
        words = STATUS_WORDS.get(outcome.status, outcome.status)
        if not self.public:  # the message and output are the submission's own text: see error_text
            detail = f" ({error_type(outcome.message)})" if outcome.status == Status.ERROR and outcome.message else ""
            raise Fail(f"the code under test {words}{detail}{HIDDEN_NOTE}")
        detail = f": {_one_line(outcome.message)}" if outcome.message else ""
        hint = ""
        if outcome.stderr and outcome.status in (Status.CRASH, Status.ERROR):
            hint = f" (last output: {_one_line(outcome.stderr[-300:])})"
        raise Fail(f"the code under test {words}{detail}{hint}")

    def shown_error(self, error: Tensor) -> str:
        """What feedback may say of an error a probe reported ("<Type>: <message>" as UTF-8 bytes).

        The message is the submission's own text. A public check shows it (one line, bounded); a
        hidden check names the exception's type only, and only a built-in one, so that its feedback
        cannot carry out what the submission saw of the hidden inputs."""
        message = error_text(error)
        return _one_line(message) if self.public else f"{error_type(message)}{HIDDEN_NOTE}"

    def case(self, call: int, index: int, function: str, where: str = "") -> dict[str, Tensor]:
        """Outputs of case `index` of call `call`, with the "<index>." prefix removed; Fail on its error."""
        outputs = self.outputs(call)
        prefix = f"{index}."
        error = outputs.get(f"{prefix}error")
        if error is not None:
            raise Fail(f"{function} raised {self.shown_error(error)}{where}")
        return {name[len(prefix):]: value for name, value in outputs.items() if name.startswith(prefix)}

    def expected_case(self, call: int, index: int) -> dict[str, Tensor]:
        assert self.expected is not None, "this check has no reference outputs"
        prefix = f"{index}."
        return {name[len(prefix):]: v for name, v in self.expected[call].items() if name.startswith(prefix)}


def span(tensor: Tensor) -> int:
    """How many values `tensor`'s shape spans, a zero dimension counted as one (an empty tensor of
    shape (10**6, 0) still makes a loop over its first dimension run 10**6 times)."""
    total = 1
    for size in tensor.shape:
        total *= max(int(size), 1)
    return total


MAX_OUTPUT_SPAN = 1 << 20  # values one call may return whatever its inputs (far beyond any check's correct outputs)
OUTPUT_SPAN_PER_INPUT = 64  # ... or this many per input value (far beyond what correct code returns per input)


def _check_output_size(call: Call, outputs: dict[str, Tensor]) -> None:
    """Fail when a call's outputs span far more values than the call could ask for.

    Judges take time and memory in proportion to the outputs they read (a loop over a first dimension,
    `.tolist()`); this bound, generous for any honest output, right or wrong, keeps judging in
    proportion to the inputs the grader chose, whatever the student's code sent back."""
    limit = max(MAX_OUTPUT_SPAN, OUTPUT_SPAN_PER_INPUT * sum(value.numel() for value in call.inputs.values()))
    total = 0
    for name, value in outputs.items():
        total += span(value)
        if total > limit:
            raise Fail(f"the code under test returned {name!r} of shape {tuple(value.shape)}, making {total} values "
                       f"or more where this call asks for far fewer (at most {limit} are read): return tensors of "
                       "the shapes the docstring gives")


HIDDEN_NOTE = " (hidden checks show no error messages)"
_BUILTIN_ERRORS = {
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
}


def error_type(message: str) -> str:
    """The built-in exception type a "<Type>: <message>" text names, or words saying it is another."""
    name = str(message).split(":", 1)[0].strip()
    return name if name in _BUILTIN_ERRORS else "an exception of a class of its own"


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Check:
    """Base class: subclasses set the class attributes and implement plan() and judge()."""

    item: ClassVar[str]  # the TODO's student function, e.g. "q_sample"
    name: ClassVar[str]  # e.g. "matches_reference"; the check's id is "<item>.<name>"
    title: ClassVar[str]  # what passing means, one sentence
    tags: ClassVar[tuple[str, ...]] = ()  # student functions exercised (default: the item's)
    uses_reference: ClassVar[bool] = True  # False for property checks (no reference outputs)

    @classmethod
    def id(cls) -> str:
        return f"{cls.item}.{cls.name}"

    @classmethod
    def tag_list(cls) -> list[str]:
        return list(cls.tags or (cls.item,))

    def plan(self, reference: Reference) -> list[Call]:
        raise NotImplementedError

    def judge(self, run: CheckRun) -> Verdict:
        raise NotImplementedError

    def verdict(self, run: CheckRun) -> Verdict:
        """judge(), with `Fail` turned into a failed verdict, and so is a judge that breaks on odd outputs."""
        try:
            return self.judge(run)
        except Fail as failure:
            return Verdict(False, str(failure))
        except Exception as exc:  # odd outputs (shapes, int(inf), ...) fail the check, never the grader
            detail = type(exc).__name__
            if run.public:
                detail += f": {_one_line(safe_text(exc, 400), 200)}"
            return Verdict(False, f"the result could not be checked ({detail}); the outputs are missing something "
                                  "or have an unexpected form")


class CaseTableCheck(Check, Generic[Spec]):
    """A check made of one probe call that holds a table of cases, judged case by case:

        plan:  [build_call(reference, specs())]        specs: the cases' parameters, drawn or fixed
        judge: each_case(cases, judge_case)            fails with the worst case, counting the failures

    `Spec` is the module's case type (a frozen dataclass: q_sample's QSampleSpec, ...). Subclasses set
    `build_call` (a module's `<item>_call(reference, specs)`, as a staticmethod, or a method) and
    `judge_case`; the concrete checks then only say which specs they try. `judge_case` reads the case
    as the call's parameters hold it (a JSON dict: what the probe and the reference saw).
    """

    def specs(self) -> list[Spec]:
        raise NotImplementedError

    def build_call(self, reference: Reference, specs: list[Spec]) -> Call:
        raise NotImplementedError

    def judge_case(self, run: CheckRun, call: Call, index: int, case: dict) -> None:
        """Raise Fail when case `index` of `call` is wrong."""
        raise NotImplementedError

    def plan(self, reference: Reference) -> list[Call]:
        return [self.build_call(reference, self.specs())]

    def judge(self, run: CheckRun) -> Verdict:
        call = run.calls[0]
        return each_case(call.params["cases"], lambda index, case: self.judge_case(run, call, index, case))


REGISTRY: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    check_id = cls.id()
    if check_id in REGISTRY and REGISTRY[check_id] is not cls:
        raise ValueError(f"two checks are registered as {check_id!r}")
    REGISTRY[check_id] = cls
    return cls


def discover() -> dict[str, type[Check]]:
    """Import every module of this package (each registers its checks); return the registry."""
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    return REGISTRY


def passed(message: str = "") -> Verdict:
    return Verdict(True, message or "passed")


def each_case(cases: list[dict], judge_case: Callable[[int, dict], None]) -> Verdict:
    """Judge every case; fail with the most severe failure, saying how many cases failed."""
    failures: list[Fail] = []
    for index, case in enumerate(cases):
        try:
            judge_case(index, case)
        except Fail as failure:
            failures.append(failure)
    if not failures:
        return passed()
    worst = max(failures, key=lambda f: f.severity)  # the first of equals: max keeps the earliest
    note = f" [{len(failures)} of {len(cases)} cases fail]" if len(cases) > 1 else ""
    raise Fail(f"{worst}{note}", worst.severity)
