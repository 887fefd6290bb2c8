"""Expected-vs-got pictures: what a failed comparison keeps, which case's values a check's picture shows,
what is drawn for each shape, and that no values a submission returns can break the drawing."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from grader.checks import Check, CheckRun, Fail, each_case
from grader.checks._compare import FLOAT32, Mismatch, check_tensor, close, recording_mismatches
from grader.grading.session import _judge_with_values
from grader.output.check_pictures import draw_mismatch, picture_kind
from grader.output.results import CHECK_PICTURES, CheckResult, GradeReport

F64 = torch.float64


def _png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


def test_a_failed_value_comparison_keeps_both_sides_only_while_recording():
    expected = torch.linspace(0, 1, 10, dtype=F64)
    got = expected.clone()
    got[3] = 5.0
    with pytest.raises(Fail):
        check_tensor("betas", got, expected, FLOAT32)  # no recording: nothing kept, nothing breaks
    with recording_mismatches() as found:
        with pytest.raises(Fail) as failure:
            check_tensor("betas", got.float(), expected, FLOAT32)
        assert close(got, expected, FLOAT32) is False  # a probe of alternatives is not recorded
    assert len(found) == 1 and found[0].message == str(failure.value)
    assert found[0].got.dtype == F64 and torch.equal(found[0].got, got.float().double())
    assert torch.equal(found[0].expected, expected)


def test_a_wrong_shape_keeps_no_values():
    with recording_mismatches() as found, pytest.raises(Fail, match="shape"):
        check_tensor("x_t", torch.zeros(4, 3), torch.zeros(4, 3, 2), FLOAT32)
    assert found == []


def test_nan_from_the_submission_is_recorded_with_its_message():
    expected = torch.ones(2, 3, 4, 4, dtype=F64)
    got = expected.clone()
    got[1, 2, 0, 0] = float("nan")
    with recording_mismatches() as found, pytest.raises(Fail, match="NaN"):
        check_tensor("x_t", got, expected, FLOAT32)
    assert "NaN" in found[0].message and torch.isnan(found[0].got).sum() == 1


class _TwoCases(Check):
    item, name, title = "linear_beta_schedule", "two_cases", "two cases"

    def judge(self, run: CheckRun):
        def judge_case(index, case):
            expected = torch.linspace(0.1, 0.2, 8, dtype=F64)
            check_tensor(f"case {index}", expected * case["factor"], expected, FLOAT32)

        return each_case(run.calls[0].params["cases"], judge_case)


def test_the_check_keeps_the_values_of_the_case_its_message_reports():
    cases = [{"factor": 1.01}, {"factor": 3.0}, {"factor": 1.0}]  # case 1 is the worst, so it is reported
    run = CheckRun([SimpleNamespace(params={"cases": cases})], [], None, public=True)
    verdict, mismatch = _judge_with_values(SimpleNamespace(check=_TwoCases()), run)
    assert not verdict.passed and verdict.message.startswith("case 1 has wrong values")
    assert mismatch is not None and mismatch.message in verdict.message
    assert torch.allclose(mismatch.got / mismatch.expected, torch.full((8,), 3.0, dtype=F64))


def test_a_passing_check_keeps_nothing():
    run = CheckRun([SimpleNamespace(params={"cases": [{"factor": 1.0}]})], [], None, public=True)
    verdict, mismatch = _judge_with_values(SimpleNamespace(check=_TwoCases()), run)
    assert verdict.passed and mismatch is None


@pytest.mark.parametrize(("shape", "kind"), [
    ((1000,), "curve"), ((2, 3, 5, 7), "images"), ((3, 1, 6, 6), "images"), ((3, 8, 8), "images"),
    ((4, 6, 8, 8), "maps"), ((2, 3, 1, 4), "heatmap"), ((5, 12), "heatmap"), ((1,), None), ((), None),
    ((1 << 19,), None),
])
def test_the_picture_follows_the_shape(shape, kind):
    assert picture_kind(shape) == kind


@pytest.mark.parametrize("shape", [(50,), (2, 3, 5, 7), (2, 1, 6, 6), (4, 6, 3, 3)])
def test_each_kind_draws_a_png(tmp_path, shape):
    expected = torch.randn(shape, dtype=F64)
    path = tmp_path / "picture.png"
    assert draw_mismatch(Mismatch("m", expected, expected.flip(-1) + 0.1), path, "a title " * 30)
    width, height = _png_size(path)
    assert 200 <= width <= 1200 and 150 <= height <= 900


HOSTILE = {
    "all NaN": torch.full((2, 3, 4, 4), float("nan"), dtype=F64),
    "infinities": torch.tensor([float("inf"), -float("inf")] * 8, dtype=F64).reshape(2, 1, 4, 2),
    "huge": torch.full((40,), 1e308, dtype=F64),
    "tiny differences": torch.full((40,), 1.0, dtype=F64) + 1e-300,
    "mixed": torch.tensor([float("nan"), float("inf"), 1e308, -1e308, 0.0, 1.0] * 4, dtype=F64).reshape(4, 6),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_values_a_submission_chose_never_break_the_drawing(tmp_path, name):
    got = HOSTILE[name]
    expected = torch.ones_like(got)
    path = tmp_path / "picture.png"
    assert draw_mismatch(Mismatch("m", expected, got), path, name) is True
    assert _png_size(path)[0] > 0


def test_what_cannot_be_drawn_is_no_picture_and_no_error(tmp_path):
    path = tmp_path / "picture.png"
    assert draw_mismatch(Mismatch("m", torch.ones(3, dtype=F64), torch.ones(4, dtype=F64)), path, "shapes") is False
    assert draw_mismatch(Mismatch("m", torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64)), path, "one value") is False
    assert draw_mismatch(Mismatch("m", "not a tensor", None), path, "nonsense") is False  # type: ignore[arg-type]
    assert not path.exists()


def _failed(check_id: str, public: bool, mismatch: Mismatch | None) -> CheckResult:
    function = check_id.split(".", 1)[0]
    return CheckResult(check_id, "1.1", function, "title", 0.0, 3.0, False, mismatch.message if mismatch else "failed",
                       public, (function,), mismatch=mismatch)


def test_results_json_names_each_check_s_picture_in_the_results_folder(tmp_path):
    expected = torch.linspace(0, 1, 20, dtype=F64)
    checks = [_failed("linear_beta_schedule.matches_reference", True, Mismatch("wrong betas", expected, expected * 2)),
              _failed("linear_beta_schedule.other", True, None)]
    report = GradeReport("alice", checks, 1.0, "confined", items=[("1.1", "linear_beta_schedule")])
    (tmp_path / CHECK_PICTURES).mkdir()
    (tmp_path / CHECK_PICTURES / "stale.png").write_bytes(b"an earlier grading's picture")
    results = json.loads(report.write(tmp_path).read_text())
    name = f"{CHECK_PICTURES}/linear_beta_schedule.matches_reference.png"
    assert results["tests"][0]["extra_data"]["pictures"] == [name]
    assert "pictures" not in results["tests"][1]["extra_data"]
    assert _png_size(tmp_path / name)[0] > 0
    pictures = sorted(p.name for p in (tmp_path / CHECK_PICTURES).iterdir())
    assert pictures == ["linear_beta_schedule.matches_reference.png"]
