"""zygote.py runs inside the sandbox without the grader, so it writes a call's status words as string
literals; they must stay the Status values the grader's side reads (sandbox.WORKER_STATUSES)."""

from __future__ import annotations

import ast
from pathlib import Path

from grader.sandbox import Status
from grader.sandbox.sandbox import SANDBOX_FAILURE, WORKER_STATUSES

ZYGOTE = Path(__file__).resolve().parents[2] / "grader" / "sandbox" / "zygote.py"


def status_words(source: str) -> set[str]:
    """The strings the dict literals of `source` give their "status" key (what a worker reports)."""
    words = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values):
            if isinstance(key, ast.Constant) and key.value == "status":
                assert isinstance(value, ast.Constant) and isinstance(value.value, str), (
                    f"zygote.py reports a status that is not a literal: {ast.unparse(node)}")
                words.add(value.value)
    return words


def test_the_zygotes_status_words_are_exactly_the_ones_the_grader_reads():
    assert status_words(ZYGOTE.read_text(encoding="utf-8")) == {*WORKER_STATUSES, SANDBOX_FAILURE}


def test_a_worker_reports_only_outcomes_the_status_enum_names():
    assert set(WORKER_STATUSES) <= set(Status)
    assert [status.value for status in WORKER_STATUSES] == ["ok", "error", "bad-output"]


def test_a_status_word_renamed_in_the_zygote_alone_is_caught():
    drifted = ZYGOTE.read_text(encoding="utf-8").replace('"bad-output"', '"bad_output"')
    assert drifted != ZYGOTE.read_text(encoding="utf-8"), "the zygote no longer reports bad-output as a literal"
    assert status_words(drifted) != {*WORKER_STATUSES, SANDBOX_FAILURE}
