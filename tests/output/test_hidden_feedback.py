"""Hidden checks' feedback carries no text or values of the submission's own: what a submission saw of
the hidden inputs cannot come back out through an error message, a print or an exception's class name."""

from __future__ import annotations

import pytest
import torch

from grader.checks import Call, CheckRun, Fail, Outcome


def test_hidden_checks_name_the_error_type_only_public_ones_show_the_message():
    secret = "T_hidden=537 x0[0]=0.1234"
    error = torch.tensor(list(f"ValueError: {secret}".encode()), dtype=torch.uint8)
    own_class = torch.tensor(list(f"Leak_{secret}: boom".encode()), dtype=torch.uint8)
    call = Call("q_sample", {"cases": [{}, {}]})

    def failure(public: bool, outcome: Outcome) -> str:
        run = CheckRun([call], [outcome], None, public)
        with pytest.raises(Fail) as raised:
            run.case(0, 0, "q_sample")
        return str(raised.value)

    ok = Outcome("ok", {"0.error": error})
    assert secret in failure(True, ok)
    assert secret not in failure(False, ok) and "ValueError" in failure(False, ok)
    assert "Leak" not in failure(False, Outcome("ok", {"0.error": own_class}))
    crashed = Outcome("error", {}, f"RuntimeError: {secret}", stderr=f"printed {secret}")
    assert secret in failure(True, crashed)
    assert secret not in failure(False, crashed) and "RuntimeError" in failure(False, crashed)


def test_a_hidden_judge_that_breaks_on_odd_outputs_names_the_exception_type_only():
    from grader.checks import Check, Verdict

    class Breaks(Check):
        item, name, title = "q_sample", "breaks", "a judge that breaks on odd outputs"

        def judge(self, run: CheckRun) -> Verdict:
            raise ValueError(f"cannot reshape {run.outputs()['0.x_t'].shape[0]} values")

    outputs = {"0.x_t": torch.zeros(537)}  # a size the submission chose to spell a hidden value
    public = Breaks().verdict(CheckRun([Call("q_sample", {})], [Outcome("ok", outputs)], None, True))
    hidden = Breaks().verdict(CheckRun([Call("q_sample", {})], [Outcome("ok", outputs)], None, False))
    assert not public.passed and "537" in public.message
    assert not hidden.passed and "ValueError" in hidden.message and "537" not in hidden.message
