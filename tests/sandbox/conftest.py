"""Fixtures for the sandbox tests: a misbehaving submission copied into tmp, beside a secret and a
sibling submission that student code must not be able to read."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.sandbox import Sandbox, detect_confinement
from tests.support.sandbox import PROBES, TEST_LIMITS, make_submission_tree


@pytest.fixture(scope="session")
def open_sandbox(tmp_path_factory):
    """open_sandbox(kind) -> (Sandbox on the chaotic submission, the directory holding it and its
    neighbours). One per kind for the whole session: starting one imports torch (seconds), and
    sharing it is exactly what the sandbox promises to make safe."""
    opened: dict[str, tuple[Sandbox, Path]] = {}

    def get(kind: str = "auto") -> tuple[Sandbox, Path]:
        resolved = detect_confinement().kind if kind == "auto" else kind
        if resolved not in opened:
            root = tmp_path_factory.mktemp(f"submissions-{resolved}")
            sandbox = Sandbox(make_submission_tree(root), limits=TEST_LIMITS, probes_module=PROBES,
                              confinement=resolved)
            sandbox.open()
            opened[resolved] = (sandbox, root)
        return opened[resolved]

    yield get
    for sandbox, _ in opened.values():
        sandbox.close()
