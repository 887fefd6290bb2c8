"""The given Trainer and EMA: the averaging formula, the loop, checkpoints and resuming, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from diffusion_hw.gaussian_diffusion import GaussianDiffusion
from diffusion_hw.trainer import EMA, Trainer
from diffusion_hw.unet import Unet
from diffusion_hw_data.digits import digits_tensor


class LinearLossDiffusion(nn.Module):
    """A stand-in for GaussianDiffusion whose loss is w * mean(images): exact and instant."""

    def __init__(self, channels: int = 1, image_size: int = 4, num_classes: int | None = None) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(2.0))
        self.channels, self.image_size, self.num_classes = channels, image_size, num_classes
        self.seen_labels: list[torch.Tensor | None] = []

    def forward(self, img: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        self.seen_labels.append(class_labels)
        return self.w * img.mean()

    def sample(self, batch_size: int = 16, class_labels=None, guidance_scale=1.0, return_all_timesteps=False):
        return torch.full((batch_size, self.channels, self.image_size, self.image_size), 0.5)


def _tiny_diffusion(channels: int = 1, image_size: int = 8, num_classes: int | None = None) -> GaussianDiffusion:
    torch.manual_seed(0)
    unet = Unet(dim=8, dim_mults=(1, 2), channels=channels, num_classes=num_classes)
    # cosine: the linear schedule's betas exceed 1 for T < 20 (they scale as 1000 / T)
    return GaussianDiffusion(unet, image_size=image_size, timesteps=4, beta_schedule="cosine")


def _quiet(**kwargs):
    return dict(progress=False, device="cpu", **kwargs)


# ---------------------------------------------------------------------------------- EMA


def _two_param_models():
    online = nn.Linear(2, 1)
    with torch.no_grad():
        online.weight.copy_(torch.tensor([[1.0, 2.0]]))
        online.bias.fill_(0.0)
    return online


def test_ema_update_is_decay_times_ema_plus_one_minus_decay_times_online():
    online = _two_param_models()
    ema = EMA(online, decay=0.9, update_every=1, update_after_step=0, warmup_power=None)
    with torch.no_grad():
        online.weight.copy_(torch.tensor([[3.0, 6.0]]))
        online.bias.fill_(10.0)
    ema.update()
    # 0.9 * [1, 2] + 0.1 * [3, 6] = [1.2, 2.4];  0.9 * 0 + 0.1 * 10 = 1
    assert torch.allclose(ema.ema_model.weight, torch.tensor([[1.2, 2.4]]))
    assert torch.allclose(ema.ema_model.bias, torch.tensor([1.0]))
    ema.update()  # again, towards the same online weights: 0.9 * 1.2 + 0.1 * 3 = 1.38
    assert torch.allclose(ema.ema_model.weight, torch.tensor([[1.38, 2.76]]))


def test_ema_only_updates_every_update_every_steps():
    online = _two_param_models()
    ema = EMA(online, decay=0.5, update_every=3, update_after_step=0, warmup_power=None)
    with torch.no_grad():
        online.weight.fill_(5.0)
    ema.update()
    ema.update()
    assert torch.equal(ema.ema_model.weight, torch.tensor([[1.0, 2.0]]))  # steps 1, 2: untouched
    ema.update()
    assert torch.allclose(ema.ema_model.weight, torch.tensor([[3.0, 3.5]]))  # step 3: halfway


def test_ema_copies_the_online_weights_until_update_after_step():
    online = _two_param_models()
    ema = EMA(online, decay=0.99, update_every=1, update_after_step=2, warmup_power=None)
    with torch.no_grad():
        online.weight.fill_(7.0)
    ema.update()
    assert torch.equal(ema.ema_model.weight, online.weight)
    assert not ema.ema_model.weight.requires_grad


def test_ema_warmup_decay_pinned_values():
    ema = EMA(nn.Linear(1, 1), decay=0.995, update_every=10, update_after_step=100)
    assert ema.current_decay(100) == 0.0
    assert ema.current_decay(101) == pytest.approx(1 - 2 ** (-2 / 3))  # 0.370
    assert ema.current_decay(1100) == pytest.approx(1 - 1001 ** (-2 / 3))  # 0.990
    assert ema.current_decay(100_000) == 0.995  # capped at decay


def test_ema_state_dict_round_trip():
    online = _two_param_models()
    ema = EMA(online, decay=0.5, update_every=1, update_after_step=0, warmup_power=None)
    with torch.no_grad():
        online.weight.fill_(3.0)
    ema.update()
    other = EMA(_two_param_models(), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.step == 1
    assert torch.equal(other.ema_model.weight, ema.ema_model.weight)


# ---------------------------------------------------------------------------------- the loop


def test_gradient_accumulation_records_the_mean_over_micro_batches(tmp_path):
    images = torch.arange(8, dtype=torch.float32).reshape(8, 1, 1, 1).expand(8, 1, 4, 4).contiguous() / 8
    diffusion = LinearLossDiffusion()
    trainer = Trainer(
        diffusion, images, batch_size=4, grad_steps=2, train_num_steps=1, lr=0.1, max_grad_norm=None,
        save_and_sample_every=None, results_folder=tmp_path, seed=0, **_quiet(),
    )
    losses = trainer.train()
    # the two micro-batches cover all 8 images once: (w m1 + w m2) / 2 = w * mean(all) = 2 * 0.4375
    assert losses == [pytest.approx(2.0 * images.mean().item())]
    assert trainer.step == 1
    # Adam's first step moves w by lr against the sign of the gradient (mean(all) > 0)
    assert diffusion.w.item() == pytest.approx(2.0 - 0.1)


def test_the_same_seed_gives_the_same_losses(tmp_path):
    runs = []
    for _ in range(2):
        trainer = Trainer(
            _tiny_diffusion(), torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(1)),
            batch_size=4, train_num_steps=3, save_and_sample_every=None, results_folder=tmp_path, seed=3,
            **_quiet(),
        )
        runs.append(trainer.train())
    assert runs[0] == runs[1]


def test_labelled_dataset_passes_labels_to_the_diffusion(tmp_path):
    images, labels = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    diffusion = LinearLossDiffusion(num_classes=3)
    trainer = Trainer(
        diffusion, TensorDataset(images, labels), batch_size=3, train_num_steps=2,
        save_and_sample_every=None, results_folder=tmp_path, **_quiet(),
    )
    trainer.train()
    seen = torch.cat(diffusion.seen_labels)
    assert seen.dtype == torch.int64 and sorted(seen.tolist()) == [0, 0, 1, 1, 2, 2]


def test_training_on_digits_lowers_the_loss(tmp_path):
    images, _ = digits_tensor(image_size=16, channels=1)
    torch.manual_seed(0)
    unet = Unet(dim=16, dim_mults=(1, 2, 2), channels=1)
    diffusion = GaussianDiffusion(unet, image_size=16, timesteps=100)
    trainer = Trainer(
        diffusion, images, batch_size=8, train_num_steps=40, lr=2e-3, seed=0,
        save_and_sample_every=None, results_folder=tmp_path, **_quiet(),
    )
    losses = trainer.train()  # about 0.15 s of CPU a step
    assert len(losses) == 40 and trainer.step == 40
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.5 * first, f"loss went from {first:.3f} (first 10 steps) to {last:.3f} (last 10)"


def test_save_and_sample_every_writes_samples_and_checkpoints(tmp_path):
    diffusion = _tiny_diffusion(num_classes=3)
    dataset = TensorDataset(torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2]))
    trainer = Trainer(
        diffusion, dataset, batch_size=2, train_num_steps=4, save_and_sample_every=2, num_samples=3,
        results_folder=tmp_path, seed=0, **_quiet(),
    )
    trainer.train()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["model-1.pt", "model-2.pt", "sample-1.png", "sample-2.png"]
    assert (tmp_path / "sample-2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_keep_checkpoints_removes_older_milestones(tmp_path):
    trainer = Trainer(
        LinearLossDiffusion(), torch.rand(4, 1, 4, 4), batch_size=2, train_num_steps=3,
        save_and_sample_every=1, num_samples=0, keep_checkpoints=1, results_folder=tmp_path, **_quiet(),
    )
    trainer.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-3.pt"]


# ---------------------------------------------------------------------------------- checkpoints


def _trainer(diffusion, tmp_path, train_num_steps):
    return Trainer(
        diffusion, torch.rand(8, 1, 8, 8), batch_size=4, train_num_steps=train_num_steps,
        save_and_sample_every=2, num_samples=0, results_folder=tmp_path, seed=0, **_quiet(),
    )


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_round_trip_restores_step_losses_and_weights(tmp_path):
    original = _trainer(_tiny_diffusion(), tmp_path, train_num_steps=4)
    original.train()
    restored = _trainer(_tiny_diffusion(), tmp_path, train_num_steps=4)
    config = restored.load(2)  # model-2.pt, written at step 4
    assert restored.step == 4
    assert restored.losses == original.losses
    assert _states_equal(restored.model.state_dict(), original.model.state_dict())
    assert _states_equal(restored.ema.ema_model.state_dict(), original.ema.ema_model.state_dict())
    assert restored.ema.step == original.ema.step == 4
    assert restored.opt.state_dict()["state"].keys() == original.opt.state_dict()["state"].keys()
    first = next(iter(original.opt.state_dict()["state"]))
    assert torch.equal(restored.opt.state_dict()["state"][first]["exp_avg"],
                       original.opt.state_dict()["state"][first]["exp_avg"])
    assert config["unet"]["dim"] == 8 and config["diffusion"]["num_timesteps"] == 4
    assert config["trainer"]["batch_size"] == 4


def test_checkpoint_is_a_plain_dict_readable_with_weights_only(tmp_path):
    trainer = _trainer(_tiny_diffusion(), tmp_path, train_num_steps=2)
    trainer.train()
    data = torch.load(tmp_path / "model-1.pt", weights_only=True)
    assert {"step", "model", "ema", "opt", "losses", "config"} <= data.keys()
    assert data["step"] == 2 and len(data["losses"]) == 2


def test_resume_continues_from_the_saved_step(tmp_path):
    first = _trainer(_tiny_diffusion(), tmp_path, train_num_steps=2)
    first.train()
    resumed = _trainer(_tiny_diffusion(), tmp_path, train_num_steps=5)
    resumed.load(tmp_path / "model-1.pt")  # a path works as well as a milestone
    losses = resumed.train()
    assert resumed.step == 5 and len(losses) == 5
    assert losses[:2] == first.losses


def test_save_with_a_name_and_load_it_back(tmp_path):
    trainer = _trainer(_tiny_diffusion(), tmp_path, train_num_steps=1)
    trainer.train()
    path = trainer.save("final")
    assert path == tmp_path / "model-final.pt"
    other = _trainer(_tiny_diffusion(), tmp_path, train_num_steps=1)
    other.load("final")
    assert other.step == 1


def test_loading_a_missing_checkpoint_lists_the_ones_there(tmp_path):
    trainer = _trainer(_tiny_diffusion(), tmp_path, train_num_steps=2)
    trainer.train()
    with pytest.raises(FileNotFoundError, match=re.escape("['model-1.pt']")):
        trainer.load(7)


def test_loading_a_checkpoint_of_another_model_says_to_rebuild_it(tmp_path):
    trainer = _trainer(_tiny_diffusion(), tmp_path, train_num_steps=2)
    trainer.train()
    torch.manual_seed(0)
    wider = GaussianDiffusion(
        Unet(dim=16, dim_mults=(1, 2), channels=1), image_size=8, timesteps=4, beta_schedule="cosine"
    )
    other = _trainer(wider, tmp_path, train_num_steps=2)
    with pytest.raises(ValueError, match="was saved from a different model"):
        other.load(1)


# ---------------------------------------------------------------------------------- errors


def test_empty_dataset_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="the dataset is empty"):
        Trainer(LinearLossDiffusion(), torch.empty(0, 1, 4, 4), results_folder=tmp_path, **_quiet())


def test_dataset_smaller_than_the_batch_warns_and_still_trains(tmp_path):
    with pytest.warns(UserWarning, match="fewer than batch_size=32"):
        trainer = Trainer(
            LinearLossDiffusion(), torch.rand(3, 1, 4, 4), batch_size=32, train_num_steps=2,
            save_and_sample_every=None, results_folder=tmp_path, **_quiet(),
        )
    assert len(trainer.train()) == 2


def test_nan_loss_stops_training_and_names_the_step_and_lr(tmp_path):
    images = torch.rand(4, 1, 4, 4)
    images[3, 0, 0, 0] = float("nan")
    diffusion = LinearLossDiffusion()
    trainer = Trainer(
        diffusion, images, batch_size=4, train_num_steps=5, lr=1e-3,
        save_and_sample_every=None, results_folder=tmp_path, **_quiet(),
    )
    with pytest.raises(FloatingPointError, match=r"at step 1;.*Lower lr \(now 0.001\)"):
        trainer.train()
    assert trainer.step == 0 and trainer.losses == []
    assert diffusion.w.item() == 2.0  # the weights were not updated


def test_images_of_the_wrong_size_are_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(1, 8, 8\) but the diffusion model expects \(1, 4, 4\)"):
        Trainer(LinearLossDiffusion(), torch.rand(4, 1, 8, 8), results_folder=tmp_path, **_quiet())


def test_labels_for_an_unconditional_model_are_rejected(tmp_path):
    dataset = TensorDataset(torch.rand(4, 1, 4, 4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=re.escape("Unet(num_classes=...)")):
        Trainer(LinearLossDiffusion(), dataset, results_folder=tmp_path, **_quiet())


def test_a_conditional_model_needs_labels(tmp_path):
    with pytest.raises(ValueError, match="yields images without labels"):
        Trainer(LinearLossDiffusion(num_classes=3), torch.rand(4, 1, 4, 4), results_folder=tmp_path, **_quiet())


def test_pixels_outside_zero_one_warn(tmp_path):
    with pytest.warns(UserWarning, match=r"should be in \[0, 1\]"):
        Trainer(
            LinearLossDiffusion(), torch.rand(4, 1, 4, 4) * 255, batch_size=4, results_folder=tmp_path, **_quiet()
        )
