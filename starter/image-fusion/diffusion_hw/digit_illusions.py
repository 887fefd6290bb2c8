"""Visual anagrams of handwritten digits, scored by a classifier (given code, no TODOs).

A stand-in for DeepFloyd IF that runs on a laptop CPU: a small class-conditional diffusion model
trained on the built-in 8 x 8 digits (upsampled), with prompts = digit classes and
classifier-free guidance. An anagram (a, b) should read as digit a upright and as digit b turned
by 180 degrees. A small CNN trained on the same digits reads each view; the illusion score is the
per-view accuracy:

    view 1: classifier(x)            == a        chance 10 %
    view 2: classifier(rot180(x))    == b        chance 10 %

Pairs avoid digits that look alike turned around (0, 1, 8 are nearly symmetric; a 6 turned is a 9),
so that a plain picture of a cannot pass view 2 by accident; the baseline (ordinary conditional
samples of a, read through both views) shows how often it does anyway.

    python -m diffusion_hw.digit_illusions --steps 2000 --out runs/digit-illusions

The run prints (and writes as JSON) the anagrams' per-view accuracies beside the baseline's: an
illusion works when both views sit well above chance and view 2 well above the baseline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from .gaussian_diffusion import GaussianDiffusion
from .illusions import DDIMSampler, DiffusionNoiseEstimator, fused_denoise_loop
from .trainer import Trainer
from .unet import Unet
from .views import IdentityView, Rotate180View, View

NUM_DIGITS = 10
ANAGRAM_DIGITS = (2, 3, 4, 5, 6, 7, 9)  # 0, 1, 8 look (nearly) the same turned by 180 degrees
LOOKALIKE_PAIRS = {(6, 9), (9, 6)}  # a 6 turned by 180 degrees is a 9


def anagram_pairs(n: int, seed: int = 0) -> list[tuple[int, int]]:
    """n (upright, turned) digit pairs, a != b, both in ANAGRAM_DIGITS, not (6, 9) or (9, 6).

    Cycles through the 40 allowed pairs in a seeded order, so n <= 40 gives distinct pairs."""
    allowed = [
        (a, b) for a, b in itertools.permutations(ANAGRAM_DIGITS, 2) if (a, b) not in LOOKALIKE_PAIRS
    ]
    order = torch.randperm(len(allowed), generator=torch.Generator().manual_seed(seed)).tolist()
    return [allowed[order[i % len(allowed)]] for i in range(n)]


# ---------------------------------------------------------------------------------- the classifier


class DigitClassifier(nn.Module):
    """A few-layer CNN for (B, 1, S, S) digits in [0, 1] (S a multiple of 4); returns (B, 10) logits."""

    def __init__(self, image_size: int = 16, width: int = 32) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"DigitClassifier needs an image_size that is a multiple of 4, got {image_size}")
        self.image_size = image_size
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * (image_size // 4) ** 2, 128), nn.ReLU(), nn.Linear(128, NUM_DIGITS),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x * 2 - 1))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) in [0, 1] -> (B,) int64 digits."""
        self.eval()
        return self(x).argmax(dim=1)


def _digits(image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    from diffusion_hw_data.digits import digits_tensor  # the harness's built-in dataset (sklearn's digits)

    return digits_tensor(image_size, channels=1)


def split_digits(image_size: int = 16, test_fraction: float = 0.2, seed: int = 0):
    """A seeded train/test split of the 1,797 digits: ((x_train, y_train), (x_test, y_test))."""
    images, labels = _digits(image_size)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(test_fraction * len(labels)))
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])


def train_digit_classifier(
    image_size: int = 16, epochs: int = 15, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
) -> tuple[DigitClassifier, float]:
    """Train a DigitClassifier on 80 % of the digits; return it and its accuracy on the other 20 %."""
    (x_train, y_train), (x_test, y_test) = split_digits(image_size, seed=seed)
    torch.manual_seed(seed)
    model = DigitClassifier(image_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(y_train), generator=generator).split(batch_size):
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    accuracy = (model.predict(x_test) == y_test).float().mean().item()
    return model.eval(), accuracy


# ---------------------------------------------------------------------------------- the diffusion model


@dataclass
class DigitIllusionConfig:
    """Everything the measurement depends on. `quick()` is the seconds-long version the tests run."""

    image_size: int = 8  # the digits' native size; 16 (dim_mults (1, 2, 4)) is slower and scores no higher
    dim: int = 16
    dim_mults: tuple[int, ...] = (1, 2)
    timesteps: int = 1000
    beta_schedule: str = "cosine"
    train_steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    sampling_timesteps: int = 50
    guidance_scale: float = 3.0
    num_anagrams: int = 20
    classifier_epochs: int = 15
    seed: int = 0
    threads: int | None = None  # torch CPU threads (None: torch's default); 1 is best on a busy machine
    progress: bool = False

    @classmethod
    def quick(cls) -> DigitIllusionConfig:
        return cls(image_size=8, dim=16, dim_mults=(1, 2), timesteps=100, train_steps=30, batch_size=32,
                   sampling_timesteps=5, num_anagrams=4, classifier_epochs=10)


def train_digit_diffusion(config: DigitIllusionConfig) -> GaussianDiffusion:
    """Train a class-conditional GaussianDiffusion on all digits with the Trainer; return its EMA copy."""
    images, labels = _digits(config.image_size)
    torch.manual_seed(config.seed)
    unet = Unet(config.dim, config.dim_mults, channels=1, num_classes=NUM_DIGITS)
    diffusion = GaussianDiffusion(
        unet, image_size=config.image_size, timesteps=config.timesteps,
        sampling_timesteps=config.sampling_timesteps, beta_schedule=config.beta_schedule,
    )
    trainer = Trainer(
        diffusion, TensorDataset(images, labels), batch_size=config.batch_size,
        train_num_steps=config.train_steps, lr=config.lr, save_and_sample_every=None, num_samples=0,
        ema_update_every=1, ema_decay=0.995, ema_update_after_step=min(100, config.train_steps // 10),
        seed=config.seed, device="cpu", progress=config.progress,
    )
    trainer.train()
    return trainer.ema.ema_model.eval()


@torch.no_grad()
def digit_anagrams(
    diffusion: GaussianDiffusion, pairs: list[tuple[int, int]], *, guidance_scale: float = 3.0,
    turned_view: View | None = None, seed: int = 0,
) -> torch.Tensor:
    """One anagram per (a, b) pair: (N, 1, S, S) images in [0, 1], digit a upright, b through turned_view.

    The pairs are denoised as one batch; each image has its own prompts, so the estimator is called
    per image (a batch of one) inside a vectorised wrapper."""
    views = [IdentityView(), turned_view or Rotate180View()]
    sampler = DDIMSampler(diffusion, eta=0.0)
    estimator = _PerImagePrompts(DiffusionNoiseEstimator(diffusion))
    size = diffusion.image_size
    noise = torch.randn(len(pairs), 1, size, size, generator=torch.Generator().manual_seed(seed))
    prompts = [torch.tensor([a for a, _ in pairs]), torch.tensor([b for _, b in pairs])]
    x = fused_denoise_loop(estimator, sampler, views, prompts, noise, guidance_scale=guidance_scale)
    return diffusion.unnormalize(x).clamp(0.0, 1.0)


class _PerImagePrompts:
    """Lets a prompt be a (B,) tensor of class indices, one per image of the batch."""

    def __init__(self, estimator: DiffusionNoiseEstimator) -> None:
        self.estimator = estimator

    def __call__(self, x_t: torch.Tensor, t: int, prompt: torch.Tensor | None) -> torch.Tensor:
        d = self.estimator.diffusion
        labels = torch.full((x_t.shape[0],), d.num_classes, dtype=torch.long) if prompt is None else prompt
        t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long)
        return d.model_predictions(x_t, t_batch, labels.to(x_t.device)).pred_noise


@torch.no_grad()
def per_view_accuracy(
    classifier: DigitClassifier, images: torch.Tensor, pairs: list[tuple[int, int]], views: list[View] | None = None,
) -> dict[str, float]:
    """Fraction of images whose view i the classifier reads as pair[i]; plus "both" (all views right)."""
    views = views or [IdentityView(), Rotate180View()]
    correct = []
    for i, view in enumerate(views):
        target = torch.tensor([pair[i] for pair in pairs])
        correct.append(classifier.predict(view.view(images)) == target)
    scores = {f"view_{i + 1}": c.float().mean().item() for i, c in enumerate(correct)}
    scores["both"] = torch.stack(correct).all(dim=0).float().mean().item()
    return scores


# ---------------------------------------------------------------------------------- the measurement


@dataclass
class DigitIllusionReport:
    config: dict
    classifier_test_accuracy: float
    train_seconds: float  # wall clock
    train_cpu_seconds: float  # CPU time of this process (all threads): less sensitive to other load
    sample_seconds: float
    pairs: list[tuple[int, int]]
    anagram: dict[str, float]  # per-view accuracy of the anagrams
    baseline: dict[str, float]  # the same read-out for plain conditional samples of the upright digit
    samples_accuracy: float  # plain conditional samples read upright, all ten classes
    chance: float = 1 / NUM_DIGITS
    notes: list[str] = field(default_factory=list)


def measure_digit_illusions(
    config: DigitIllusionConfig | None = None, out: str | Path | None = None
) -> DigitIllusionReport:
    """Train the classifier and the diffusion model, make the anagrams, score them (and a baseline)."""
    config = config or DigitIllusionConfig()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    classifier, classifier_accuracy = train_digit_classifier(
        config.image_size, config.classifier_epochs, seed=config.seed
    )

    start, start_cpu = time.perf_counter(), time.process_time()
    diffusion = train_digit_diffusion(config)
    train_seconds, train_cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu

    pairs = anagram_pairs(config.num_anagrams, seed=config.seed)
    start = time.perf_counter()
    anagrams = digit_anagrams(diffusion, pairs, guidance_scale=config.guidance_scale, seed=config.seed)
    sample_seconds = time.perf_counter() - start

    torch.manual_seed(config.seed + 1)
    upright = torch.tensor([a for a, _ in pairs])
    plain = diffusion.sample(len(pairs), class_labels=upright, guidance_scale=config.guidance_scale).clamp(0, 1)
    classes = torch.arange(2 * NUM_DIGITS) % NUM_DIGITS
    samples = diffusion.sample(len(classes), class_labels=classes, guidance_scale=config.guidance_scale).clamp(0, 1)
    samples_accuracy = (classifier.predict(samples) == classes).float().mean().item()

    report = DigitIllusionReport(
        config=asdict(config), classifier_test_accuracy=classifier_accuracy, train_seconds=train_seconds,
        train_cpu_seconds=train_cpu_seconds,
        sample_seconds=sample_seconds, pairs=pairs,
        anagram=per_view_accuracy(classifier, anagrams, pairs),
        baseline=per_view_accuracy(classifier, plain, pairs), samples_accuracy=samples_accuracy,
    )
    if out is not None:
        _save(Path(out), report, anagrams, plain)
    return report


def _save(folder: Path, report: DigitIllusionReport, anagrams: torch.Tensor, plain: torch.Tensor) -> None:
    from torchvision.utils import save_image

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(asdict(report), indent=2))
    # row 1: the anagrams upright; row 2: the same turned by 180 degrees; row 3: the plain baseline
    grid = torch.cat([anagrams, Rotate180View().view(anagrams), plain])
    save_image(grid, folder / "anagrams.png", nrow=len(anagrams), padding=1, pad_value=0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=DigitIllusionConfig.train_steps)
    parser.add_argument("--guidance", type=float, default=DigitIllusionConfig.guidance_scale)
    parser.add_argument("--anagrams", type=int, default=DigitIllusionConfig.num_anagrams)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--progress", action="store_true", help="show the training progress bar")
    parser.add_argument("--quick", action="store_true", help="the seconds-long test configuration")
    parser.add_argument("--out", default=None, help="folder for report.json and anagrams.png")
    args = parser.parse_args(argv)
    config = DigitIllusionConfig.quick() if args.quick else DigitIllusionConfig(
        train_steps=args.steps, guidance_scale=args.guidance, num_anagrams=args.anagrams, seed=args.seed,
        threads=args.threads, progress=args.progress,
    )
    print(json.dumps(asdict(measure_digit_illusions(config, args.out)), indent=2))


if __name__ == "__main__":
    main()
