"""The generative tests' small data: scoring settings that tiny sample sets reach, real digits, a checkpoint.

Inception runs at ~5 images/s on 2 CPU cores, so the sets are tiny (8-16 images): FID on them is
meaningless as a quality number but exercises every step of the scoring.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from grader.generative import smoke
from grader.generative.bands import Band, DatasetMetrics

REFERENCE_COUNT = 16


def tiny_faces_dataset(**changes) -> DatasetMetrics:
    """anime-faces-64 scoring with bands any 8-sample FID reaches, so that points are visible."""
    fields = dict(name="anime-faces-64", reference="unused", image_size=64, afd=True, min_samples=2,
                  memorisation_threshold=0.05, copied_margin=0.01,
                  fid_bands=(Band("strong", 1e6, 10.0),), afd_bands=(Band("simple", 0.0, 4.0),))
    fields.update(changes)
    return DatasetMetrics(**fields)


def digits_reference(tmp_path: Path) -> tuple[Path, DatasetMetrics]:
    """(a folder of 16 real 16 x 16 digits, a digits dataset whose bands any 8 samples reach)."""
    from diffusion_hw_data import digits_tensor

    reference = tmp_path / "digits"
    reference.mkdir()
    for i, image in enumerate(digits_tensor(16, 1)[0][:REFERENCE_COUNT]):
        Image.fromarray((image[0].numpy() * 255).round().astype(np.uint8)).save(reference / f"{i:03d}.png")
    dataset = dataclasses.replace(tiny_faces_dataset(name="digits", image_size=16, afd=False, afd_bands=()),
                                  memorisation_threshold=0.005)
    return reference, dataset


def train_tiny_checkpoint(folder: Path) -> Path:
    """A Trainer checkpoint of a 16 x 16 grey model, trained for 2 steps by the reference package."""
    from diffusion_hw_data import DigitsDataset
    from grader.grading.reference import import_reference

    hw = import_reference()
    unet = hw.Unet(**smoke.CPU_PROFILE.unet)
    diffusion = hw.GaussianDiffusion(unet, image_size=16, timesteps=25, sampling_timesteps=5)
    trainer = hw.Trainer(diffusion, DigitsDataset(16, 1), batch_size=8, train_num_steps=2, save_and_sample_every=None,
                         results_folder=folder, seed=0, device="cpu", progress=False)
    trainer.train()
    return trainer.save("final")
