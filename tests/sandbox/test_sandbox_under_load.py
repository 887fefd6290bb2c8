"""The sandbox's limits measure the code under test, not the machine: a busy machine slows a call
down without using up its time, and what goes wrong outside the code is "incomplete", never blame."""

from __future__ import annotations

import time

import pytest
import torch

from grader.instructor.bench import cpu_burners, kill_workers_when
from grader.sandbox import Limits, Sandbox
from tests.support.sandbox import PROBES, make_submission_tree

TIGHT = Limits(call_timeout_s=1.5, memory_bytes=1 << 30, max_processes=16, threads=1, total_timeout_s=60.0)


@pytest.fixture(scope="module")
def tight_sandbox(tmp_path_factory):
    with Sandbox(make_submission_tree(tmp_path_factory.mktemp("load")), limits=TIGHT, probes_module=PROBES) as sandbox:
        yield sandbox


@pytest.mark.slow
def test_cpu_work_within_the_limit_finishes_under_heavy_load_although_its_wall_time_exceeds_the_limit(tight_sandbox):
    with cpu_burners(per_core=4):
        results = [tight_sandbox.call("burn_cpu", {}, {"seconds": 0.7}) for _ in range(3)]
    assert [r.status for r in results] == ["ok"] * 3, [r.message for r in results]
    assert all(r.student_seconds < TIGHT.call_timeout_s for r in results)


@pytest.mark.slow
def test_an_infinite_loop_under_heavy_load_is_still_the_codes_timeout(tight_sandbox):
    with cpu_burners(per_core=4):
        result = tight_sandbox.call("loop_forever")
    assert result.status == "timeout", result.message
    assert "of your code's time" in result.message and TIGHT.call_timeout_s <= result.student_seconds


@pytest.mark.slow
def test_sleeping_past_the_limit_is_the_codes_timeout(tight_sandbox):
    result = tight_sandbox.call("sleep", {}, {"seconds": 60})
    assert result.status == "timeout", result.message
    assert result.student_seconds < 10  # stopped on its own time: not left to the wall-clock backstop


@pytest.mark.slow
def test_the_wall_clock_backstop_before_the_codes_time_runs_out_is_incomplete(tmp_path):
    # Backstop at 1 s of wall time, 10 s of the code's time: 3 s of CPU work can only meet the backstop.
    limits = Limits(call_timeout_s=10.0, wall_factor=0.1, wall_grace_s=0.0, memory_bytes=1 << 30, max_processes=16)
    with Sandbox(make_submission_tree(tmp_path), limits=limits, probes_module=PROBES) as sandbox:
        result = sandbox.call("burn_cpu", {}, {"seconds": 3.0})
        assert result.status == "incomplete", result.message
        assert "too busy" in result.message and "says nothing about the code" in result.message
        assert sandbox.call("double", {"x": torch.ones(1)}).ok


@pytest.mark.slow
def test_a_worker_killed_from_outside_is_incomplete_and_the_next_call_works(tight_sandbox):
    started = time.monotonic()
    killer = kill_workers_when(lambda: time.monotonic() - started > 0.3, kills=1)
    result = tight_sandbox.call("sleep", {}, {"seconds": 1.2})
    killer.join()
    assert result.status == "incomplete", result.message
    assert "killed from outside" in result.message
    assert tight_sandbox.call("double", {"x": torch.ones(1)}).ok
