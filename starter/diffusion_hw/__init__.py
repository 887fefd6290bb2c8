"""diffusion_hw: the homework's student package (DDPM / DDIM, Part 1; views and illusions, Part 2).

The same tree exists twice: solution/diffusion_hw (the reference) and starter/diffusion_hw (what
students get, generated from the reference by `python3 tasks.py starter`, with every TODO body
replaced by `raise NotImplementedError`).
"""

from .gaussian_diffusion import GaussianDiffusion, ModelPrediction, ddim_time_pairs
from .helpers import extract, slerp
from .schedules import (
    compute_diffusion_buffers,
    cosine_beta_schedule,
    linear_beta_schedule,
    make_beta_schedule,
    sigmoid_beta_schedule,
)

__all__ = [
    "GaussianDiffusion",
    "ModelPrediction",
    "compute_diffusion_buffers",
    "cosine_beta_schedule",
    "ddim_time_pairs",
    "extract",
    "linear_beta_schedule",
    "make_beta_schedule",
    "sigmoid_beta_schedule",
    "slerp",
]
