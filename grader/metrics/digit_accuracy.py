"""Class-conditional accuracy: does a sample drawn for digit c look like a c to a digit classifier?

A class-conditional model is asked for samples of each class c in 0..9; a small CNN, trained on the
built-in digits (data/digits.py), reads every sample and

    correct_c  = #{samples handed in as class c that the classifier calls c}
    n_c        = #{samples handed in as class c}
    acc_c      = correct_c / n_c                              (per class)
    accuracy   = (1/10) sum_c acc_c                           (overall: the mean of the classes, so
                                                               over-producing an easy class buys nothing;
                                                               with equal n_c it is sum_c correct_c / N)

Chance is 0.1 (samples that ignore their label), the classifier's accuracy on held-out real digits is
the ceiling (`calibration`; `grade calibrate digits` prints both, and the rubric's bands go between).

The classifier. Every image, (N, C, S, S) with C = 1 or 3, is quantised to 8 bits (images.to_uint8,
so a tensor and the PNGs saved from it are the same images), turned grey by the mean over channels,
and area-resized to WORKING_SIZE x WORKING_SIZE (bilinearly upsampled when S is smaller), then

    conv 3x3 (1 -> 16) - ReLU - max-pool 2 - conv 3x3 (16 -> 32) - ReLU - max-pool 2
    - flatten (32 * 4 * 4) - linear 64 - ReLU - linear 10                     -> logits (N, 10)

It is trained at the size the samples are scored at, on the digits at that size (quantised like
samples), from a fixed seed, on one CPU thread, with Adam and random shifts of up to one working pixel. Each
class's every HOLD_OUT_EVERY-th digit (in scikit-learn's order) is held out of training: those are
the real digits the ceiling is measured on.

The weights are cached in `$DIFFUSION_HW_CACHE/digit-classifier/` (cache.py), one `.pt` per key:
sha256 of the training digits' 8-bit pixels and shape, the size, the seed, the network's layers, the
training settings and torch's major.minor version. Nothing is downloaded. A cached classifier is
checked on the held-out digits like a fresh one; one below MIN_HELD_OUT_ACCURACY is retrained, and a
freshly trained one below it raises MetricUnavailable (the environment, not the samples, is at fault).

The samples come as a folder with one subfolder per class, `0/` ... `9/`, each holding only images of
one size (hidden files such as .DS_Store are skipped), or as an (N, C, S, S) tensor and (N,) labels.
Anything else (a missing or empty class, a stray file or folder, a non-image, the wrong size, NaN)
raises ConditionalSamplesRefused, a MetricRefused whose one-line message says what to hand in.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cache import cache_folder, read_entry, write_entry
from .errors import MetricRefused, MetricUnavailable
from .images import IMAGE_EXTENSIONS, ImageSource, to_uint8

CACHE_FORMAT = "diffusion-hw-digit-classifier-v1"
CACHE_KIND = "digit-classifier"
NUM_CLASSES = 10
CLASS_NAMES = tuple(str(c) for c in range(NUM_CLASSES))  # the class folders: 0/ ... 9/
WORKING_SIZE = 16
SEED = 0
HOLD_OUT_EVERY = 5
EPOCHS = 12
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
MAX_SHIFT = 1  # working pixels
MIN_HELD_OUT_ACCURACY = 0.9
SHUFFLE_SEED = 1
MAX_FILES = 20_000


class ConditionalSamplesRefused(MetricRefused):
    """The class-conditional samples cannot be scored as handed in; the message says what to hand in."""


def hand_in(image_size: int | None) -> str:
    """What to hand in, said at the end of every refusal."""
    size = f"{image_size}x{image_size} " if image_size else ""
    return (f"hand in one folder per digit, {CLASS_NAMES[0]}/ to {CLASS_NAMES[-1]}/, each holding only that "
            f"digit's {size}PNG samples")


def _refuse(problem: str, image_size: int | None) -> ConditionalSamplesRefused:
    return ConditionalSamplesRefused(f"{' '.join(problem.split())}: {hand_in(image_size)}")


# ---------------------------------------------------------------------------- the classifier


class DigitNet(nn.Module):
    """(N, 1, WORKING_SIZE, WORKING_SIZE) float in [0, 1] -> logits (N, 10)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 16, 8, 8)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 4, 4)
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * (WORKING_SIZE // 4) ** 2, 64), nn.ReLU(),
                                  nn.Linear(64, NUM_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_working(images_u8: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) uint8 -> (N, 1, WORKING_SIZE, WORKING_SIZE) float32 in [0, 1]: grey, then area-resized."""
    grey = images_u8.float().div(255.0).mean(dim=1, keepdim=True)  # (N, 1, S, S)
    size = grey.shape[-1]
    if size > WORKING_SIZE:
        return F.adaptive_avg_pool2d(grey, WORKING_SIZE)
    if size < WORKING_SIZE:
        return F.interpolate(grey, size=(WORKING_SIZE, WORKING_SIZE), mode="bilinear", align_corners=False)
    return grey


def held_out_mask(labels: torch.Tensor) -> torch.Tensor:
    """(N,) bool: each class's 0th, HOLD_OUT_EVERY-th, ... digit (in the given order) is held out."""
    mask = torch.zeros(len(labels), dtype=torch.bool)
    for c in range(NUM_CLASSES):
        indices = (labels == c).nonzero().flatten()
        mask[indices[::HOLD_OUT_EVERY]] = True
    return mask


def real_digits(image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The built-in digits at `image_size`, as samples arrive: ((N, 3, S, S) uint8, (N,) int64 labels)."""
    from diffusion_hw_data import digits_tensor

    images, labels = digits_tensor(image_size, channels=3)
    return to_uint8(images, name="digits"), labels


def _training_settings() -> str:
    return (f"working_size={WORKING_SIZE};seed={SEED};hold_out_every={HOLD_OUT_EVERY};epochs={EPOCHS};"
            f"batch_size={BATCH_SIZE};lr={LEARNING_RATE!r};max_shift={MAX_SHIFT};adam")


def classifier_key(images_u8: torch.Tensor, image_size: int) -> str:
    """sha256 of everything the weights depend on: the training digits (8-bit pixels and shape), the size,
    the seed and training settings, the network's layers and torch's major.minor version."""
    torch_version = ".".join(torch.__version__.split("+")[0].split(".")[:2])
    digest = hashlib.sha256()
    for part in (CACHE_FORMAT, f"image_size={image_size}", _training_settings(), repr(DigitNet()),
                 f"torch={torch_version}", repr(tuple(images_u8.shape))):
        digest.update(part.encode() + b"\0")
    digest.update(images_u8.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _shifted(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each (1, W, W) image moved by up to MAX_SHIFT pixels in y and x, zeros shifted in."""
    width = batch.shape[-1]
    padded = F.pad(batch, (MAX_SHIFT,) * 4)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (len(batch), 2), generator=generator)
    shifted = torch.empty_like(batch)
    for dy in range(2 * MAX_SHIFT + 1):
        for dx in range(2 * MAX_SHIFT + 1):
            chosen = (offsets[:, 0] == dy) & (offsets[:, 1] == dx)
            shifted[chosen] = padded[chosen, :, dy: dy + width, dx: dx + width]
    return shifted


def train_network(images_u8: torch.Tensor, labels: torch.Tensor) -> DigitNet:
    """A DigitNet trained on (N, C, S, S) uint8 digits, deterministically (fixed seed, CPU)."""
    inputs = to_working(images_u8)
    threads = torch.get_num_threads()
    # One thread: the sums run in one order (the same weights on any machine with this torch), and a
    # network this small trains faster without threads competing for a busy machine's cores.
    torch.set_num_threads(1)
    try:
        return _train(inputs, labels)
    finally:
        torch.set_num_threads(threads)


def _train(inputs: torch.Tensor, labels: torch.Tensor) -> DigitNet:
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(SEED)
        network = DigitNet()
        generator = torch.Generator().manual_seed(SEED)
        optimiser = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
        network.train()
        for _ in range(EPOCHS):
            order = torch.randperm(len(inputs), generator=generator)
            for start in range(0, len(order), BATCH_SIZE):
                batch = order[start: start + BATCH_SIZE]
                loss = F.cross_entropy(network(_shifted(inputs[batch], generator)), labels[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
    return network.eval()


def _predict(network: DigitNet, images_u8: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([network(to_working(images_u8[i: i + batch_size])).argmax(dim=1)
                          for i in range(0, len(images_u8), batch_size)])


@dataclass(frozen=True, eq=False)
class DigitClassifier:
    """The trained classifier for S x S samples; `held_out_accuracy` is its accuracy on the held-out digits."""

    image_size: int
    network: DigitNet = field(repr=False)
    key: str
    held_out_accuracy: float

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, S, S) uint8 (or float in [0, 1]) -> predicted digits (N,) int64."""
        return _predict(self.network, to_uint8(images))


def _read_network(path: Path, key: str) -> DigitNet:
    data = torch.load(path, map_location="cpu", weights_only=True)
    if data.get("format") != CACHE_FORMAT or data.get("key") != key:
        raise ValueError("format or key mismatch")
    network = DigitNet()
    network.load_state_dict(data["state_dict"])  # strict: missing or misshapen weights raise
    if not all(torch.isfinite(p).all() for p in network.parameters()):
        raise ValueError("non-finite weights")
    return network.eval()


def digit_classifier(image_size: int = 32, *, cache_dir: str | Path | None = None,
                     use_cache: bool = True) -> DigitClassifier:
    """The classifier for image_size x image_size samples: from the cache, or trained here and cached."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8 (the digits' native size), got {image_size!r}")
    images, labels = real_digits(image_size)
    held_out = held_out_mask(labels)
    train_images, train_labels = images[~held_out], labels[~held_out]
    key = classifier_key(train_images, image_size)
    path = (Path(cache_dir) if cache_dir is not None else cache_folder(CACHE_KIND)) / f"classifier-{key}.pt"

    def accuracy(network: DigitNet) -> float:
        return float((_predict(network, images[held_out]) == labels[held_out]).float().mean())

    def read(p: Path) -> DigitClassifier:
        network = _read_network(p, key)
        if (score := accuracy(network)) < MIN_HELD_OUT_ACCURACY:  # checked like a fresh one: retrained if low
            raise ValueError(f"held-out accuracy {score:.3f} < {MIN_HELD_OUT_ACCURACY}")
        return DigitClassifier(image_size, network, key, score)

    if use_cache and (cached := read_entry(path, read, "digit classifier")) is not None:
        return cached
    network = train_network(train_images, train_labels)
    if (score := accuracy(network)) < MIN_HELD_OUT_ACCURACY:
        raise MetricUnavailable(
            f"the digit classifier trained here reaches only {score:.1%} on held-out real digits (at least "
            f"{MIN_HELD_OUT_ACCURACY:.0%} expected): reinstall the project's requirements "
            "(pip install -r requirements.txt) so that torch and scikit-learn match, then grade again")
    if use_cache:
        state = {"format": CACHE_FORMAT, "key": key, "state_dict": network.state_dict()}
        write_entry(path, lambda handle: torch.save(state, handle), "digit classifier")
    return DigitClassifier(image_size, network, key, score)


# ---------------------------------------------------------------------------- the samples


def class_folder_files(folder: str | Path, image_size: int | None = None) -> tuple[list[Path], list[int]]:
    """The image files of a class-conditional folder and their classes: (files sorted by path, labels).

    `folder` must hold exactly the folders 0/ ... 9/, each holding image files only (hidden files are
    skipped); ConditionalSamplesRefused otherwise, naming the first problem. The files are not opened.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise _refuse(f"{folder} does not exist or is not a folder", image_size)
    files: list[Path] = []
    labels: list[int] = []
    entries = sorted(e for e in os.listdir(folder) if not e.startswith("."))
    for name in entries:
        path = folder / name
        if name not in CLASS_NAMES:
            kind = "folder" if path.is_dir() and not path.is_symlink() else "file"
            raise _refuse(f"{folder} holds the {kind} {name!r}, which is not a class folder", image_size)
        if path.is_symlink() or not path.is_dir():
            raise _refuse(f"{folder}/{name} is not a folder", image_size)
    missing = [c for c in CLASS_NAMES if c not in entries]
    if missing:
        raise _refuse(f"{folder} has no class folder {', '.join(f'{c}/' for c in missing)}", image_size)
    for label, name in enumerate(CLASS_NAMES):
        members = sorted(e for e in os.listdir(folder / name) if not e.startswith("."))
        if not members:
            raise _refuse(f"the class folder {name}/ is empty", image_size)
        for member in members:
            path = folder / name / member
            if path.is_symlink() or not path.is_file():
                raise _refuse(f"{name}/{member} is not an image file (a folder or a link)", image_size)
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                raise _refuse(f"{name}/{member} is not an image ({', '.join(sorted(IMAGE_EXTENSIONS))})", image_size)
            files.append(path)
            labels.append(label)
        if len(files) > MAX_FILES:
            raise _refuse(f"{folder} holds more than {MAX_FILES} images", image_size)
    return files, labels


def load_class_folder(folder: str | Path, image_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A class-conditional folder read in this process: ((N, 3, H, W) uint8, (N,) int64 labels).

    For trusted folders (a library call, calibration); `grade` decodes a student's files in the sandbox.
    """
    from PIL import Image

    files, labels = class_folder_files(folder, image_size)
    arrays = []
    for path in files:
        try:
            with Image.open(path) as image:
                arrays.append(np.asarray(image.convert("RGB")))  # (H, W, 3) uint8
        except Exception as exc:  # noqa: BLE001 - UnidentifiedImageError, truncated files, decoder errors
            shown = path.relative_to(folder)
            raise _refuse(f"{shown} is not a readable image ({type(exc).__name__})", image_size) from None
        if arrays[-1].shape != arrays[0].shape:
            raise _refuse(f"{path.relative_to(folder)} is {arrays[-1].shape[1]}x{arrays[-1].shape[0]} but "
                          f"{files[0].relative_to(folder)} is {arrays[0].shape[1]}x{arrays[0].shape[0]}", image_size)
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)
    return images, torch.tensor(labels, dtype=torch.int64)


def check_labelled_samples(images, labels, image_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate samples and their labels: ((N, 3, S, S) uint8, (N,) int64), or ConditionalSamplesRefused.

    images: (N, C, H, W), C = 1 or 3, uint8 or float in [0, 1]; labels: N integers in 0..9 covering every
    class; image_size: the size the samples must have (None: their own, at least 8).
    """
    try:
        images_u8 = to_uint8(images, name="the samples")
    except (TypeError, ValueError) as exc:
        raise _refuse(str(exc), image_size) from None
    height, width = images_u8.shape[2:]
    if height != width or (image_size is not None and height != image_size) or height < 8:
        wanted = f"{image_size}x{image_size}" if image_size is not None else "square and at least 8x8"
        raise _refuse(f"the samples are {width}x{height} but must be {wanted}", image_size)
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, torch.Tensor) or labels.dtype.is_floating_point or labels.dtype == torch.bool \
            or labels.is_complex() or labels.shape != (len(images_u8),):
        got = (f"{labels.dtype} of shape {tuple(labels.shape)}" if isinstance(labels, torch.Tensor)
               else type(labels).__name__)
        raise _refuse(f"the labels are {got}, not {len(images_u8)} integers (one per sample)", image_size)
    labels = labels.detach().cpu().to(torch.int64)
    if ((labels < 0) | (labels >= NUM_CLASSES)).any():
        raise _refuse(f"the labels hold {sorted(set(labels[(labels < 0) | (labels >= NUM_CLASSES)].tolist()))[:5]}, "
                      f"outside 0..{NUM_CLASSES - 1}", image_size)
    missing = [c for c in range(NUM_CLASSES) if not (labels == c).any()]
    if missing:
        raise _refuse(f"no sample is labelled {', '.join(map(str, missing))}", image_size)
    return images_u8, labels


@dataclass(frozen=True)
class AccuracyResult:
    """accuracy = mean of per_class; per_class[c] = correct[c] / counts[c] for the samples labelled c."""

    accuracy: float
    per_class: tuple[float, ...]
    counts: tuple[int, ...]
    correct: tuple[int, ...]
    image_size: int

    @property
    def n(self) -> int:
        return sum(self.counts)

    def table(self) -> str:
        """One line: "0: 9/10, 1: 10/10, ...", the classes in order."""
        return ", ".join(f"{c}: {k}/{n}" for c, (k, n) in enumerate(zip(self.correct, self.counts)))


def accuracy_of(predicted: torch.Tensor, labels: torch.Tensor, image_size: int) -> AccuracyResult:
    """The AccuracyResult of predictions (N,) against labels (N,), every class present."""
    counts = tuple(int((labels == c).sum()) for c in range(NUM_CLASSES))
    correct = tuple(int(((labels == c) & (predicted == c)).sum()) for c in range(NUM_CLASSES))
    per_class = tuple(k / n for k, n in zip(correct, counts))
    return AccuracyResult(float(np.mean(per_class)), per_class, counts, correct, image_size)


def conditional_accuracy(samples: ImageSource, labels=None, *, image_size: int | None = None,
                         classifier: DigitClassifier | None = None, cache_dir: str | Path | None = None,
                         use_cache: bool = True) -> AccuracyResult:
    """The classifier's accuracy on class-conditional samples, per class and overall (module docstring).

    samples: a folder of class folders 0/ ... 9/ (labels None), or (N, C, S, S) images with `labels` (N,).
    image_size: the size the samples must have (default: the classifier's, else the samples' own).
    """
    if isinstance(samples, (str, Path)):
        if labels is not None:
            raise ValueError("a folder's labels are its class folders: pass labels only with a tensor")
        images, labels = load_class_folder(samples, image_size)
    elif labels is None:
        raise _refuse("the samples came without labels", image_size)
    else:
        images = samples
    if image_size is None and classifier is not None:
        image_size = classifier.image_size
    images_u8, labels = check_labelled_samples(images, labels, image_size)
    size = int(images_u8.shape[-1])
    if classifier is None:
        classifier = digit_classifier(size, cache_dir=cache_dir, use_cache=use_cache)
    elif classifier.image_size != size:
        raise ValueError(f"the classifier reads {classifier.image_size}x{classifier.image_size} images, "
                         f"the samples are {size}x{size}")
    return accuracy_of(_predict(classifier.network, images_u8), labels, size)


def calibration(image_size: int, *, cache_dir: str | Path | None = None, use_cache: bool = True) -> dict:
    """The references the rubric's accuracy bands are set between, as a JSON-ready dict:

    held_out          the classifier on the held-out real digits, with their true labels (the ceiling:
                      what samples indistinguishable from real digits score)
    shuffled_labels   the same digits with their labels randomly permuted (fixed seed): chance, what
                      samples that ignore their class score
    """
    classifier = digit_classifier(image_size, cache_dir=cache_dir, use_cache=use_cache)
    images, labels = real_digits(image_size)
    held_out = held_out_mask(labels)
    images, labels = images[held_out], labels[held_out]
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(SHUFFLE_SEED))]
    out = {"image_size": image_size, "classifier_key": classifier.key[:16], "held_out_digits": len(labels)}
    for name, truth in (("held_out", labels), ("shuffled_labels", shuffled)):
        result = conditional_accuracy(images, truth, classifier=classifier)
        out[name] = {"accuracy": round(result.accuracy, 4), "per_class": [round(a, 4) for a in result.per_class]}
    return out
