"""Training loop for a GaussianDiffusion: Adam, an EMA copy of the weights, samples and checkpoints.

Given code (no TODOs here), modelled on lucidrains/denoising-diffusion-pytorch's `Trainer`, without
`accelerate`. One training step is

    for each of grad_steps micro-batches:   loss_i = diffusion(images, class_labels) / grad_steps
                                            loss_i.backward()              (gradients add up)
    clip the gradient norm to max_grad_norm, optimizer step, EMA update
    losses.append(sum_i loss_i)

and every `save_and_sample_every` steps the EMA model draws `num_samples` images
(`results_folder/sample-{milestone}.png`) and the trainer writes `results_folder/model-{milestone}.pt`
with milestone = step // save_and_sample_every.

A checkpoint is a plain dict saved with torch.save and read back with torch.load(weights_only=True):
    {"format_version", "step", "model", "ema", "opt", "scaler", "losses", "config"}
config["diffusion"] records the noise schedule (num_timesteps, beta_schedule, schedule_fn_kwargs), which
the weights do not hold; checkpoints written before beta_schedule was recorded are read as linear.
"""

from __future__ import annotations

import copy
import math
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .helpers import exists

CHECKPOINT_FORMAT_VERSION = 1
# The GaussianDiffusion settings that define betas: the weights load under any of them, silently.
SCHEDULE_KEYS = ("num_timesteps", "beta_schedule", "schedule_fn_kwargs")
_MILESTONE_FILE = re.compile(r"^model-(?P<milestone>\d+)\.pt$")


# ---------------------------------------------------------------------------------- EMA


class EMA:
    """An exponential moving average of a model's weights (Polyak averaging), kept in a frozen copy.

    Each call to `update()` is one training step. Every `update_every`-th step k (k = update_every,
    2 update_every, ...):

        k <= update_after_step:   ema <- online                     (copy: early weights are noise)
        otherwise:                ema <- decay_k ema + (1 - decay_k) online
        decay_k = min(decay, 1 - (1 + k - update_after_step) ** -warmup_power)

    The warm-up (as in ema_pytorch, which lucidrains uses) lets the average follow the fast early
    changes of the weights, then settle at `decay`; warmup_power=None uses `decay` from the start.
    With decay 0.995 and update_every 10 the average spans roughly the last 10 / (1 - 0.995) = 2,000
    steps. Floating-point parameters are averaged; buffers (and integer parameters) are copied.

    Attributes:
        ema_model: the averaged copy (eval mode, requires_grad False); sample with it.
        step: the number of update() calls so far.
    """

    def __init__(
        self, model: nn.Module, decay: float = 0.995, update_every: int = 10,
        update_after_step: int = 100, warmup_power: float | None = 2 / 3,
    ) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"ema decay must be in [0, 1] (usually 0.99 .. 0.9999), got {decay}")
        if update_every < 1:
            raise ValueError(f"ema update_every must be a positive int, got {update_every}")
        self.online_model = model
        self.ema_model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.update_every = update_every
        self.update_after_step = update_after_step
        self.warmup_power = warmup_power
        self.step = 0

    def current_decay(self, step: int) -> float:
        """decay_k of the class docstring; 0 (a plain copy) up to update_after_step."""
        k = step - self.update_after_step
        if k <= 0:
            return 0.0
        if self.warmup_power is None:
            return self.decay
        return min(self.decay, 1.0 - (1.0 + k) ** -self.warmup_power)

    @torch.no_grad()
    def update(self) -> None:
        """Record one training step; average the weights if it is an update step."""
        self.step += 1
        if self.step % self.update_every:
            return
        decay = self.current_decay(self.step)
        online = dict(self.online_model.named_parameters())
        for name, ema_param in self.ema_model.named_parameters():
            param = online[name].detach()
            if ema_param.is_floating_point():
                ema_param.lerp_(param, 1.0 - decay)  # ema + (1 - decay)(online - ema)
            else:
                ema_param.copy_(param)
        online_buffers = dict(self.online_model.named_buffers())
        for name, ema_buffer in self.ema_model.named_buffers():
            ema_buffer.copy_(online_buffers[name])

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "ema_model": self.ema_model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.ema_model.load_state_dict(state["ema_model"])


# ---------------------------------------------------------------------------------- data


def _cycle(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


def _inspect_dataset(dataset: Dataset, channels: int, image_size: int) -> bool:
    """Check the first item; return True when the dataset yields (image, label) pairs."""
    try:
        length = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"the dataset ({type(dataset).__name__}) has no len(): the Trainer needs a map-style "
            "dataset (with __len__ and __getitem__), e.g. a tensor (N, C, H, W) or a TensorDataset"
        ) from None
    if length == 0:
        raise ValueError("the dataset is empty: check the image folder path and the file extensions it accepts")
    item = dataset[0]
    if isinstance(item, (tuple, list)) and len(item) == 1:
        item = item[0]
    labelled = isinstance(item, (tuple, list))
    if labelled and len(item) != 2:
        raise ValueError(f"dataset items must be an image or an (image, label) pair, got a {len(item)}-tuple")
    image = item[0] if labelled else item
    if not isinstance(image, torch.Tensor):
        raise TypeError(
            f"dataset images must be float tensors (C, H, W) in [0, 1], got {type(image).__name__}: "
            "convert them with torchvision.transforms.ToTensor()"
        )
    expected = (channels, image_size, image_size)
    if tuple(image.shape) != expected:
        raise ValueError(
            f"dataset images have shape {tuple(image.shape)} but the diffusion model expects {expected} "
            f"(channels={channels}, image_size={image_size}): resize the images or rebuild the model"
        )
    if not image.is_floating_point():
        raise TypeError(
            f"dataset images must be float tensors in [0, 1], got {image.dtype}: divide uint8 pixels by 255"
        )
    if image.min() < -0.01 or image.max() > 1.01:
        warnings.warn(
            f"the first image has values in [{float(image.min()):.3g}, {float(image.max()):.3g}] but images "
            "should be in [0, 1]; the diffusion model maps them to [-1, 1] itself",
            stacklevel=3,
        )
    return labelled


# ---------------------------------------------------------------------------------- trainer


class Trainer:
    """Trains `diffusion` on `dataset` and keeps an EMA copy, samples and checkpoints.

    Args:
        diffusion: a GaussianDiffusion (any module called as diffusion(images, class_labels) that
            returns the loss, with channels, image_size, num_classes and sample()).
        dataset: a map-style dataset of images (C, H, W) in [0, 1], or of (image, label) pairs;
            pairs train the model class-conditionally (the Unet needs num_classes then).
        batch_size: images per micro-batch.
        train_num_steps: optimizer steps in all (train() stops when `step` reaches it).
        lr, adam_betas: Adam's learning rate and betas.
        grad_steps: gradient accumulation: micro-batches per optimizer step (an effective batch of
            batch_size * grad_steps).
        max_grad_norm: clip the gradient norm to this (None: no clipping).
        ema_decay, ema_update_every, ema_update_after_step: see EMA.
        save_and_sample_every: every this many steps, save a sample grid and a checkpoint (None: never).
        num_samples: images in each sample grid (0: checkpoints only).
        results_folder: where samples and checkpoints go (created if missing).
        keep_checkpoints: keep only the newest this many model-{milestone}.pt files written by
            train() (None: keep all; each checkpoint holds four copies of the weights: the model, its
            EMA and Adam's two moments).
        amp: mixed precision (float16 autocast and gradient scaling) on CUDA; ignored on CPU.
        seed: seeds torch and the data order (None: not seeded).
        device: "cuda", "cpu", ...; None picks cuda when available, else cpu.
        progress: show a tqdm progress bar with the loss.
        num_workers: DataLoader worker processes.

    Attributes: model (the diffusion), ema (EMA), opt, step, losses (one float per step), config.
    """

    def __init__(
        self,
        diffusion: nn.Module,
        dataset: Dataset,
        *,
        batch_size: int = 32,
        train_num_steps: int = 10000,
        lr: float = 1e-4,
        adam_betas: tuple[float, float] = (0.9, 0.99),
        grad_steps: int = 1,
        max_grad_norm: float | None = 1.0,
        ema_decay: float = 0.995,
        ema_update_every: int = 10,
        ema_update_after_step: int = 100,
        save_and_sample_every: int | None = 1000,
        num_samples: int = 16,
        results_folder: str | os.PathLike = "./results",
        keep_checkpoints: int | None = None,
        amp: bool = False,
        seed: int | None = None,
        device: str | torch.device | None = None,
        progress: bool = True,
        num_workers: int = 0,
    ) -> None:
        for name, value, low in (
            ("batch_size", batch_size, 1), ("train_num_steps", train_num_steps, 0), ("grad_steps", grad_steps, 1),
            ("num_samples", num_samples, 0), ("num_workers", num_workers, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not lr > 0:
            raise ValueError(f"lr must be positive (1e-4 .. 2e-4 is typical), got {lr!r}")
        if exists(save_and_sample_every) and save_and_sample_every < 1:
            raise ValueError(f"save_and_sample_every must be a positive int or None, got {save_and_sample_every!r}")
        if exists(keep_checkpoints) and keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be a positive int or None, got {keep_checkpoints!r}")

        if exists(seed):
            torch.manual_seed(seed)
        self.device = torch.device(device) if exists(device) else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu"
        )
        self.model = diffusion.to(self.device)
        self.channels = diffusion.channels
        self.image_size = diffusion.image_size
        self.num_classes = getattr(diffusion, "num_classes", None)

        # data
        self.labelled = _inspect_dataset(dataset, self.channels, self.image_size)
        if self.labelled and not exists(self.num_classes):
            raise ValueError(
                "the dataset yields (image, label) pairs but the model is unconditional: build "
                "Unet(num_classes=...) to train class-conditionally, or make the dataset return images only"
            )
        if not self.labelled and exists(self.num_classes):
            raise ValueError(
                f"the model is class-conditional (num_classes={self.num_classes}) but the dataset yields "
                "images without labels: make it return (image, label) pairs, or build Unet(num_classes=None)"
            )
        drop_last = len(dataset) >= batch_size
        if not drop_last:
            warnings.warn(
                f"the dataset has {len(dataset)} images, fewer than batch_size={batch_size}: every batch "
                f"will hold all {len(dataset)} of them; lower batch_size to silence this",
                stacklevel=2,
            )
        generator = torch.Generator().manual_seed(seed) if exists(seed) else None
        self.dataloader = DataLoader(
            dataset, batch_size=batch_size, shuffle=True, drop_last=drop_last, num_workers=num_workers,
            pin_memory=self.device.type == "cuda", generator=generator,
        )
        self._batches = _cycle(self.dataloader)

        # optimisation
        self.batch_size = batch_size
        self.train_num_steps = train_num_steps
        self.grad_steps = grad_steps
        self.max_grad_norm = max_grad_norm
        self.lr = lr
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr, betas=tuple(adam_betas))
        self.amp = bool(amp) and self.device.type == "cuda"
        if amp and not self.amp:
            warnings.warn("amp=True only works on CUDA; training in float32 on the CPU", stacklevel=2)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.ema = EMA(self.model, ema_decay, ema_update_every, ema_update_after_step)

        # bookkeeping
        self.save_and_sample_every = save_and_sample_every
        self.num_samples = num_samples
        self.results_folder = Path(results_folder)
        self.keep_checkpoints = keep_checkpoints
        self.progress = progress
        self.step = 0
        self.losses: list[float] = []
        self.config = {
            "trainer": {
                "batch_size": batch_size, "train_num_steps": train_num_steps, "lr": lr,
                "adam_betas": tuple(adam_betas), "grad_steps": grad_steps, "max_grad_norm": max_grad_norm,
                "ema_decay": ema_decay, "ema_update_every": ema_update_every,
                "ema_update_after_step": ema_update_after_step, "save_and_sample_every": save_and_sample_every,
                "num_samples": num_samples, "amp": self.amp, "seed": seed,
            },
            "diffusion": {
                name: getattr(diffusion, name)
                for name in ("image_size", "channels", "num_classes", "num_timesteps", "sampling_timesteps",
                             "beta_schedule", "schedule_fn_kwargs", "objective", "loss_type",
                             "ddim_sampling_eta", "cond_drop_prob")
                if hasattr(diffusion, name)
            },
            "unet": getattr(getattr(diffusion, "model", None), "config", None),
        }

    # ------------------------------------------------------------------ one step

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch = next(self._batches)
        if isinstance(batch, (tuple, list)) and len(batch) == 1:
            batch = batch[0]
        if self.labelled:
            images, labels = batch
            return images.to(self.device), labels.to(self.device).long()  # (B, C, H, W), (B,)
        return batch.to(self.device), None

    def train_step(self) -> float:
        """One optimizer step over grad_steps micro-batches; returns the (accumulated) loss."""
        self.model.train()
        total = 0.0
        for _ in range(self.grad_steps):
            images, labels = self._next_batch()
            with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
                loss = self.model(images, class_labels=labels) / self.grad_steps
            self.scaler.scale(loss).backward()
            total += loss.item()
        if not math.isfinite(total):
            self.opt.zero_grad(set_to_none=True)
            raise FloatingPointError(
                f"the training loss is {total} at step {self.step + 1}; training stopped before the weights "
                f"were updated. Lower lr (now {self.lr:g}), e.g. to {self.lr / 10:g}, keep max_grad_norm "
                f"(now {self.max_grad_norm}) set, and check the data for NaN or infinite pixels"
            )
        if exists(self.max_grad_norm):
            self.scaler.unscale_(self.opt)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.opt.zero_grad(set_to_none=True)
        self.step += 1
        self.ema.update()
        self.losses.append(total)
        return total

    def train(self) -> list[float]:
        """Train until `step` reaches train_num_steps (resuming from a loaded step); return the losses."""
        with tqdm(initial=self.step, total=self.train_num_steps, disable=not self.progress, desc="training") as bar:
            while self.step < self.train_num_steps:
                loss = self.train_step()
                bar.set_postfix(loss=f"{loss:.4f}")
                bar.update(1)
                if exists(self.save_and_sample_every) and self.step % self.save_and_sample_every == 0:
                    milestone = self.step // self.save_and_sample_every
                    if self.num_samples > 0:
                        self.save_samples(milestone)
                    self.save(milestone)
                    self._remove_old_checkpoints()
        return self.losses

    # ------------------------------------------------------------------ samples

    @torch.no_grad()
    def sample(self, num_samples: int | None = None) -> torch.Tensor:
        """(N, C, H, W) EMA samples in [0, 1]; a conditional model cycles through the classes 0, 1, ..."""
        n = self.num_samples if num_samples is None else num_samples
        diffusion = self.ema.ema_model
        chunks = []
        for start in range(0, n, self.batch_size):
            size = min(self.batch_size, n - start)
            labels = None
            if exists(self.num_classes):
                labels = torch.arange(start, start + size, device=self.device) % self.num_classes  # (b,)
            chunks.append(diffusion.sample(batch_size=size, class_labels=labels))
        return torch.cat(chunks).clamp(0.0, 1.0)

    def save_samples(self, milestone: int | str) -> Path:
        """Write a grid of `num_samples` EMA samples to results_folder/sample-{milestone}.png."""
        self.results_folder.mkdir(parents=True, exist_ok=True)
        path = self.results_folder / f"sample-{milestone}.png"
        samples = self.sample()
        from torchvision.utils import save_image  # only when a grid is written: torchvision loads slowly

        save_image(samples, path, nrow=max(1, math.ceil(math.sqrt(len(samples)))))
        return path

    # ------------------------------------------------------------------ checkpoints

    def checkpoint_path(self, milestone: int | str | os.PathLike) -> Path:
        """A milestone (int or name like "final") -> results_folder/model-{milestone}.pt; paths pass through."""
        if isinstance(milestone, os.PathLike) or (isinstance(milestone, str) and (
            milestone.endswith(".pt") or os.sep in milestone or "/" in milestone
        )):
            return Path(milestone)
        return self.results_folder / f"model-{milestone}.pt"

    def save(self, milestone: int | str | os.PathLike) -> Path:
        """Save model, EMA, optimizer, step, losses and config to checkpoint_path(milestone)."""
        path = self.checkpoint_path(milestone)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "format_version": CHECKPOINT_FORMAT_VERSION,
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "scaler": self.scaler.state_dict(),
            "losses": [float(x) for x in self.losses],
            "config": self.config,
        }
        torch.save(data, path)
        return path

    def load(self, milestone: int | str | os.PathLike) -> dict[str, Any]:
        """Restore a checkpoint written by save(); train() then continues from its step.

        Returns the checkpoint's config. The model must be built exactly as when it was saved,
        including the noise schedule: a schedule the checkpoint records (SCHEDULE_KEYS) must match.
        """
        path = self.checkpoint_path(milestone)
        if not path.is_file():
            found = sorted(p.name for p in self.results_folder.glob("model-*.pt"))
            raise FileNotFoundError(
                f"no checkpoint at {path}; {self.results_folder} holds {found or 'no model-*.pt files'}"
            )
        data = torch.load(path, map_location=self.device, weights_only=True)
        version = data.get("format_version")
        if version != CHECKPOINT_FORMAT_VERSION:
            raise ValueError(
                f"{path} has checkpoint format {version!r} but this Trainer reads format "
                f"{CHECKPOINT_FORMAT_VERSION}: it was not written by Trainer.save of this package"
            )
        self._check_same_schedule(path, data["config"].get("diffusion") or {})
        try:
            self.model.load_state_dict(data["model"])
            self.ema.load_state_dict(data["ema"])
        except RuntimeError as error:
            raise ValueError(
                f"{path} was saved from a different model; rebuild the Unet and GaussianDiffusion with the "
                f"checkpoint's config {data['config'].get('unet')} / {data['config'].get('diffusion')}.\n{error}"
            ) from None
        self.opt.load_state_dict(data["opt"])
        if data["scaler"]:  # empty when saved without amp
            self.scaler.load_state_dict(data["scaler"])
        self.step = int(data["step"])
        self.losses = [float(x) for x in data["losses"]]
        return data["config"]

    def _check_same_schedule(self, path: Path, saved: dict[str, Any]) -> None:
        # The schedule lives in non-persistent buffers, so load_state_dict cannot notice a mismatch.
        # A key the checkpoint (an older one) or this diffusion does not record cannot be checked.
        current = self.config["diffusion"]
        differing = [k for k in SCHEDULE_KEYS if k in saved and k in current and saved[k] != current[k]]
        if differing:
            wanted = ", ".join(f"{k}={saved[k]!r}" for k in differing)
            built = ", ".join(f"{k}={current[k]!r}" for k in differing)
            raise ValueError(
                f"{path} was trained with {wanted} but this Trainer's GaussianDiffusion has {built}: rebuild "
                f"it with the checkpoint's settings (num_timesteps is the `timesteps` argument)"
            )

    def _remove_old_checkpoints(self) -> None:
        if not exists(self.keep_checkpoints):
            return
        numbered = sorted(
            (int(m["milestone"]), p) for p in self.results_folder.glob("model-*.pt")
            if (m := _MILESTONE_FILE.match(p.name))
        )
        for _, path in numbered[: -self.keep_checkpoints]:
            path.unlink()
