"""What student code can do to a call, and what the grader sees: one sandbox, many misbehaviours."""

from __future__ import annotations

import json
import time

import pytest
import torch

from tests.support.sandbox import TEST_LIMITS


@pytest.fixture(scope="module")
def sandbox(open_sandbox):
    return open_sandbox("auto")[0]


def test_round_trip_returns_outputs_and_captures_stdout(sandbox):
    result = sandbox.call("double", {"x": torch.arange(4.0)}, {})
    assert result.status == "ok", result.message
    assert result.message == ""
    assert set(result.outputs) == {"y"}
    assert type(result.outputs["y"]) is torch.Tensor
    assert torch.equal(result.outputs["y"], torch.tensor([0.0, 2.0, 4.0, 6.0]))
    assert result.stdout == "doubling (4,)\n"
    assert 0 < result.seconds < TEST_LIMITS.call_timeout_s


def test_trivial_call_overhead_is_small(sandbox):
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        assert sandbox.call("double", {"x": torch.zeros(2)}).ok
        timings.append(time.perf_counter() - started)
    # ~40 calls must fit in a 60 s grade on 2 cores; the fork-per-call overhead is ~0.1 s here.
    assert sorted(timings)[2] < 0.5, timings


def test_exception_becomes_error_with_the_students_frames(sandbox):
    result = sandbox.call("raise_value_error", {"x": torch.zeros(3, 2)})
    assert result.status == "error"
    assert result.message.startswith("ValueError: alphas_bar has shape (3, 2); expected (T,)")
    assert "diffusion_hw/__init__.py, line" in result.message
    assert "in _inner_helper" in result.message
    assert "zygote" not in result.message and "/sandbox/" not in result.message
    assert result.outputs == {}


def test_infinite_loop_times_out_and_the_next_call_works(sandbox):
    result = sandbox.call("loop_forever")
    assert result.status == "timeout"
    assert "running probe 'loop_forever'" in result.message
    # Stopped on the code's own time, however busy the machine (the wall clock may run far longer).
    assert TEST_LIMITS.call_timeout_s <= result.student_seconds < TEST_LIMITS.call_timeout_s + 1
    assert sandbox.call("double", {"x": torch.ones(1)}).ok


def test_os_exit_inside_a_call_is_a_crash_and_the_next_call_works(sandbox):
    result = sandbox.call("exit_now", {}, {"code": 0})
    assert result.status == "crash"
    assert "os._exit" in result.message and "running probe 'exit_now'" in result.message
    assert result.stdout == "about to exit\n"  # printed output survives the crash
    result = sandbox.call("exit_now", {}, {"code": 3})
    assert result.status == "crash" and "status 3" in result.message
    assert sandbox.call("double", {"x": torch.ones(1)}).ok


def test_sys_exit_is_an_error_that_says_so(sandbox):
    result = sandbox.call("sys_exit")
    assert result.status == "error"
    assert "SystemExit" in result.message and "sys.exit()" in result.message


def test_os_exit_at_import_is_a_crash(sandbox):
    result = sandbox.call("double", {"x": torch.ones(1)}, {"at_import": "exit"})
    assert result.status == "crash"
    assert "while importing diffusion_hw" in result.message
    assert sandbox.call("double", {"x": torch.ones(1)}).ok


def test_syntax_error_at_import_names_the_file_and_line(sandbox):
    result = sandbox.call("double", {"x": torch.ones(1)}, {"at_import": "syntax"})
    assert result.status == "error"
    assert result.message.startswith(
        "importing diffusion_hw failed: SyntaxError in diffusion_hw/broken_syntax.py line 3")
    assert "def q_sample(x_start, t:" in result.message


@pytest.mark.parametrize(
    ("at_import", "expected"),
    [
        ("name_error", "NameError: name 'undefined_schedule' is not defined"),
        ("missing_dependency", "'einops_is_not_installed' is not one of them"),
        ("sys_exit", "SystemExit: 3"),
        ("missing_file", "cannot import name 'gaussian_diffusion'"),
    ],
)
def test_other_import_failures_are_errors_with_a_reason(sandbox, at_import, expected):
    result = sandbox.call("double", {"x": torch.ones(1)}, {"at_import": at_import})
    assert result.status == "error"
    assert result.message.startswith("importing diffusion_hw failed: ")
    assert expected in result.message


def test_segfault_is_a_crash(sandbox):
    result = sandbox.call("segfault")
    assert result.status == "crash"
    assert "segmentation fault" in result.message


def test_huge_allocation_fails_inside_the_worker(sandbox):
    result = sandbox.call("allocate", {}, {"bytes": 50 << 30})
    assert result.status in ("error", "crash")
    assert "memory" in result.message.lower() or "SIGKILL" in result.message
    # a modest allocation under the limit still works
    assert sandbox.call("allocate", {}, {"bytes": 64 << 20}).ok


def test_huge_shared_mapping_is_refused_too(sandbox):
    result = sandbox.call("allocate_shared", {}, {"bytes": 50 << 30})
    assert result.status in ("error", "crash")
    assert "memory" in result.message.lower() or "SIGKILL" in result.message


def test_state_set_in_one_call_is_not_visible_in_the_next(sandbox):
    first = sandbox.call("set_state")
    assert first.ok and first.outputs["counter"].item() == 41
    second = sandbox.call("get_state")
    assert second.ok, second.message
    assert second.outputs["counter"].item() == 0
    assert second.outputs["default_is_float32"].item() is True
    assert torch.equal(second.outputs["add_works"], torch.tensor([2.0]))
    assert second.outputs["tmp_file_exists"].item() is False


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("always_equal", "output 'y' of probe 'return_value' is a diffusion_hw.AlwaysEqual, expected a torch.Tensor"),
        ("list", "is a list, expected a torch.Tensor"),
        ("numpy", "torch.from_numpy"),
        ("not_a_dict", "returned a list, expected a dict of tensors"),
        ("dict_subclass", "returned a diffusion_hw.FakeDict, expected a dict of tensors"),
        ("complex", "dtype torch.complex64"),
    ],
)
def test_a_non_tensor_output_is_bad_output(sandbox, kind, expected):
    result = sandbox.call("return_value", {}, {"kind": kind})
    assert result.status == "bad-output"
    assert expected in result.message
    assert result.outputs == {}


def test_outputs_larger_than_the_limit_are_bad_output(sandbox):
    elements = TEST_LIMITS.max_output_bytes // 4 + 1024  # float32, just past the limit
    result = sandbox.call("return_value", {}, {"kind": "huge", "elements": elements})
    assert result.status == "bad-output"
    assert f"more than the limit of {TEST_LIMITS.max_output_bytes} bytes" in result.message
    assert sandbox.call("return_value", {}, {"kind": "huge", "elements": 1000}).ok


def test_tensor_subclasses_and_views_come_back_as_plain_tensors(sandbox):
    result = sandbox.call("return_value", {}, {"kind": "subclass"})
    assert result.status == "ok", result.message
    assert type(result.outputs["y"]) is torch.Tensor
    assert torch.equal(result.outputs["y"], torch.arange(3.0))
    result = sandbox.call("return_value", {}, {"kind": "requires_grad_view"})
    assert result.status == "ok", result.message
    assert torch.equal(result.outputs["y"], torch.arange(6.0).reshape(2, 3).t())
    assert not result.outputs["y"].requires_grad


def test_a_fake_status_printed_on_stdout_does_not_change_the_outcome(sandbox):
    result = sandbox.call("print_fake_status")
    assert result.status == "error"
    assert "RuntimeError: the real outcome is this error" in result.message
    assert '"status": "ok"' in result.stdout


def test_stdout_and_stderr_are_captured_and_truncated(sandbox):
    result = sandbox.call("print_lots", {}, {"bytes": 100_000})
    assert result.ok
    limit = TEST_LIMITS.max_capture_bytes
    assert len(result.stdout.encode()) < limit + 200
    assert result.stdout.startswith("FIRST LINE\n")
    assert result.stdout.rstrip().endswith("LAST LINE")
    assert "bytes cut" in result.stdout
    assert len(result.stderr.encode()) < limit + 200 and result.stderr.startswith("eeee")


def test_garbage_on_the_result_channel_is_reported_not_trusted(sandbox):
    result = sandbox.call("scribble_fds", {}, {"then_exit": True})
    assert result.status == "crash"
    assert "unexpected data" in result.message
    result = sandbox.call("scribble_fds", {}, {"then_close": True})
    assert result.status == "crash"
    assert "closed or overwrote the sandbox's result channel" in result.message
    # garbage followed by a normal return: the real result still arrives
    result = sandbox.call("scribble_fds", {}, {})
    assert result.status == "ok", result.message
    assert torch.equal(result.outputs["y"], torch.ones(2))
    assert sandbox.call("double", {"x": torch.ones(1)}).ok


def test_inputs_and_params_arrive_intact(sandbox):
    x = torch.randn(2, 3, 4, dtype=torch.float64)[:, ::2]  # non-contiguous, float64
    result = sandbox.call("double", {"x": x}, {"note": json.dumps({"nested": [1, 2]})})
    assert result.ok
    assert result.outputs["y"].dtype == torch.float64
    assert torch.equal(result.outputs["y"], x * 2)


def test_threads_follow_the_limit(sandbox):
    result = sandbox.call("whoami")
    assert result.ok
    assert result.outputs["threads"].item() == TEST_LIMITS.threads


def test_every_kind_of_allocation_together_stays_within_the_memory_limit(sandbox):
    """Anonymous and shared memory, files in /tmp, /dev/shm and the call's directory, memfd: what the
    code can hold of all of them at once fits in Limits.memory_bytes (tmpfs pages count too)."""
    result = sandbox.call("fill_memory", {}, {"cap": 3 << 30})
    assert result.ok, result.message
    held = {kind: int(value.item()) for kind, value in result.outputs.items()}
    step = 16 << 20
    assert sum(held.values()) <= TEST_LIMITS.memory_bytes + step, held
    assert held["memfd"] == 0 and held["anonymous"] > 0, held
    assert sandbox.call("double", {"x": torch.ones(1)}).ok
