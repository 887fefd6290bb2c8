"""diffusion_hw: the homework's student package (DDPM / DDIM, Part 1; views and illusions, Part 2).

The same tree exists twice: solution/diffusion_hw (the reference) and starter/diffusion_hw (what
students get, generated from the reference by `python3 tasks.py starter`, with every TODO body
replaced by `raise NotImplementedError`).

Part 1 (TODO 1.x, 2.x): schedules, q_sample, p_losses, p_sample, p_sample_loop, denoise_backward.
Part 2 (TODO 3.x): IdentityView / Rotate180View, fused_noise_estimate, classifier_free_guidance.
`diffusion_hw.deepfloyd` (DeepFloyd IF) and `diffusion_hw.digit_illusions` (an offline stand-in
trained on the built-in digits) are submodules, imported on demand. So is `diffusion_hw.plots`
(matplotlib and torchvision load in seconds): its three functions are imported here on first use.
"""

from .gaussian_diffusion import GaussianDiffusion, ModelPrediction, ddim_time_pairs
from .helpers import extract, slerp
from .illusions import (
    DDIMSampler,
    classifier_free_guidance,
    fused_denoise_loop,
    fused_noise_estimate,
    inpaint,
    make_anagram,
    make_hybrid,
    make_illusion,
    sdedit,
)
from .schedules import (
    compute_diffusion_buffers,
    cosine_beta_schedule,
    linear_beta_schedule,
    make_beta_schedule,
    sigmoid_beta_schedule,
)
from .trainer import EMA, Trainer
from .unet import Unet
from .views import (
    IdentityView,
    JigsawView,
    NegateView,
    Rotate90CCWView,
    Rotate90CWView,
    Rotate180View,
    VerticalFlipView,
    View,
    get_view,
    high_pass,
    low_pass,
)

__all__ = [
    "DDIMSampler",
    "EMA",
    "GaussianDiffusion",
    "IdentityView",
    "JigsawView",
    "ModelPrediction",
    "NegateView",
    "Rotate180View",
    "Rotate90CCWView",
    "Rotate90CWView",
    "Trainer",
    "Unet",
    "VerticalFlipView",
    "View",
    "classifier_free_guidance",
    "compute_diffusion_buffers",
    "cosine_beta_schedule",
    "ddim_time_pairs",
    "extract",
    "fused_denoise_loop",
    "fused_noise_estimate",
    "get_view",
    "high_pass",
    "inpaint",
    "linear_beta_schedule",
    "low_pass",
    "make_anagram",
    "make_beta_schedule",
    "make_hybrid",
    "make_illusion",
    "plot_denoising_progress",
    "plot_forward_process",
    "plot_loss_curve",
    "sdedit",
    "sigmoid_beta_schedule",
    "slerp",
]

_LAZY = {"plot_denoising_progress": "plots", "plot_forward_process": "plots", "plot_loss_curve": "plots"}


def __getattr__(name: str):
    """`diffusion_hw.plot_loss_curve` and friends: import the plotting module only when first asked."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
