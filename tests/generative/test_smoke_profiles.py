"""The smoke run follows the assignment profile: its schedule, objective and loss type everywhere, and on a
GPU its [assignment.smoke] dataset; the CPU run keeps the built-in digits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from grader.errors import GraderError
from grader.generative import smoke
from grader.generative.grading import GenerativeOptions, prepare
from grader.rubric import load_profile, profile_names
from tests.support.corpus import CORPUS, SOLUTION

TINY = dataclasses.replace(smoke.CPU_PROFILE, steps=6, num_samples=4, timesteps=25, sampling_timesteps=2)


def test_the_default_assignment_smoke_run_is_the_plain_profile():
    default = load_profile(None)
    assert smoke.default_profile(default.assignment, cuda=False) is smoke.CPU_PROFILE
    assert smoke.default_profile(default.assignment, cuda=True) is smoke.GPU_PROFILE
    assert smoke.default_profile(None) is smoke.CPU_PROFILE  # no GPU on the test machines


@pytest.mark.parametrize("name", profile_names())
def test_every_profile_sets_the_smoke_runs_diffusion_settings(name):
    assignment = load_profile(name).assignment
    for cuda in (False, True):
        profile = smoke.default_profile(assignment, cuda=cuda)
        diffusion = profile.probe_params()["diffusion"]
        assert (diffusion["beta_schedule"], diffusion["objective"], diffusion["loss_type"]) == (
            assignment.beta_schedule, assignment.objective, assignment.loss_type)
        if cuda:
            assert (profile.dataset, profile.image_size) == (assignment.smoke.dataset, assignment.smoke.image_size)
            assert profile.channels == profile.unet["channels"] == assignment.channels
        else:
            assert (profile.dataset, profile.image_size, profile.channels) == ("digits", 16, 1)


def test_the_cosine_cats_profile_trains_its_cosine_l1_run():
    profile = smoke.default_profile(load_profile("cosine-cats").assignment, cuda=False)
    assert (profile.beta_schedule, profile.objective, profile.loss_type) == ("cosine", "pred_noise", "l1")
    assert "cosine-cats" in profile.name and "l1" in profile.name
    assert profile != smoke.CPU_PROFILE  # another reference run and another saved-run key


def test_a_gpu_smoke_run_needs_the_profiles_own_dataset(tmp_path, monkeypatch):
    monkeypatch.setattr(smoke.torch.cuda, "is_available", lambda: True)  # as on a GPU machine
    with pytest.raises(GraderError) as caught:
        prepare(load_profile("cosine-cats"), GenerativeOptions(smoke=True, data_root=tmp_path / "data"))
    message = str(caught.value)
    assert "trains on afhq-cats-32 not found under" in message, message
    assert "(the data root, from --data-root)" in message


@pytest.mark.slow
def test_the_sandboxed_run_trains_with_the_profiles_loss(tmp_path, monkeypatch):
    """The l1 setting reaches the sandboxed run: the solution follows the reference's l1 curve, and a
    p_losses that ignores loss_type (always l2) leaves it."""
    monkeypatch.setattr(smoke, "_REFERENCE_RUNS", {})
    l1 = dataclasses.replace(TINY, beta_schedule="cosine", loss_type="l1")
    student, reference, _ = smoke.run_smoke(SOLUTION, SOLUTION, l1)
    np.testing.assert_allclose(student.losses, reference.losses, rtol=1e-5)
    _, plain_l2, _ = smoke.run_smoke(SOLUTION, SOLUTION, dataclasses.replace(TINY, beta_schedule="cosine"))
    assert not np.allclose(reference.losses, plain_l2.losses, rtol=1e-3)

    mutation = next(m for m in CORPUS if m.name == "p_losses_ignores_loss_type")
    ignores, reference_again, _ = smoke.run_smoke(mutation.build(tmp_path / "ignores"), SOLUTION, l1)
    np.testing.assert_array_equal(reference_again.losses, reference.losses)
    np.testing.assert_allclose(ignores.losses, plain_l2.losses, rtol=1e-5)
