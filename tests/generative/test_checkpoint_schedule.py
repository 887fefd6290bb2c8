"""`grade --checkpoint` samples a Trainer checkpoint with the noise schedule it was trained with.

The schedule lives in GaussianDiffusion's non-persistent buffers, so the weights load under any schedule;
only Trainer.config["diffusion"] (beta_schedule, schedule_fn_kwargs) can tell the probe which one to rebuild.
The probe runs in-process here, on the reference package: the sandbox around it is tested elsewhere.
"""

from __future__ import annotations

import io

import pytest
import torch

from grader.generative import smoke
from grader.generative.smoke_probes import _to_uint8, probe_checkpoint_samples
from grader.grading.reference import import_reference

PARAMS = {"num_samples": 4, "batch_size": 4, "seed": 0, "device": "cpu"}
COSINE = {"beta_schedule": "cosine", "schedule_fn_kwargs": {"s": 0.02}}


@pytest.fixture(scope="module")
def hw():
    return import_reference()


@pytest.fixture(scope="module")
def cosine_trainer(hw, tmp_path_factory):
    """A Trainer of a 16 x 16 grey model on the cosine schedule (s = 0.02), trained for one step and saved."""
    torch.manual_seed(0)
    diffusion = hw.GaussianDiffusion(hw.Unet(**smoke.CPU_PROFILE.unet), image_size=16, timesteps=25, **COSINE)
    trainer = hw.Trainer(diffusion, torch.rand(8, 1, 16, 16), batch_size=4, train_num_steps=1,
                         save_and_sample_every=None, results_folder=tmp_path_factory.mktemp("cosine"), seed=0,
                         device="cpu", progress=False)
    trainer.train()
    trainer.save("final")
    return trainer


def as_probe_input(checkpoint: dict) -> dict[str, torch.Tensor]:
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return {"checkpoint": torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)}


def in_memory_samples(diffusion) -> torch.Tensor:
    """What the probe should return: `sample` under the probe's seed, quantised as it does."""
    torch.manual_seed(PARAMS["seed"])
    with torch.no_grad():
        return _to_uint8(diffusion.eval().sample(batch_size=PARAMS["num_samples"]).clamp(0, 1))


def test_trainer_config_records_the_schedule(cosine_trainer):
    saved = torch.load(cosine_trainer.checkpoint_path("final"), weights_only=True)["config"]["diffusion"]
    assert (saved["beta_schedule"], saved["schedule_fn_kwargs"]) == ("cosine", {"s": 0.02})


def test_a_cosine_checkpoint_is_sampled_with_its_cosine_schedule(hw, cosine_trainer):
    checkpoint = torch.load(cosine_trainer.checkpoint_path("final"), weights_only=True)
    regenerated = probe_checkpoint_samples(hw, as_probe_input(checkpoint), PARAMS)["samples"]
    assert torch.equal(regenerated, in_memory_samples(cosine_trainer.ema.ema_model))


def test_a_checkpoint_without_a_recorded_schedule_is_sampled_with_the_linear_one(hw, cosine_trainer):
    checkpoint = torch.load(cosine_trainer.checkpoint_path("final"), weights_only=True)
    del checkpoint["config"]["diffusion"]["beta_schedule"], checkpoint["config"]["diffusion"]["schedule_fn_kwargs"]
    regenerated = probe_checkpoint_samples(hw, as_probe_input(checkpoint), PARAMS)["samples"]

    linear = hw.GaussianDiffusion(hw.Unet(**smoke.CPU_PROFILE.unet), image_size=16, timesteps=25)
    linear.load_state_dict(cosine_trainer.ema.ema_model.state_dict())
    assert torch.equal(regenerated, in_memory_samples(linear))
    assert not torch.equal(regenerated, in_memory_samples(cosine_trainer.ema.ema_model))  # the schedule matters


def test_trainer_load_refuses_a_checkpoint_of_another_schedule(hw, cosine_trainer):
    torch.manual_seed(0)
    linear = hw.GaussianDiffusion(hw.Unet(**smoke.CPU_PROFILE.unet), image_size=16, timesteps=25)
    other = hw.Trainer(linear, torch.rand(8, 1, 16, 16), batch_size=4, save_and_sample_every=None,
                       results_folder=cosine_trainer.results_folder, device="cpu", progress=False)
    with pytest.raises(ValueError, match=r"beta_schedule='cosine'.*rebuild it"):
        other.load("final")
