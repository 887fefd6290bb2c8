"""`python3 tasks.py train`: a short run of the reference solution writes what the README promises."""

from __future__ import annotations

import json

import pytest
import torch

from grader.instructor.reference_training import build_parser, run


def test_a_tiny_training_run_writes_samples_plots_checkpoint_and_summary(tmp_path):
    args = build_parser().parse_args(
        ["--steps", "4", "--batch-size", "16", "--timesteps", "30", "--sampling-timesteps", "3",
         "--dim", "8", "--image-size", "8", "--out", str(tmp_path)]
    )
    summary = run(args)
    for name in ("sample-final.png", "model-final.pt", "forward_process.png", "denoising_progress.png",
                 "loss_curve.png", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["steps"] == 4 and summary["loss_first_tenth"] > 0
    checkpoint = torch.load(tmp_path / "model-final.pt", weights_only=True)
    assert checkpoint["step"] == 4 and len(checkpoint["losses"]) == 4
    assert checkpoint["config"]["diffusion"]["beta_schedule"] == "cosine"  # what `grade --checkpoint` rebuilds


def test_class_conditional_training_needs_the_digits(tmp_path):
    args = build_parser().parse_args(["--dataset", str(tmp_path), "--class-conditional", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="needs --dataset digits"):
        run(args)
