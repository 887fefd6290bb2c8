"""What `grade --smoke` and `grade --checkpoint` run against a `diffusion_hw` package, inside the sandbox.

This file is PUBLIC, like grader/grading/probes.py: it holds no answers. The sandbox loads it on its own (it
imports nothing from the grader), runs a probe on the student's package, and only the returned
tensors leave the sandboxed process. The grader runs the very same `smoke_train` on the reference
package, in its own process, and compares the two runs (grader/generative/smoke.py).

smoke_train      build hw.Unet with the grader's configuration and initial weights (so both runs start
                 from the same network) and the package's GaussianDiffusion (so its linear schedule and
                 buffers too), train it with the package's `p_losses` (which calls its `q_sample`) on the
                 grader's images, with every t and noise drawn from the grader's seed,
                 then sample with the package's `p_sample_loop` (DDPM) and `ddim_sample` (DDIM, which
                 calls its `denoise_backward`). Returns the loss of every step and both sample sets.
checkpoint_samples   load a Trainer checkpoint (torch.load(weights_only=True): no code in it runs),
                 rebuild its Unet and GaussianDiffusion from the checkpoint's config (noise schedule
                 included), and draw N samples with the package's own `sample` under a fixed seed, as uint8.
                 A checkpoint whose config does not record beta_schedule (Trainers from before it was
                 recorded) is sampled with the linear schedule, GaussianDiffusion's default.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import torch

Tensor = torch.Tensor

# The GaussianDiffusion arguments a Trainer checkpoint's config may set (Trainer.config["diffusion"]).
DIFFUSION_KEYS = ("image_size", "sampling_timesteps", "objective", "loss_type", "ddim_sampling_eta",
                  "cond_drop_prob", "beta_schedule", "schedule_fn_kwargs")
# What a checkpoint that does not record its schedule was trained with (GaussianDiffusion's default).
LEGACY_BETA_SCHEDULE = "linear"


def _to_uint8(images: Tensor) -> Tensor:
    """[0, 1] floats -> uint8, as torchvision's save_image quantises (NaN -> 0)."""
    return torch.nan_to_num(images.detach().float().cpu(), nan=0.0).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)


def probe_smoke_train(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    device = torch.device(params.get("device", "cpu"))
    images = inputs["images"].to(device)  # (N, C, S, S) in [0, 1]
    initial = {name[len("init."):]: value for name, value in inputs.items() if name.startswith("init.")}
    torch.manual_seed(int(params["seed"]))
    unet = hw.Unet(**params["unet"])
    unet.load_state_dict(initial)  # strict: the package's Unet must be the given architecture
    diffusion = hw.GaussianDiffusion(unet, **params["diffusion"]).to(device)
    optimiser = torch.optim.Adam(diffusion.parameters(), lr=float(params["lr"]))
    generator = torch.Generator().manual_seed(int(params["seed"]))
    batch_size, timesteps = int(params["batch_size"]), int(params["diffusion"]["timesteps"])
    losses = []
    for _ in range(int(params["steps"])):
        index = torch.randint(0, len(images), (batch_size,), generator=generator)
        t = torch.randint(0, timesteps, (batch_size,), generator=generator).to(device)
        noise = torch.randn((batch_size, *images.shape[1:]), generator=generator).to(device)
        x_start = images[index.to(device)] * 2 - 1  # [0, 1] -> [-1, 1], as GaussianDiffusion.forward does
        loss = diffusion.p_losses(x_start, t, noise)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise TypeError(f"p_losses returned {type(loss).__name__} {getattr(loss, 'shape', '')}, "
                            "not a scalar tensor")
        value = float(loss.detach())
        losses.append(value)
        if not math.isfinite(value):
            break  # nothing useful can come of further steps
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(diffusion.parameters(), 1.0)
        optimiser.step()
    out = {"losses": torch.tensor(losses, dtype=torch.float64)}
    shape = (int(params["num_samples"]), *images.shape[1:])
    diffusion.eval()
    with torch.no_grad():
        torch.manual_seed(int(params["sample_seed"]))
        out["ddpm"] = diffusion.p_sample_loop(shape).detach().float().cpu()
        torch.manual_seed(int(params["sample_seed"]) + 1)
        out["ddim"] = diffusion.ddim_sample(shape).detach().float().cpu()
    return out


def probe_checkpoint_samples(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    device = torch.device(params.get("device", "cpu"))
    data = torch.load(io.BytesIO(inputs["checkpoint"].numpy().tobytes()), map_location=device, weights_only=True)
    if not isinstance(data, dict) or "config" not in data or ("ema" not in data and "model" not in data):
        raise ValueError("the checkpoint is not a Trainer checkpoint (a dict with 'config' and 'ema' or 'model'): "
                         "hand in the file Trainer.save wrote")
    config = data["config"]
    unet = hw.Unet(**config["unet"])
    settings = {k: v for k, v in (config.get("diffusion") or {}).items() if k in DIFFUSION_KEYS}
    settings["timesteps"] = int(config["diffusion"]["num_timesteps"])
    settings.setdefault("beta_schedule", LEGACY_BETA_SCHEDULE)
    diffusion = hw.GaussianDiffusion(unet, **settings)
    weights = data["ema"]["ema_model"] if "ema" in data else data["model"]
    diffusion.load_state_dict(weights)
    diffusion.to(device).eval()
    n, batch_size = int(params["num_samples"]), int(params["batch_size"])
    num_classes = getattr(unet, "num_classes", None)
    torch.manual_seed(int(params["seed"]))
    chunks = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            labels = None if num_classes is None else torch.arange(start, start + size, device=device) % num_classes
            images = diffusion.sample(batch_size=size, class_labels=labels)
            if not isinstance(images, torch.Tensor) or not bool(torch.isfinite(images).all()):
                raise ValueError(f"sample() returned NaN or infinite values (or no tensor) for samples "
                                 f"{start} .. {start + size - 1}")
            chunks.append(_to_uint8(images.clamp(0, 1)))
    return {"samples": torch.cat(chunks)}


PROBES: dict[str, Callable[[Any, dict[str, Tensor], dict], dict[str, Tensor]]] = {
    "smoke_train": probe_smoke_train,
    "checkpoint_samples": probe_checkpoint_samples,
}
