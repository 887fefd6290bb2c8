"""The generative part of `grade`: what --samples, --checkpoint and --smoke add to a grade.

    options = GenerativeOptions(samples=Path("samples/"))
    prepared = prepare(rubric, options)             # before grading: GraderError if the grader cannot score
    extra = prepared.run(submission_root, solution)  # after the numerical checks: more CheckResults

Everything the grader needs (the reference data, the checkpoint file) is checked in `prepare`, before the
numerical checks run; everything the student handed in (the samples, what the checkpoint generates) is
judged in `run`, after them, so a bad sample folder costs the metric's points and keeps every other result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError
from grader.results import CheckResult

CHECKPOINT_SEED = 0
CHECKPOINT_BATCH = 250
MAX_CHECKPOINT_BYTES = 2 << 30


@dataclass(frozen=True)
class GenerativeOptions:
    samples: Path | None = None  # a folder of generated images
    checkpoint: Path | None = None  # a Trainer checkpoint to regenerate samples from, in the sandbox
    smoke: bool = False  # the training smoke run
    reference_data: Path | None = None  # replaces the rubric's reference folder
    dataset: str | None = None  # a [[metrics.dataset]] name; default: the rubric's default_dataset
    num_samples: int | None = None  # samples regenerated from a checkpoint (default: the dataset's min_samples)
    checkpoint_timeout_s: float = 900.0

    @property
    def requested(self) -> bool:
        return self.samples is not None or self.checkpoint is not None or self.smoke


@dataclass
class PreparedGenerative:
    options: GenerativeOptions
    dataset: object = None  # bands.DatasetMetrics
    reference: object = None  # samples.ReferenceData

    def run(self, submission_root: Path, solution: Path) -> list[CheckResult]:
        from grader.generative.samples import score_samples

        results: list[CheckResult] = []
        if self.options.smoke:
            from grader.generative.smoke import smoke_results

            results += smoke_results(submission_root, solution)
        if self.options.samples is not None:
            results += score_samples(Path(self.options.samples), self.dataset, self.reference)
        if self.options.checkpoint is not None:
            results += self._checkpoint(submission_root)
        return results

    def _checkpoint(self, submission_root: Path) -> list[CheckResult]:
        import torch

        from grader.generative import smoke_probes
        from grader.generative.samples import ITEM_FUNCTION, ITEM_NUMBER, score_samples
        from grader.sandbox import Limits, Sandbox, SandboxError

        data = torch.frombuffer(bytearray(Path(self.options.checkpoint).read_bytes()), dtype=torch.uint8)
        n = self.options.num_samples or self.dataset.min_samples
        device = "cuda" if torch.cuda.is_available() else "cpu"
        limits = Limits(call_timeout_s=self.options.checkpoint_timeout_s, memory_bytes=(64 if device == "cuda" else 8) << 30,
                        total_timeout_s=self.options.checkpoint_timeout_s + 30, max_output_bytes=256 << 20)
        params = {"num_samples": n, "batch_size": CHECKPOINT_BATCH, "seed": CHECKPOINT_SEED, "device": device}
        try:
            with Sandbox(submission_root, limits=limits, probes_module=Path(smoke_probes.__file__), device=device) as sandbox:
                result = sandbox.call("checkpoint_samples", {"checkpoint": data}, params)
        except SandboxError as exc:
            raise GraderError(f"the sandbox could not regenerate samples: {' '.join(str(exc).split())[:600]}") from None
        title = f"{n} samples regenerated from {Path(self.options.checkpoint).name} (seed {CHECKPOINT_SEED})"
        if not result.ok:
            message = (f"no samples were regenerated from the checkpoint ({result.status}): {result.message} "
                       "Hand in the model-*.pt that Trainer.save wrote, for the package you handed in.")
            failed = [CheckResult("metrics.checkpoint", ITEM_NUMBER, ITEM_FUNCTION, title, 0.0, 0.0, False, message,
                                  True, ("metrics", "checkpoint"), result.seconds),
                      CheckResult("metrics.fid", ITEM_NUMBER, ITEM_FUNCTION, f"FID against {self.dataset.name}", 0.0,
                                  self.dataset.fid_points, False, message, True, ("metrics", "fid"))]
            if self.dataset.afd:
                failed.append(CheckResult("metrics.afd", ITEM_NUMBER, ITEM_FUNCTION, f"AFD on {self.dataset.name}", 0.0,
                                          self.dataset.afd_points, False, message, True, ("metrics", "afd")))
            return failed
        samples = result.outputs.get("samples")
        regenerated = CheckResult("metrics.checkpoint", ITEM_NUMBER, ITEM_FUNCTION, title, 0.0, 0.0, True,
                                  f"regenerated {0 if samples is None else len(samples)} samples in the sandbox "
                                  f"in {result.seconds:.1f} s ({device})", True, ("metrics", "checkpoint"), result.seconds)
        return [regenerated, *score_samples(samples, self.dataset, self.reference)]


def prepare(rubric, options: GenerativeOptions) -> PreparedGenerative | None:
    """Check what the grader needs for `options`; None when nothing generative was asked for."""
    if not options.requested:
        return None
    prepared = PreparedGenerative(options)
    if options.samples is not None or options.checkpoint is not None:
        from grader.generative.samples import load_reference

        if rubric.metrics is None:
            raise GraderError(f"{rubric.path} has no [metrics] section: add one (see grader/generative/bands.py) "
                              "to score samples")
        prepared.dataset = rubric.metrics.dataset(options.dataset)
        prepared.reference = load_reference(prepared.dataset, options.reference_data)
    if options.checkpoint is not None:
        path = Path(options.checkpoint)
        if not path.is_file():
            raise GraderError(f"checkpoint {path} does not exist: pass the model-*.pt file Trainer.save wrote")
        if path.stat().st_size > MAX_CHECKPOINT_BYTES:
            raise GraderError(f"checkpoint {path} is larger than {MAX_CHECKPOINT_BYTES >> 30} GB")
    return prepared
