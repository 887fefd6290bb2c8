"""The student-side grader keeps the public checks and every helper they use, and nothing of the hidden ones."""

from __future__ import annotations

import textwrap

from grader.instructor.public_grader import public_rubric_toml, strip_hidden_checks
from grader.rubric import load_rubric

CHECKS = textwrap.dedent('''
    from grader.checks._cases import shared_inputs


    def public_inputs():
        return shared_inputs(1)


    def secret_inputs():
        return deep_secret()


    def deep_secret():
        return 42


    @register
    class Public(Check):
        name = "matches_reference"

        def plan(self, reference):
            return public_inputs()


    @register
    class Hidden(Check):
        name = "secret_edge_case"

        def plan(self, reference):
            return secret_inputs()
''')
CASES = textwrap.dedent('''
    def shared_inputs(n):
        return n


    def only_for_hidden_checks():
        return 7
''')


def test_hidden_classes_and_the_helpers_only_they_used_are_removed():
    out = strip_hidden_checks({"q_sample": CHECKS, "_cases": CASES}, {"q_sample": {"Hidden"}},
                              context=["from grader.checks import discover\n"])
    kept = out["q_sample"]
    assert "class Public" in kept and "def public_inputs" in kept
    for gone in ("class Hidden", "secret_edge_case", "def secret_inputs", "def deep_secret"):
        assert gone not in kept, gone
    assert "def shared_inputs" in out["_cases"]  # used by a public helper in another module
    assert "only_for_hidden_checks" not in out["_cases"]
    compile(kept, "q_sample.py", "exec")


def test_a_helper_used_by_the_rest_of_the_grader_is_kept():
    out = strip_hidden_checks({"_cases": CASES}, {},
                              context=["from grader.checks._cases import only_for_hidden_checks\n"])
    assert "def only_for_hidden_checks" in out["_cases"]


def test_the_public_rubric_lists_exactly_the_public_checks_and_their_total():
    rubric = load_rubric()
    text = public_rubric_toml(rubric)
    public = [c for c in rubric.checks(public_only=True)]
    assert f"total = {sum(c.points for c in public):g}\n" in text
    assert text.count("[[item.check]]") == len(public)
    assert 'visibility = "hidden"' not in text
