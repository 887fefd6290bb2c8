"""The `[metrics]` section of grader/rubric.toml: which reference data, and FID / AFD bands to points.

    [metrics]
    default_dataset = "anime-faces-64"
    data_root = "/srv/course-data"       optional: where named references live (data/root.py); --data-root
                                         and $DIFFUSION_HW_DATA come first, ~/.cache/diffusion-hw/data last

    [[metrics.dataset]]                  one per data set the samples can be scored against
    name = "anime-faces-64"
    reference = "anime-faces-64"         a dataset name (the folder DATA_ROOT/anime-faces-64), "digits"
                                         (built in), or a path with a "/" (relative to the repository root)
    image_size = 64                      samples must be image_size x image_size
    afd = true                           score the anime-face detection rate too
    accuracy = true                      class-conditional samples (one folder per digit, 0/ ... 9/), scored by
                                         the digit classifier's accuracy (grader/metrics/digit_accuracy.py);
                                         needs reference = "digits"; FID is then scored only if it has bands
    min_samples = 1000                   fewer samples are scored but earn no points (FID is biased by N)
    memorisation_threshold = 0.05        d below this flags a sample as a copy (grader/metrics/memorisation.py)
    copied_margin = 0.01                 no FID / AFD points at all when the samples' near-copy fraction
                                         exceeds the real data's own (leave-one-out, measured and cached)
                                         by more than max(copied_margin, 3 standard errors)

    [[metrics.fid]]                      one per band: FID <= at_most earns `points`
    dataset = "anime-faces-64"
    band = "strong"
    at_most = 60.0
    points = 10

    [[metrics.afd]]                      one per band: AFD (likelihood > 0.9) >= at_least earns `points`
    dataset = "anime-faces-64"
    band = "strong"
    at_least = 0.70
    points = 10

    [[metrics.accuracy]]                 one per band: the classifier's accuracy (mean over the ten digits)
    dataset = "digits"                   >= at_least earns `points`; `grade calibrate digits` prints the
    band = "strong"                      real digits' accuracy (the ceiling) and chance, to set them between
    at_least = 0.80
    points = 10

A metric earns the points of the best band it reaches (bands do not add up); its maximum is the
largest band's points. AFD has a quality gate (`afd_counted`): a detector can be fooled (sharpening
blurry samples raises the detection rate above real data's), so AFD earns points only when FID reaches
a band, and a rate above the real data's counts as the real data's. Metric points count only when the
metric ran (`grade --samples` or `--checkpoint`): a submission graded without samples is scored on the
rubric's checks alone.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import GraderError

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILTIN_REFERENCES = ("digits",)
RUBRIC_DATA_ROOT = "the rubric's [metrics] data_root"


@dataclass(frozen=True)
class Band:
    name: str  # "simple", "medium", "strong"
    threshold: float  # FID: at most this; AFD: at least this
    points: float


@dataclass(frozen=True)
class DatasetMetrics:
    name: str
    reference: str  # "digits" (built in), a dataset name, or a folder path, as written in the rubric
    image_size: int
    afd: bool
    min_samples: int
    memorisation_threshold: float
    copied_margin: float  # tolerated excess over the real data's near-copy fraction
    fid_bands: tuple[Band, ...]  # strictest first
    afd_bands: tuple[Band, ...]
    data_root: str | None = None  # the rubric's [metrics] data_root, as written
    accuracy: bool = False  # class-conditional samples scored by the digit classifier's accuracy
    accuracy_bands: tuple[Band, ...] = ()  # strictest first

    def resolved_data_root(self, flag: str | Path | None = None):
        """The diffusion_hw_data.root.DataRoot a named reference is looked up in: `flag` (--data-root) >
        $DIFFUSION_HW_DATA > the rubric's data_root (relative to the repository root) > the default (data/root.py)."""
        from diffusion_hw_data.root import resolve_data_root  # the data package imports torch: not on every rubric load

        return resolve_data_root(flag, self.data_root, RUBRIC_DATA_ROOT, base=REPO_ROOT)

    @property
    def named(self) -> bool:
        """Whether `reference` is a dataset name (no "/"), looked up under the data root."""
        from diffusion_hw_data.root import is_dataset_name

        return self.reference not in BUILTIN_REFERENCES and is_dataset_name(self.reference)

    def reference_path(self, data_root: str | Path | None = None) -> Path | None:
        """The reference folder, not checked: None for a built-in set; DATA_ROOT/NAME for a dataset name
        (`data_root` as --data-root); a path as written, resolved against the repository root."""
        if self.reference in BUILTIN_REFERENCES:
            return None
        if self.named:
            return self.resolved_data_root(data_root).path / self.reference
        path = Path(self.reference).expanduser()
        return path if path.is_absolute() else (REPO_ROOT / path).resolve()

    def reference_folder(self, data_root: str | Path | None = None) -> Path | None:
        """reference_path, checked: GraderError saying what to put where when a named reference is missing
        (data/root.py's message: the dataset, the data root and where it came from, the layout and count)."""
        from diffusion_hw_data.errors import DatasetError
        from diffusion_hw_data.root import locate_dataset

        if not self.named:
            return self.reference_path(data_root)
        try:
            return locate_dataset(self.reference, self.resolved_data_root(data_root))
        except DatasetError as exc:
            raise GraderError(f"the reference data of {self.name!r}: {exc}") from None

    @property
    def fid_points(self) -> float:
        return max((b.points for b in self.fid_bands), default=0.0)

    @property
    def afd_points(self) -> float:
        return max((b.points for b in self.afd_bands), default=0.0) if self.afd else 0.0

    @property
    def accuracy_points(self) -> float:
        return max((b.points for b in self.accuracy_bands), default=0.0) if self.accuracy else 0.0

    @property
    def scores_fid(self) -> bool:
        """Whether samples get an FID entry: always, except for accuracy data sets without FID bands."""
        return not self.accuracy or bool(self.fid_bands)

    def accuracy_band(self, accuracy: float) -> Band | None:
        """The best band this accuracy reaches (higher is better), or None."""
        reached = [b for b in self.accuracy_bands if math.isfinite(accuracy) and accuracy >= b.threshold]
        return max(reached, key=lambda b: b.points, default=None)

    def fid_band(self, fid: float) -> Band | None:
        """The best band this FID reaches (lower is better), or None."""
        reached = [b for b in self.fid_bands if math.isfinite(fid) and fid <= b.threshold]
        return max(reached, key=lambda b: b.points, default=None)

    def afd_band(self, rate: float) -> Band | None:
        """The best band this AFD rate reaches (higher is better), or None."""
        reached = [b for b in self.afd_bands if rate >= b.threshold]
        return max(reached, key=lambda b: b.points, default=None)

    def afd_counted(self, rate: float, real_rate: float, fid: float) -> tuple[float | None, str]:
        """(the AFD rate the bands see, or None when AFD earns nothing; why it differs from `rate`, or "").

        The gate: None when FID (of the same samples) reaches no band, since blurry or broken
        samples can be sharpened until the detector fires. The cap: rate -> real_rate when above it, since
        no model is better at being anime faces than the real faces; a band set above the real rate can
        never be reached, which `grade calibrate` shows.
        """
        if self.fid_band(fid) is None:
            loosest = max(b.threshold for b in self.fid_bands)
            return None, (f"AFD counts only when FID reaches a band (at most {loosest:g}), "
                         f"and FID is {fid:.2f}: a detection rate alone can be raised by sharpening blurry samples")
        if rate > real_rate:
            return real_rate, (f"counted as the real data's {real_rate:.2%}: a rate above real faces' is not better "
                               "(sharpening raises it)")
        return rate, ""


@dataclass(frozen=True)
class MetricsRubric:
    default_dataset: str
    datasets: dict[str, DatasetMetrics]
    data_root: str | None = None  # [metrics] data_root, as written

    def resolved_data_root(self, flag: str | Path | None = None):
        """The data root for a dataset named outside the [[metrics.dataset]] entries (`grade calibrate NAME`)."""
        from diffusion_hw_data.root import resolve_data_root

        return resolve_data_root(flag, self.data_root, RUBRIC_DATA_ROOT, base=REPO_ROOT)

    def dataset(self, name: str | None = None) -> DatasetMetrics:
        name = name or self.default_dataset
        if name not in self.datasets:
            raise GraderError(f"no [[metrics.dataset]] named {name!r} in the rubric; "
                              f"known: {', '.join(sorted(self.datasets))}")
        return self.datasets[name]


def _number(fail, where: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
            or not low <= value <= high):
        raise fail(where, f"must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def parse_metrics(path: Path, table: Any) -> MetricsRubric | None:
    """Validate the [metrics] table of the rubric at `path` (None when the rubric has none)."""
    from grader.rubric import _fail, _keys  # the rubric's one-line error style

    if table is None:
        return None

    def fail(where: str, message: str):
        return _fail(path, where, message)

    _keys(path, "[metrics]", table, {"default_dataset", "dataset"}, {"fid", "afd", "accuracy", "data_root"})
    data_root = table.get("data_root")
    if data_root is not None and (not isinstance(data_root, str) or not data_root.strip()):
        raise fail("[metrics] data_root", f"must be a folder path (the folder that holds the named reference "
                                          f"data sets), got {data_root!r}; leave it out for the default")
    if not isinstance(table["dataset"], list):
        raise fail("[metrics] dataset", "write each data set as [[metrics.dataset]]")
    raw: dict[str, dict] = {}
    for position, entry in enumerate(table["dataset"], start=1):
        where = f"[[metrics.dataset]] #{position}"
        if isinstance(entry, dict) and "max_copied_fraction" in entry:
            raise fail(where, "max_copied_fraction is now copied_margin: the most the samples' near-copy "
                              "fraction may exceed the real data's own (e.g. 0.01)")
        _keys(path, where, entry, {"name", "reference", "image_size"},
              {"afd", "accuracy", "min_samples", "memorisation_threshold", "copied_margin"})
        name = entry["name"]
        if not isinstance(name, str) or not name or name in raw:
            raise fail(where, f"name must be a unique non-empty string, got {name!r}")
        size = entry["image_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 8:
            raise fail(f"{where} image_size", f"must be an int >= 8, got {size!r}")
        if not isinstance(entry.get("afd", False), bool):
            raise fail(f"{where} afd", "must be true or false")
        if not isinstance(entry.get("accuracy", False), bool):
            raise fail(f"{where} accuracy", "must be true or false")
        if entry.get("accuracy", False) and entry["reference"] != "digits":
            raise fail(f"{where} accuracy", f"the digit classifier knows only the built-in digits: set "
                                            f"reference = \"digits\" or accuracy = false (got {entry['reference']!r})")
        min_samples = entry.get("min_samples", 2)
        if not isinstance(min_samples, int) or isinstance(min_samples, bool) or min_samples < 2:
            raise fail(f"{where} min_samples", f"must be an int >= 2, got {min_samples!r}")
        raw[name] = dict(
            name=name, reference=str(entry["reference"]), image_size=size, afd=entry.get("afd", False),
            min_samples=min_samples,
            memorisation_threshold=_number(fail, f"{where} memorisation_threshold",
                                           entry.get("memorisation_threshold", 0.05), 0, 2),
            copied_margin=_number(fail, f"{where} copied_margin", entry.get("copied_margin", 0.01), 0, 1),
            fid_bands=[], afd_bands=[], data_root=data_root,
            accuracy=entry.get("accuracy", False), accuracy_bands=[],
        )
    for metric, bound, low, high in (("fid", "at_most", 0.0, math.inf), ("afd", "at_least", 0.0, 1.0),
                                     ("accuracy", "at_least", 0.0, 1.0)):
        entries = table.get(metric, [])
        if not isinstance(entries, list):
            raise fail(f"[metrics] {metric}", f"write each band as [[metrics.{metric}]]")
        for position, entry in enumerate(entries, start=1):
            where = f"[[metrics.{metric}]] #{position}"
            _keys(path, where, entry, {"dataset", "band", bound, "points"})
            if entry["dataset"] not in raw:
                raise fail(where, f"dataset {entry['dataset']!r} is not a [[metrics.dataset]] "
                                  f"(known: {', '.join(raw)})")
            if metric == "afd" and not raw[entry["dataset"]]["afd"]:
                raise fail(where, f"dataset {entry['dataset']!r} has afd = false: remove the band or set afd = true")
            if metric == "accuracy" and not raw[entry["dataset"]]["accuracy"]:
                raise fail(where, f"dataset {entry['dataset']!r} has accuracy = false: remove the band or set "
                                  "accuracy = true (class-conditional samples)")
            band = Band(str(entry["band"]), _number(fail, f"{where} {bound}", entry[bound], low, high),
                        _number(fail, f"{where} points", entry["points"], 0))
            bands = raw[entry["dataset"]][f"{metric}_bands"]
            if any(b.name == band.name for b in bands):
                raise fail(where, f"band {band.name!r} is listed twice for {entry['dataset']!r}")
            bands.append(band)
    datasets = {}
    for name, fields in raw.items():
        for metric, better in (("fid", lambda a, b: a.threshold < b.threshold),
                               ("afd", lambda a, b: a.threshold > b.threshold),
                               ("accuracy", lambda a, b: a.threshold > b.threshold)):
            ordered = sorted(fields[f"{metric}_bands"], key=lambda b: -b.points)  # most points first
            for stricter, looser in itertools.pairwise(ordered):
                if not better(stricter, looser):
                    raise fail(f"[[metrics.{metric}]] of {name!r}",
                               f"band {stricter.name!r} ({stricter.points:g} points) must have a stricter "
                               f"threshold than {looser.name!r} ({looser.points:g} points)")
            fields[f"{metric}_bands"] = tuple(ordered)
        datasets[name] = DatasetMetrics(**fields)
    default = table["default_dataset"]
    if default not in datasets:
        raise fail("[metrics] default_dataset",
                   f"{default!r} is not a [[metrics.dataset]] (known: {', '.join(datasets)})")
    return MetricsRubric(default, datasets, data_root)
