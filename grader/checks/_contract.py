"""Checks of a TODO's docstring contract beyond its values: dtypes, untouched inputs, what the model
is handed, and devices (the probe is grader/grading/probes.py's `probe_contract`).

A submission can compute the right numbers and still break real training or sampling: return float64
for float32 input, overwrite the caller's x_0 in place, hand a U-Net a (1,) t for a batch of 4, or
draw a tensor on the CPU while the model sits on a GPU. The probe runs the item on inputs like the
other checks' (reference buffers, stand-in networks, so the item is graded on its own) and reports
each broken promise as a line of text; one case runs with the model and every input on the `meta`
device, which refuses to mix with CPU tensors just as a GPU does.
"""

from __future__ import annotations

from grader.checks import Call, Check, CheckRun, Fail, Verdict, each_case
from grader.checks._compare import FLOAT32, close
from grader.grading.untrusted import error_text


def _as_float(value):
    return value.double() if value is not None and hasattr(value, "double") else value


def describe(case: dict) -> str:
    """'float32 inputs on the CPU', 'inputs on the meta device (as on a GPU)', ..."""
    inputs = f"{case['dtype']} inputs" if "dtype" in case else "inputs"
    device = case.get("device", "cpu")
    return f"{inputs} on the CPU" if device == "cpu" else f"{inputs} on the {device} device (as on a GPU)"


class ContractCheck(Check):
    """Subclasses set `name`, `item` and `call(reference)` (the name stays with them: a hidden check's
    name must not ship in the handout, which keeps this shared module); the check passes when no case
    reports a violation and every value the probe returns (x_t, the loss, how often p_sample ran)
    matches the reference's, so that a stub returning zeros of the right dtype, or a patched
    torch.equal, earns nothing."""

    uses_reference = True  # the call's values must match the reference's: a stub that computes nothing earns nothing

    def call(self, reference) -> Call:
        raise NotImplementedError

    def plan(self, reference) -> list[Call]:
        return [self.call(reference)]

    def judge(self, run: CheckRun) -> Verdict:
        call = run.calls[0]

        def judge_case(index: int, case: dict) -> None:
            got = run.case(0, index, self.item, f" ({describe(case)})")
            violations = got.get("violations")
            if violations is None:
                raise Fail(f"{self.item}'s contract could not be checked ({describe(case)})")
            text = error_text(violations).strip()
            if text:
                lines = text.splitlines()
                more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
                raise Fail(f"{lines[0]} [{describe(case)}]{more}")
            for name, expected in run.expected_case(0, index).items():
                if name != "violations" and not close(_as_float(got.get(name)), _as_float(expected), FLOAT32):
                    raise Fail(f"{self.item} computes the wrong {name} here ({describe(case)}), and its contract is "
                               "only graded on code that computes the item: see its other checks first")

        return each_case(call.params["cases"], judge_case)
