"""`grade SUBMISSION --smoke`: a short, seeded training run of the submission, judged against the reference's.

The student's run happens in the sandbox (smoke_probes.smoke_train: the given U-Net, trained with the
submission's `p_losses` / `q_sample`, sampled with its `p_sample_loop` and DDIM); only the loss history
and the samples come back, as tensors. The reference solution runs the very same probe in this process,
under the same seed, from the same initial weights, on the same batches, t and noise, concurrently with
the sandboxed run (one thread each). Correct code therefore follows the reference's loss curve; the
checks below allow for code that is correct but computes in another order:

    finite          every loss is finite (a NaN stops the run)
    loss_falls      mean loss over the last 10% of steps <= max_loss_ratio x mean over the first 10%
    in_range        DDPM and DDIM samples are finite and within [-range_slack, 1 + range_slack]
    distance        for DDPM and for DDIM samples, the distance to the training images is at most
                    distance_factor x the reference's + distance_slack

The distance. On a GPU (64 x 64 anime faces) it is FID (grader/metrics/fid.py). On the CPU profile it is
a Fréchet distance on pixels: each image is averaged to grey and area-downsampled to the digits' native
8 x 8, and the same Fréchet formula as FID is applied to those 64-d vectors:

    PFD = ||mu_S - mu_R||^2 + Tr(Sigma_S) + Tr(Sigma_R) - 2 Tr((Sigma_S Sigma_R)^(1/2))

Why not FID there: the sklearn digits are 8 x 8 images (upsampled to 16 x 16), far from anything the
Inception network saw, and Inception on a CPU is slow enough that embedding both runs' samples and the
1,797 reference digits would take longer than the whole run is allowed. On 8 x 8 digits the pixels
themselves are the natural features (64-d, enough samples to estimate a covariance), and PFD is cheap.
A q_sample that uses alphas instead of alphas_bar lands well past the allowed distance (the tests pin
that it fails).

The reference run is deterministic, so it runs once per process (_REFERENCE_RUNS); `grade batch --smoke`
runs it once for the whole class (save_reference_run) and every grading process reuses that file
(load_reference_run, the hidden flag --smoke-reference) when it was made for the same profile and solution.

Profiles (chosen automatically: GPU when torch.cuda.is_available()); the same code path, other sizes:
    cpu-digits           16 x 16 grey digits (built in), Unet(dim=8, mults (1, 2)) 49k parameters, T = 100,
                         150 steps of 32, 64 samples (DDPM 100 steps, DDIM 20)
    gpu-anime-faces-64   64 x 64 anime faces (the named dataset anime-faces-64), Unet(dim=32, mults (1, 2, 4)),
                         T = 500, 1,500 steps of 64, 256 samples (DDIM 50 steps), FID; `grade calibrate` on a
                         GPU machine prints its time and numbers

An assignment profile (grader/assignments/) sets the run's noise schedule, objective and loss type (its
[assignment] beta_schedule, objective, loss_type), and on a GPU its [assignment.smoke] dataset and image
size; the CPU profile always trains on the built-in digits (default_profile).

A profile's dataset is "digits", a dataset name looked up under the data root (--data-root, else
$DIFFUSION_HW_DATA, else the profile's data_root, else ~/.cache/diffusion-hw/data: data/root.py), or a
path with a "/" (relative to the repository root).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from grader.errors import GraderError
from grader.generative import smoke_probes
from grader.output.results import CheckResult
from grader.sandbox import Limits, ProbeResult, SandboxError, SandboxStartError, open_sandbox

if TYPE_CHECKING:
    from grader.rubric import Assignment

ITEM_NUMBER = "S"
ITEM_FUNCTION = "training smoke run"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SmokeProfile:
    name: str
    dataset: str  # "digits", a dataset name (under the data root), or a folder (relative to the repository root)
    image_size: int
    channels: int
    unet: dict
    timesteps: int
    sampling_timesteps: int  # DDIM steps
    steps: int
    batch_size: int
    lr: float
    num_samples: int
    distance: str  # "pixel_fd" or "fid"
    device: str
    threads: int = 1
    seed: int = 0
    sample_seed: int = 1234
    max_loss_ratio: float = 0.7
    range_slack: float = 0.05
    distance_factor: float = 1.5
    distance_slack: float = 10.0
    time_limit_s: float = 300.0
    memory_bytes: int = 4 << 30  # the sandboxed run's RLIMIT_DATA; CUDA's libraries map far more than a CPU run
    reference_limit: int | None = None  # at most this many training images (None: all)
    data_root: str | None = None  # where a named dataset lives, after --data-root and $DIFFUSION_HW_DATA
    beta_schedule: str = "linear"  # the GaussianDiffusion settings both runs train with
    objective: str = "pred_noise"
    loss_type: str = "l2"

    def probe_params(self) -> dict:
        return {
            "unet": self.unet, "seed": self.seed, "sample_seed": self.sample_seed, "lr": self.lr,
            "steps": self.steps, "batch_size": self.batch_size, "num_samples": self.num_samples, "device": self.device,
            "diffusion": {"image_size": self.image_size, "timesteps": self.timesteps,
                          "sampling_timesteps": self.sampling_timesteps, "beta_schedule": self.beta_schedule,
                          "objective": self.objective, "loss_type": self.loss_type},
        }


CPU_PROFILE = SmokeProfile(
    name="cpu-digits", dataset="digits", image_size=16, channels=1,
    unet={"dim": 8, "dim_mults": [1, 2], "channels": 1, "attn_heads": 2, "attn_dim_head": 8, "resnet_block_groups": 4},
    timesteps=100, sampling_timesteps=20, steps=150, batch_size=32, lr=2e-3, num_samples=64,
    distance="pixel_fd", device="cpu",
)
GPU_PROFILE = SmokeProfile(
    name="gpu-anime-faces-64", dataset="anime-faces-64", image_size=64, channels=3,
    unet={"dim": 32, "dim_mults": [1, 2, 4], "channels": 3},
    timesteps=500, sampling_timesteps=50, steps=1500, batch_size=64, lr=2e-4, num_samples=256,
    distance="fid", device="cuda", distance_slack=20.0, time_limit_s=300.0, memory_bytes=64 << 30,
)


_REFERENCE_RUNS: dict[tuple[str, str], dict] = {}  # (repr(profile), solution folder) -> {"outputs", "seconds"}


def _reference_key(profile: SmokeProfile, solution: Path) -> tuple[str, str]:
    return repr(profile), str(Path(solution).resolve())


def default_profile(assignment: Assignment | None = None, cuda: bool | None = None) -> SmokeProfile:
    """The smoke run for this machine (GPU_PROFILE when `cuda`, default torch.cuda.is_available()), set up
    for `assignment`: its schedule, objective and loss type always; on the GPU also its [assignment.smoke]
    dataset and image size, with its channel count. The CPU profile keeps the built-in digits, whatever the
    assignment trains on, so that CPU grading never needs a dataset."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    base = GPU_PROFILE if cuda else CPU_PROFILE
    if assignment is None:
        return base
    changes: dict = {"beta_schedule": assignment.beta_schedule, "objective": assignment.objective,
                     "loss_type": assignment.loss_type}
    if cuda and assignment.smoke is not None:
        changes.update(dataset=assignment.smoke.dataset, image_size=assignment.smoke.image_size,
                       channels=assignment.channels, unet={**base.unet, "channels": assignment.channels})
    profile = replace(base, **changes)
    if profile == base:
        return base
    settings = f"{profile.beta_schedule}, {profile.objective}, {profile.loss_type}"
    where = f"{profile.dataset} {profile.image_size}x{profile.image_size}"
    return replace(profile, name=f"{base.name} for {assignment.name or 'the assignment'} ({where}; {settings})")


@dataclass
class SmokeRun:
    """What one run (the student's or the reference's) produced, and how it measured."""

    losses: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ddpm: torch.Tensor | None = None
    ddim: torch.Tensor | None = None
    distances: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""  # why there are no outputs ("" when there are)
    incomplete: bool = False  # no outputs because the grading machine failed, not the code

    def summary(self) -> dict:
        return {"seconds": round(self.seconds, 1), "first_loss": _mean(self.losses[:1]),
                "final_loss": _tail(self.losses), "steps": len(self.losses),
                "distances": {k: round(v, 3) for k, v in self.distances.items()}, "error": self.error}


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _head(losses: np.ndarray) -> float:
    return _mean(losses[: max(1, len(losses) // 10)])


def _tail(losses: np.ndarray) -> float:
    return _mean(losses[-max(1, len(losses) // 10):])


def training_folder(profile: SmokeProfile, data_root: str | Path | None = None) -> Path | None:
    """The folder the profile trains on (None for the built-in digits); GraderError saying what to put
    where when it is missing. `data_root` is --data-root (the order is in the module docstring)."""
    if profile.dataset == "digits":
        return None
    from diffusion_hw_data.errors import DatasetError
    from diffusion_hw_data.root import is_dataset_name, locate_dataset, resolve_data_root

    if is_dataset_name(profile.dataset):
        root = resolve_data_root(data_root, profile.data_root, f"the smoke profile {profile.name}'s data_root",
                                 base=REPO_ROOT)
        try:
            return locate_dataset(profile.dataset, root)
        except DatasetError as exc:
            raise GraderError(f"the smoke profile {profile.name!r} trains on {exc}") from None
    folder = Path(profile.dataset).expanduser()
    folder = folder if folder.is_absolute() else (REPO_ROOT / folder).resolve()
    if not folder.is_dir():
        raise GraderError(f"the smoke profile {profile.name!r} trains on {folder}, which is not a folder")
    return folder


def training_images(profile: SmokeProfile, data_root: str | Path | None = None) -> torch.Tensor:
    """(N, C, S, S) float32 in [0, 1]: the data both runs train on (`data_root`: see training_folder)."""
    folder = training_folder(profile, data_root)
    if folder is None:
        from diffusion_hw_data import digits_tensor

        images, _ = digits_tensor(profile.image_size, profile.channels)
    else:
        from diffusion_hw_data import load_images_tensor

        images = load_images_tensor(folder, profile.image_size)
    return images[: profile.reference_limit] if profile.reference_limit else images


def initial_weights(profile: SmokeProfile, reference_package) -> dict[str, torch.Tensor]:
    """The reference Unet's initial weights under the profile's seed: both runs start from these."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(profile.seed)
        unet = reference_package.Unet(**profile.unet)
    return {f"init.{name}": value.detach().clone() for name, value in unet.state_dict().items()}


def pixel_features(images: torch.Tensor) -> np.ndarray:
    """(N, C, S, S) in [0, 1] -> (N, 64): grey, area-averaged to 8 x 8."""
    grey = images.float().clamp(0, 1).mean(dim=1, keepdim=True)  # (N, 1, S, S)
    small = torch.nn.functional.adaptive_avg_pool2d(grey, 8)  # (N, 1, 8, 8)
    return small.reshape(len(images), -1).double().numpy() * 16  # the digits' own 0..16 scale


def distance(profile: SmokeProfile, samples: torch.Tensor, reference: torch.Tensor, reference_features=None) -> float:
    from grader.metrics.fid import compute_fid, fid_from_features

    if profile.distance == "pixel_fd":
        return fid_from_features(pixel_features(samples), reference_features if reference_features is not None
                                 else pixel_features(reference))
    return compute_fid(samples.clamp(0, 1), reference.clamp(0, 1), device=profile.device).fid


def _run_reference(profile: SmokeProfile, package, inputs: dict[str, torch.Tensor], box: dict) -> None:
    started = time.monotonic()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(profile.threads)
        with torch.random.fork_rng(devices=[]):
            box["outputs"] = smoke_probes.probe_smoke_train(package, {k: v.clone() for k, v in inputs.items()},
                                                            profile.probe_params())
    except Exception as exc:  # noqa: BLE001 -- the reference failing is the grader's problem: reported by the caller
        box["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        torch.set_num_threads(threads)
        box["seconds"] = time.monotonic() - started


def _as_run(outputs: dict[str, torch.Tensor], seconds: float) -> SmokeRun:
    run = SmokeRun(seconds=seconds)
    missing = {"losses", "ddpm", "ddim"} - outputs.keys()
    if missing:
        run.error = f"the run returned no {', '.join(sorted(missing))}"
        return run
    run.losses = outputs["losses"].double().numpy()
    run.ddpm, run.ddim = outputs["ddpm"].float(), outputs["ddim"].float()
    return run


def _shape_mismatch(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> str:
    """Why the student's run cannot be judged against the reference's ("" when its shapes are the same):
    its outputs come from the sandbox, and nothing is computed on them before this holds."""
    for name in ("losses", "ddpm", "ddim"):
        if tuple(got[name].shape) != tuple(expected[name].shape):
            return (f"the run returned {name} of shape {tuple(got[name].shape)}, not {tuple(expected[name].shape)} "
                    "like the reference's: train for the steps given and return the samples asked for")
    return ""


def run_smoke(submission_root: Path, solution: Path, profile: SmokeProfile | None = None,
              data_root: str | Path | None = None) -> tuple[SmokeRun, SmokeRun, SmokeProfile]:
    """The student's run (sandboxed) and the reference's (here), concurrently; GraderError if the reference fails.
    `data_root` is --data-root, for a profile that trains on a named dataset."""
    from grader.grading.reference import import_reference

    profile = profile or default_profile()
    package = import_reference(solution)
    images = training_images(profile, data_root)
    inputs = {"images": images, **initial_weights(profile, package)}
    key = _reference_key(profile, solution)
    box: dict = dict(_REFERENCE_RUNS.get(key, {}))  # the reference run is deterministic: once per process
    worker = threading.Thread(target=_run_reference, args=(profile, package, inputs, box), daemon=True)
    if not box:
        worker.start()
    limits = Limits(call_timeout_s=profile.time_limit_s, memory_bytes=profile.memory_bytes, threads=profile.threads,
                    total_timeout_s=profile.time_limit_s + 30)
    started = time.monotonic()
    try:
        with open_sandbox(submission_root, limits=limits, probes_module=Path(smoke_probes.__file__),
                          device=profile.device) as sandbox:
            result = sandbox.call("smoke_train", inputs, profile.probe_params(), retry_incomplete=True)
    except SandboxStartError as exc:  # twice: the machine's failure
        result = ProbeResult("smoke_train", "incomplete",
                             f"the sandbox did not start: {' '.join(str(exc).split())[:600]}")
    except SandboxError as exc:
        if worker.ident is not None:
            worker.join()
        raise GraderError(f"the sandbox could not run the smoke run: {' '.join(str(exc).split())[:600]}") from None
    student = _as_run(result.outputs, time.monotonic() - started) if result.ok else SmokeRun(
        seconds=time.monotonic() - started, error=f"{result.status}: {result.message}",
        incomplete=result.status == "incomplete")
    if worker.ident is not None:
        worker.join()
    if "error" in box:
        raise GraderError(f"the reference solution fails the smoke run ({box['error']}): fix solution/ first")
    _REFERENCE_RUNS[key] = box
    reference = _as_run(box["outputs"], box["seconds"])
    if not student.error:  # the student's outputs are judged only in the reference's shapes
        student.error = _shape_mismatch(result.outputs, box["outputs"])
    reference_features = pixel_features(images) if profile.distance == "pixel_fd" else None
    for run in (student, reference):
        if run.error:
            continue
        for sampler in ("ddpm", "ddim"):
            samples = getattr(run, sampler)
            if torch.isfinite(samples).all():
                run.distances[sampler] = distance(profile, samples, images, reference_features)
    return student, reference, profile


def _entry(check: str, title: str, passed: bool, message: str, seconds: float = 0.0,
           incomplete: bool = False) -> CheckResult:
    return CheckResult(f"smoke.{check}", ITEM_NUMBER, ITEM_FUNCTION, title, 0.0, 0.0, passed, message, True,
                       ("smoke", check), seconds, incomplete)


def judge(student: SmokeRun, reference: SmokeRun, profile: SmokeProfile) -> list[CheckResult]:
    """The four smoke checks (feedback only: 0 points each), each stating its numbers."""
    where = f"(profile {profile.name}: {profile.steps} steps of {profile.batch_size}, seed {profile.seed})"
    if student.error:
        message = f"the smoke run did not finish {where}: {student.error}"
        return [_entry(check, title, False, message, student.seconds, student.incomplete) for check, title in (
            ("finite", "the training loss stays finite"), ("loss_falls", "the training loss falls"),
            ("in_range", "samples are finite and in [0, 1]"),
            ("distance", "samples are as close to the data as the reference's"))]
    losses = student.losses
    results = []
    bad = np.flatnonzero(~np.isfinite(losses))
    results.append(_entry("finite", "the training loss stays finite", len(bad) == 0 and len(losses) == profile.steps,
                          f"loss {losses[bad[0]]} at step {bad[0] + 1}: check q_sample and p_losses for a division "
                          f"by zero or a log of a negative number {where}" if len(bad) else
                          f"all {len(losses)} losses are finite {where}", student.seconds))
    head, tail = _head(losses), _tail(losses)
    falls = math.isfinite(tail) and tail <= profile.max_loss_ratio * head
    results.append(_entry(
        "loss_falls", "the training loss falls", falls,
        f"mean loss {head:.4f} over the first 10% of steps, {tail:.4f} over the last 10% (must fall to at most "
        f"{profile.max_loss_ratio:g}x; the reference: {_head(reference.losses):.4f} -> "
        f"{_tail(reference.losses):.4f}) {where}"))
    low, high = -profile.range_slack, 1 + profile.range_slack
    ranges = []
    in_range = True
    for sampler in ("ddpm", "ddim"):
        samples = getattr(student, sampler)
        finite = bool(torch.isfinite(samples).all())
        lo, hi = (float(samples.min()), float(samples.max())) if finite else (math.nan, math.nan)
        ok = finite and low <= lo and hi <= high
        in_range &= ok
        ranges.append(f"{sampler.upper()} in [{lo:.3f}, {hi:.3f}]" if finite
                      else f"{sampler.upper()} has NaN or inf values")
    results.append(_entry("in_range", "samples are finite and in [0, 1]", in_range,
                          f"{'; '.join(ranges)} (allowed [{low:g}, {high:g}]: p_sample_loop must return "
                          f"unnormalize(x)) {where}"))
    name = "FID" if profile.distance == "fid" else "pixel Fréchet distance"
    parts, close = [], True
    for sampler in ("ddpm", "ddim"):
        ref = reference.distances.get(sampler, math.nan)
        allowed = profile.distance_factor * ref + profile.distance_slack
        got = student.distances.get(sampler, math.nan)
        ok = math.isfinite(got) and got <= allowed
        close &= ok
        parts.append(f"{sampler.upper()} {got:.2f} (reference {ref:.2f}, allowed <= {allowed:.2f})")
    results.append(_entry("distance", "samples are as close to the data as the reference's", close,
                          f"{name} to the training images: {'; '.join(parts)} {where}"))
    return results


def smoke_results(submission_root: Path, solution: Path, profile: SmokeProfile | None = None,
                  pictures: Path | None = None, data_root: str | Path | None = None) -> list[CheckResult]:
    """run_smoke, then judge; with `pictures` (the results folder), the loss curves of both runs too."""
    student, reference, profile = run_smoke(submission_root, solution, profile, data_root)
    results = judge(student, reference, profile)
    if pictures is not None:
        from grader.generative.pictures import SMOKE_PICTURE, drawn

        drawn(SMOKE_PICTURE, lambda: loss_curves_picture(Path(pictures) / SMOKE_PICTURE, student, reference, profile))
    return results


def loss_curves_picture(path: Path, student: SmokeRun, reference: SmokeRun, profile: SmokeProfile) -> Path:
    """Both runs' losses on one axis, with what loss_falls asks of the student's: the mean over the last
    10% of steps at most max_loss_ratio x the mean over the first 10%. A run that did not finish (or
    returned the wrong shapes) is not drawn; the picture says so and the smoke checks say why."""
    from grader.generative.pictures import LossLimit, smoke_picture

    losses = None if student.error else student.losses
    limit = None
    if losses is not None and len(losses) and math.isfinite(_head(losses)):
        last = max(1, len(losses) // 10)
        limit = LossLimit(len(losses) - last + 1, len(losses), profile.max_loss_ratio * _head(losses),
                          f"loss_falls: the last 10% must average <= {profile.max_loss_ratio:g} x the first 10%")
    note = "" if losses is not None else (
        "your run did not finish" + (" (the grading machine failed)" if student.incomplete else "")
        + ": see the smoke checks")
    return smoke_picture(path, losses, reference.losses, limit=limit, student_note=note,
                         title=f"training smoke run ({profile.name}: {profile.steps} steps of {profile.batch_size}, "
                               f"seed {profile.seed})")


def _reference_alone(profile: SmokeProfile, solution: Path,
                     data_root: str | Path | None = None) -> tuple[dict, torch.Tensor]:
    """The reference's run on its own, here: ({"outputs", "seconds"}, the training images); GraderError if it fails."""
    from grader.grading.reference import import_reference

    package = import_reference(solution)
    images = training_images(profile, data_root)
    box: dict = {}
    _run_reference(profile, package, {"images": images, **initial_weights(profile, package)}, box)
    if "error" in box:
        raise GraderError(f"the reference solution fails the smoke run ({box['error']}): fix solution/ first")
    return box, images


def reference_smoke_numbers(solution: Path, profile: SmokeProfile | None = None,
                            data_root: str | Path | None = None) -> dict:
    """The reference solution's smoke run alone (for `grade calibrate`): its numbers and time."""
    profile = profile or default_profile()
    box, images = _reference_alone(profile, solution, data_root)
    run = _as_run(box["outputs"], box["seconds"])
    reference_features = pixel_features(images) if profile.distance == "pixel_fd" else None
    for sampler in ("ddpm", "ddim"):
        run.distances[sampler] = distance(profile, getattr(run, sampler), images, reference_features)
    return {"profile": {k: v for k, v in asdict(profile).items()}, "distance": profile.distance, **run.summary()}


def save_reference_run(path: Path, solution: Path, profile: SmokeProfile | None = None,
                       data_root: str | Path | None = None) -> SmokeProfile:
    """Run the reference's smoke run here and write its outputs to `path` (safetensors), so that grading
    processes reuse it (`grade batch --smoke`); GraderError if the reference fails."""
    from safetensors.torch import save_file

    profile = profile or default_profile()
    box, _ = _reference_alone(profile, solution, data_root)
    _REFERENCE_RUNS[_reference_key(profile, solution)] = box
    profile_key, solution_key = _reference_key(profile, solution)
    save_file({name: value.contiguous() for name, value in box["outputs"].items()}, str(path),
              metadata={"profile": profile_key, "solution": solution_key, "seconds": repr(box["seconds"])})
    return profile


def load_reference_run(path: Path, solution: Path, profile: SmokeProfile | None = None) -> bool:
    """Reuse the run save_reference_run wrote to `path` when it was made for `profile` and `solution`
    (a compute node with a GPU picks another profile than a login node without: then False, and
    run_smoke runs the reference itself)."""
    from safetensors import safe_open

    profile = profile or default_profile()
    key = _reference_key(profile, solution)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if (metadata.get("profile"), metadata.get("solution")) != key:
                return False
            outputs = {name: handle.get_tensor(name) for name in handle.keys()}
            seconds = float(metadata.get("seconds", "nan"))
    except Exception as exc:  # noqa: BLE001 -- OSError, or safetensors' own error for a damaged file
        raise GraderError(f"the smoke reference file {path} cannot be read ({exc}): "
                          "run `grade batch --smoke` again") from None
    _REFERENCE_RUNS[key] = {"outputs": outputs, "seconds": seconds}
    return True
