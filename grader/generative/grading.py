"""The generative part of `grade`: what --samples, --checkpoint and --smoke add to a grade.

    options = GenerativeOptions(samples=Path("samples/"))
    prepared = prepare(rubric, options)             # before grading: GraderError if the grader cannot score
    extra = prepared.run(submission_root, solution, source, pictures=out)  # after the numerical checks:
                                                    # more CheckResults, and pictures in out/ (pictures.py)

Everything the grader needs (the reference data, the smoke run's training data, the checkpoint file) is
checked in `prepare`, before the numerical checks run; everything the student handed in (the samples,
what the checkpoint generates) is judged in `run`, after them, so a bad sample folder costs the metric's
points and keeps every other result. Named data sets are found under the data root: --data-root, else
$DIFFUSION_HW_DATA, else the rubric's or smoke profile's data_root, else ~/.cache/diffusion-hw/data
(data/root.py).

--samples / --checkpoint name one folder or file for one `grade`; --samples-in / --checkpoint-in name
a path inside each submission (`source`: the folder holding its diffusion_hw/; see handed_in.py), which
is how `grade batch` scores a whole class. A submission without it scores 0 on the metrics, with a
message saying what to hand in. --smoke-reference (hidden; written by `grade batch`) is the reference
solution's smoke run, computed once for the class.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError
from grader.generative.handed_in import MAX_CHECKPOINT_BYTES, NotHandedIn, relative_path, zip_room
from grader.output.results import CheckResult

CHECKPOINT_SEED = 0
CHECKPOINT_BATCH = 250
SAMPLE_FLAGS = ("samples", "checkpoint", "samples_in", "checkpoint_in")  # at most one of them per grade


@dataclass(frozen=True)
class GenerativeOptions:
    samples: Path | None = None  # a folder of generated images
    checkpoint: Path | None = None  # a Trainer checkpoint to regenerate samples from, in the sandbox
    smoke: bool = False  # the training smoke run
    reference_data: Path | None = None  # replaces the rubric's reference folder
    data_root: Path | None = None  # --data-root: where named datasets live (data/root.py gives the order)
    dataset: str | None = None  # a [[metrics.dataset]] name; default: the rubric's default_dataset
    num_samples: int | None = None  # samples regenerated from a checkpoint (default: the dataset's min_samples)
    checkpoint_timeout_s: float = 900.0
    samples_in: str | None = None  # the samples folder inside each submission, relative to where diffusion_hw/ is
    checkpoint_in: str | None = None  # the checkpoint file inside each submission, likewise
    smoke_reference: Path | None = None  # the reference's smoke run, saved by `grade batch` (smoke.save_reference_run)

    @property
    def requested(self) -> bool:
        return self.scores_samples or self.smoke

    @property
    def scores_samples(self) -> bool:
        """Whether samples are scored (handed in, or regenerated from a checkpoint): needs [metrics]."""
        return any(getattr(self, flag) is not None for flag in SAMPLE_FLAGS)

    def zip_room(self) -> tuple[int, int]:
        """(bytes, entries) a zipped submission may hold beyond its package: its samples or checkpoint."""
        return zip_room(self.samples_in, self.checkpoint_in)


@dataclass
class PreparedGenerative:
    options: GenerativeOptions
    dataset: object = None  # bands.DatasetMetrics
    reference: object = None  # samples.ReferenceData
    smoke_profile: object = None  # smoke.SmokeProfile: this machine's, set up for the rubric's [assignment]

    def run(self, submission_root: Path, solution: Path, source: Path | None = None,
            pictures: Path | None = None) -> list[CheckResult]:
        """The generative entries of one submission; `source` is the folder holding its diffusion_hw/
        as handed in (submission.Submission.source), where --samples-in / --checkpoint-in look.
        `pictures` (the results folder) receives the pictures of pictures.py; drawing them never changes
        an entry."""
        from grader.generative.handed_in import handed_in_checkpoint, handed_in_samples
        from grader.generative.samples import unscored

        options = self.options
        results: list[CheckResult] = []
        if pictures is not None:
            from grader.generative.pictures import remove_stale

            remove_stale(Path(pictures))
        if options.smoke:
            from grader.generative.smoke import smoke_results

            results += smoke_results(submission_root, solution, self.smoke_profile, pictures=pictures,
                                     data_root=options.data_root)
        if options.samples is not None:
            results += self._score(Path(options.samples), pictures)
        if options.checkpoint is not None:
            results += self._checkpoint(submission_root, Path(options.checkpoint), pictures)
        if options.samples_in is not None:
            rel = relative_path(options.samples_in, "--samples-in")
            with tempfile.TemporaryDirectory(prefix="grade-samples-") as private:
                try:
                    folder = handed_in_samples(source, rel, Path(private) / "samples")
                except NotHandedIn as exc:
                    size = self.dataset.image_size
                    results += unscored(self.dataset, f"no metric was computed: {exc} "
                                                      f"({self.dataset.min_samples} images of {size}x{size})")
                else:
                    results += self._score(folder, pictures, where=f"the folder {rel}/ of your submission")
        if options.checkpoint_in is not None:
            rel = relative_path(options.checkpoint_in, "--checkpoint-in")
            try:
                results += self._checkpoint(submission_root, handed_in_checkpoint(source, rel), pictures)
            except NotHandedIn as exc:
                results += self._no_samples_regenerated(f"{rel} (not found)", f"no samples were regenerated: {exc}")
        return results

    def _score(self, samples, pictures: Path | None, where: str | None = None) -> list[CheckResult]:
        """score_samples, then (with `pictures`) the samples and bands pictures from what it computed: the
        decoded tensors and the metric values, so that no file of the student's is opened here again."""
        from grader.generative.samples import score_samples

        record: dict = {}
        results = score_samples(samples, self.dataset, self.reference, where=where, record=record, pictures=pictures)
        if pictures is not None:
            from grader.generative.pictures import metric_pictures

            metric_pictures(Path(pictures), self.dataset, self.reference.images, record)
        return results

    def _no_samples_regenerated(self, title: str, message: str, seconds: float = 0.0) -> list[CheckResult]:
        from grader.generative.samples import unscored

        return unscored(self.dataset, message, check="checkpoint", title=title, seconds=seconds)

    def _checkpoint(self, submission_root: Path, checkpoint: Path, pictures: Path | None = None) -> list[CheckResult]:
        import torch

        from grader.generative import smoke_probes
        from grader.generative.samples import ITEM_FUNCTION, ITEM_NUMBER
        from grader.sandbox import Limits, ProbeResult, SandboxError, SandboxStartError, open_sandbox

        data = torch.frombuffer(bytearray(checkpoint.read_bytes()), dtype=torch.uint8)
        n = self.options.num_samples or self.dataset.min_samples
        device = "cuda" if torch.cuda.is_available() else "cpu"
        limits = Limits(call_timeout_s=self.options.checkpoint_timeout_s,
                        memory_bytes=(64 if device == "cuda" else 8) << 30,
                        total_timeout_s=self.options.checkpoint_timeout_s + 30, max_output_bytes=256 << 20)
        params = {"num_samples": n, "batch_size": CHECKPOINT_BATCH, "seed": CHECKPOINT_SEED, "device": device}
        try:
            with open_sandbox(submission_root, limits=limits, probes_module=Path(smoke_probes.__file__),
                              device=device) as sandbox:
                result = sandbox.call("checkpoint_samples", {"checkpoint": data}, params, retry_incomplete=True)
        except SandboxStartError as exc:  # twice: the machine's failure
            result = ProbeResult("checkpoint_samples", "incomplete",
                                 f"the sandbox did not start: {' '.join(str(exc).split())[:600]}")
        except SandboxError as exc:
            raise GraderError(f"the sandbox could not regenerate samples: {' '.join(str(exc).split())[:600]}") from None
        title = f"{n} samples regenerated from {checkpoint.name} (seed {CHECKPOINT_SEED})"
        if result.status == "incomplete":
            message = f"not graded: {result.message}. This is the grading machine's failure, not the submission's"
            return [dataclasses.replace(entry, incomplete=True)
                    for entry in self._no_samples_regenerated(title, message, result.seconds)]
        if not result.ok:
            message = (f"no samples were regenerated from the checkpoint ({result.status}): {result.message} "
                       "Hand in the model-*.pt that Trainer.save wrote, for the package you handed in.")
            return self._no_samples_regenerated(title, message, result.seconds)
        samples = result.outputs.get("samples")  # from the sandbox: score_samples checks it before use
        count = samples.shape[0] if isinstance(samples, torch.Tensor) and samples.dim() else 0
        regenerated = CheckResult("metrics.checkpoint", ITEM_NUMBER, ITEM_FUNCTION, title, 0.0, 0.0, True,
                                  f"regenerated {count} samples in the sandbox "
                                  f"in {result.seconds:.1f} s ({device})", True, ("metrics", "checkpoint"),
                                  result.seconds)
        return [regenerated, *self._score(samples, pictures)]


def prepare(rubric, options: GenerativeOptions, solution: Path | None = None) -> PreparedGenerative | None:
    """Check what the grader needs for `options`; None when nothing generative was asked for.

    `solution` is the reference whose smoke run --smoke-reference holds (default: solution/).
    """
    if not options.requested:
        return None
    given = [f"--{flag.replace('_', '-')}" for flag in SAMPLE_FLAGS if getattr(options, flag) is not None]
    if len(given) > 1:
        raise GraderError(f"pass {' or '.join(given)}, not {'both' if len(given) == 2 else 'several'}")
    for flag in ("samples_in", "checkpoint_in"):
        if getattr(options, flag) is not None:
            relative_path(getattr(options, flag), f"--{flag.replace('_', '-')}")
    if options.checkpoint is not None:
        path = Path(options.checkpoint)
        if not path.is_file():
            raise GraderError(f"checkpoint {path} does not exist: pass the model-*.pt file Trainer.save wrote")
        if path.stat().st_size > MAX_CHECKPOINT_BYTES:
            raise GraderError(f"checkpoint {path} is larger than {MAX_CHECKPOINT_BYTES >> 30} GB")
    prepared = PreparedGenerative(options)
    if options.smoke:
        from grader.generative.smoke import default_profile, load_reference_run, training_folder
        from grader.grading.reference import DEFAULT_SOLUTION

        prepared.smoke_profile = default_profile(rubric.assignment)
        if options.smoke_reference is not None:
            load_reference_run(Path(options.smoke_reference), solution or DEFAULT_SOLUTION, prepared.smoke_profile)
        training_folder(prepared.smoke_profile, options.data_root)  # a missing data set stops the grader here
    if options.scores_samples:
        from grader.generative.samples import load_reference

        if rubric.metrics is None:
            raise GraderError(f"{rubric.path} has no [metrics] section: add one (see grader/generative/bands.py) "
                              "to score samples")
        prepared.dataset = rubric.metrics.dataset(options.dataset)
        if prepared.dataset.accuracy and (options.checkpoint is not None or options.checkpoint_in is not None):
            raise GraderError(f"{prepared.dataset.name!r} is scored on class-conditional samples, which a "
                              "checkpoint does not regenerate: pass --samples DIR (or --samples-in), one folder "
                              "per digit, 0/ to 9/")
        prepared.reference = load_reference(prepared.dataset, options.reference_data, data_root=options.data_root)
    return prepared
