"""A short training run of the reference solution, on CPU by default: `python3 tasks.py train`.

What an instructor (or a student with the solution filled in) sees after one run, in `--out`:

    sample-final.png         a grid of EMA samples
    model-final.pt           the checkpoint (Trainer.save; read back with torch.load(weights_only=True))
    forward_process.png      q(x_t | x_0) at 0 / 25 / 50 / 75 / 99 % of T for 5 training images
    denoising_progress.png   5 images from x_T to x_0
    loss_curve.png           the loss of every step and its smoothed copy
    summary.json             the settings, the time taken, and the mean loss of the first and last tenth

The defaults (Unet(dim=16, dim_mults=(1, 2, 2)), 16x16 greyscale digits, T = 100, cosine schedule)
are sized so that 400 steps run in minutes on a laptop CPU. `--dataset` also takes a folder of
images (e.g. anime faces) and `--class-conditional` trains the digits with their labels (CFG).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "runs" / "train-digits"


def _import_solution():
    """The reference package (solution/diffusion_hw); this module never grades student code."""
    solution = str(ROOT / "solution")
    if solution not in sys.path:
        sys.path.insert(0, solution)
    import diffusion_hw

    return diffusion_hw


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 tasks.py train", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="optimizer steps (default 400)")
    parser.add_argument("--image-size", type=int, default=16, help="image side in pixels (default 16)")
    parser.add_argument("--dataset", default="digits", help="'digits' or a folder of images (default digits)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--dim", type=int, default=16, help="Unet base width (default 16)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--timesteps", type=int, default=100, help="T (default 100)")
    parser.add_argument("--sampling-timesteps", type=int, default=None, help="DDIM steps (default: T, ancestral)")
    parser.add_argument("--class-conditional", action="store_true", help="digits only: train with labels")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


def run(args: argparse.Namespace) -> dict:
    """Train, sample and plot; return the summary that is also written to out/summary.json."""
    hw = _import_solution()
    from diffusion_hw_data import DigitsDataset, load_dataset

    if args.steps < 1:
        raise SystemExit(f"train: --steps must be at least 1, got {args.steps}")
    torch.manual_seed(args.seed)
    if args.dataset == "digits":
        dataset = DigitsDataset(image_size=args.image_size, channels=1, return_labels=args.class_conditional)
        channels = 1
    else:
        if args.class_conditional:
            raise SystemExit("train: --class-conditional needs --dataset digits (an image folder has no labels)")
        dataset = load_dataset(args.dataset, args.image_size)
        channels = 3
    num_classes = 10 if args.class_conditional else None
    unet = hw.Unet(dim=args.dim, dim_mults=(1, 2, 2), channels=channels, num_classes=num_classes, attn_dim_head=8)
    diffusion = hw.GaussianDiffusion(
        unet, image_size=args.image_size, timesteps=args.timesteps,
        sampling_timesteps=args.sampling_timesteps, beta_schedule="cosine",
    )
    out = Path(args.out)
    trainer = hw.Trainer(
        diffusion, dataset, batch_size=args.batch_size, train_num_steps=args.steps, lr=args.lr,
        ema_update_after_step=min(100, args.steps // 4), save_and_sample_every=None, num_samples=16,
        results_folder=out, seed=args.seed, device="cpu" if not torch.cuda.is_available() else None,
    )
    started = time.perf_counter()
    losses = trainer.train()
    train_seconds = time.perf_counter() - started

    trainer.save_samples("final")
    checkpoint = trainer.save("final")
    first_images = torch.stack([_image_of(dataset[i]) for i in range(5)])  # (5, C, S, S) in [0, 1]
    ema_diffusion = trainer.ema.ema_model
    hw.plot_forward_process(ema_diffusion, first_images, out / "forward_process.png")
    labels = torch.arange(5) if args.class_conditional else None
    hw.plot_denoising_progress(ema_diffusion, out / "denoising_progress.png", class_labels=labels)
    hw.plot_loss_curve(losses, out / "loss_curve.png")

    tenth = max(1, len(losses) // 10)
    summary = {
        "steps": args.steps, "dataset": args.dataset, "image_size": args.image_size, "dim": args.dim,
        "timesteps": args.timesteps, "class_conditional": args.class_conditional, "seed": args.seed,
        "device": str(trainer.device), "torch_threads": torch.get_num_threads(),
        "train_seconds": round(train_seconds, 1),
        "loss_first_tenth": _mean(losses[:tenth]), "loss_last_tenth": _mean(losses[-tenth:]),
        "checkpoint": str(checkpoint),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _image_of(item) -> torch.Tensor:
    return item[0] if isinstance(item, (tuple, list)) else item


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    summary = run(args)
    print(
        f"trained {summary['steps']} steps in {summary['train_seconds']} s on {summary['device']}: "
        f"loss {summary['loss_first_tenth']:.4f} (first tenth) -> {summary['loss_last_tenth']:.4f} (last tenth)"
    )
    print(f"samples, plots, checkpoint and summary.json are in {args.out}")


if __name__ == "__main__":
    main()
