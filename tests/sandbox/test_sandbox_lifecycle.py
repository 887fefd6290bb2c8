"""The sandbox as a whole: misconfiguration raises, a dead fork server comes back, budgets hold."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import torch

from grader.sandbox import Limits, Sandbox, SandboxError
from tests.support.sandbox import PROBES, TEST_LIMITS, make_submission_tree


def test_a_missing_submission_directory_raises(tmp_path):
    with pytest.raises(SandboxError, match="does not exist"):
        Sandbox(tmp_path / "nowhere", limits=TEST_LIMITS, probes_module=PROBES)


def test_a_missing_probes_file_raises(tmp_path):
    with pytest.raises(SandboxError, match="probes file"):
        Sandbox(tmp_path, limits=TEST_LIMITS, probes_module=tmp_path / "probes.py")


def test_a_probes_file_with_a_syntax_error_raises(tmp_path):
    probes = tmp_path / "probes.py"
    probes.write_text("PROBES = {\n")
    with pytest.raises(SandboxError, match="syntax error"):
        Sandbox(tmp_path, limits=TEST_LIMITS, probes_module=probes)


@pytest.mark.slow
def test_a_submission_without_the_package_gets_an_error_per_call_and_unknown_probes_raise(tmp_path):
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "README.md").write_text("forgot the code\n")
    with Sandbox(tmp_path / "submission", limits=TEST_LIMITS, probes_module=PROBES) as sb:
        result = sb.call("double", {"x": torch.ones(1)})
        assert result.status == "error"
        assert "the submission has no diffusion_hw package" in result.message
        with pytest.raises(SandboxError, match="unknown probe"):
            sb.call("no_such_probe")


@pytest.mark.slow
def test_a_probes_file_that_fails_to_load_raises_at_open(tmp_path):
    probes = tmp_path / "probes.py"
    probes.write_text("import no_such_module_for_probes\nPROBES = {}\n")
    (tmp_path / "submission").mkdir()
    with pytest.raises(SandboxError, match="no_such_module_for_probes"):
        with Sandbox(tmp_path / "submission", limits=TEST_LIMITS, probes_module=probes):
            pass


@pytest.mark.slow
def test_the_fork_server_killed_mid_call_is_incomplete_not_the_code_and_the_next_call_restarts_it(tmp_path):
    alice = make_submission_tree(tmp_path)
    with Sandbox(alice, limits=TEST_LIMITS, probes_module=PROBES) as sb:
        assert sb.call("double", {"x": torch.ones(1)}).ok
        victim = sb.fork_server_pid

        def kill_soon():
            time.sleep(0.7)
            os.killpg(victim, signal.SIGKILL)

        killer = threading.Thread(target=kill_soon)
        killer.start()
        result = sb.call("sleep", {}, {"seconds": 2.5})
        killer.join()
        assert result.status == "incomplete"
        assert "fork server stopped" in result.message and "killed from outside" in result.message
        result = sb.call("double", {"x": torch.ones(1)})
        assert result.ok, result.message
        assert sb.restarts == 1 and sb.fork_server_pid != victim
        assert sb.call("get_state").outputs["counter"].item() == 0


@pytest.mark.slow
def test_once_the_total_budget_is_spent_calls_time_out_without_running(tmp_path):
    alice = make_submission_tree(tmp_path)
    limits = Limits(call_timeout_s=2.0, total_timeout_s=3.0, memory_bytes=1 << 30, max_processes=32)
    with Sandbox(alice, limits=limits, probes_module=PROBES) as sb:
        first = sb.call("loop_forever")
        assert first.status == "timeout" and "of your code's time" in first.message
        assert 2.0 <= first.student_seconds < 3.0
        second = sb.call("loop_forever")
        assert second.status == "timeout" and second.student_seconds < 1.5  # only the budget's remainder
        assert "total time budget of 3 s ran out" in second.message
        started = time.monotonic()
        third = sb.call("double", {"x": torch.ones(1)})
        assert third.status == "timeout"
        assert "total time budget of 3 s" in third.message
        assert time.monotonic() - started < 0.1
