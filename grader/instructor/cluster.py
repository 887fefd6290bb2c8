"""`grade batch --executor submitit`: one Slurm job per submission, through submitit.

Each job runs the very same thing as a local batch worker (grader.instructor.batch._grade_in_subprocess: one
`python -m grader` process for one submission), so the results files and the gradebook are identical
whichever executor graded them. The job's resources come from grader/rubric.toml's optional
[resources] table, then from the command line's flags, which win:

    [resources]
    timeout_min = 30        # per job
    gpus_per_node = 1
    cpus_per_task = 4
    mem_gb = 16
    partition = "gpu"       # Slurm partition (omit for the cluster's default)

submitit's own "local" executor (and "debug", in-process) runs the same code path without Slurm; the
tests use it. The plans file (hidden reference outputs) and submitit's logs go in a private folder
(mode 0700) under --submitit-folder, which must be on a file system the compute nodes share.
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grader.errors import GraderError

CLUSTERS = ("slurm", "local", "debug")
DEFAULT_FOLDER = Path("~/.cache/diffusion-hw/submitit")
RESOURCE_TYPES: dict[str, tuple[type, ...]] = {
    "timeout_min": (int, float), "gpus_per_node": (int,), "cpus_per_task": (int,), "mem_gb": (int, float),
    "partition": (str,),
}
DEFAULT_TIMEOUT_MIN = 20  # the grading subprocess itself stops at batch.PER_SUBMISSION_TIMEOUT_S (15 min)
POLL_S = 0.5


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how `grade batch --executor submitit` runs its jobs; None resources: the rubric's."""

    cluster: str = "slurm"
    folder: Path = DEFAULT_FOLDER
    resources: dict = field(default_factory=dict)  # flags given on the command line

    def __post_init__(self) -> None:
        if self.cluster not in CLUSTERS:
            raise GraderError(f"--cluster must be one of {', '.join(CLUSTERS)}, got {self.cluster!r}")
        _validate(self.resources, "the command line")


def _validate(resources: dict, where: str) -> None:
    for key, value in resources.items():
        if key not in RESOURCE_TYPES:
            raise GraderError(f"{where}: unknown resource {key!r} (known: {', '.join(sorted(RESOURCE_TYPES))})")
        kinds = RESOURCE_TYPES[key]
        if isinstance(value, bool) or not isinstance(value, kinds) or (key != "partition" and value < 0):
            raise GraderError(f"{where}: resource {key} must be a {' or '.join(k.__name__ for k in kinds)}"
                              f"{'' if key == 'partition' else ' >= 0'}, got {value!r}")


def rubric_resources(rubric_path: Path) -> dict:
    """The rubric's [resources] table, validated ({} when it has none)."""
    try:
        data = tomllib.loads(Path(rubric_path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GraderError(f"{rubric_path}: cannot read the rubric ({exc})") from None
    resources = data.get("resources", {})
    if not isinstance(resources, dict):
        raise GraderError(f"{rubric_path}: [resources] must be a table")
    _validate(resources, f"{rubric_path} [resources]")
    return dict(resources)


def job_parameters(options: ClusterOptions, rubric_path: Path) -> dict:
    """submitit AutoExecutor parameters of one grading job: the rubric's resources, then the flags."""
    resources = {"timeout_min": DEFAULT_TIMEOUT_MIN, **rubric_resources(rubric_path), **options.resources}
    parameters = {"name": "grade", "nodes": 1, "tasks_per_node": 1}
    for key, value in resources.items():
        parameters["slurm_partition" if key == "partition" else key] = value
    return parameters


def grade_with_submitit(
    todo: list[tuple[str, Path]],
    submit: Callable[..., object],
    arguments: Callable[[str, Path], tuple],
    options: ClusterOptions,
    rubric_path: Path,
    jobs: int,
    log: Callable[[str], None],
    failed_row: Callable[[str, str], object],
) -> list:
    """Run `submit(*arguments(name, path))` as one submitit job per submission; return the rows in
    `todo` order. On Slurm every job is queued at once; the local executors keep `jobs` running."""
    import submitit

    options.folder.mkdir(parents=True, exist_ok=True)
    executor = submitit.AutoExecutor(folder=options.folder / "%j", cluster=options.cluster)
    executor.update_parameters(**job_parameters(options, rubric_path))
    window = len(todo) if options.cluster == "slurm" else jobs
    pending = list(todo)
    running: dict[str, object] = {}
    rows: dict[str, object] = {}
    while pending or running:
        while pending and len(running) < window:
            name, path = pending.pop(0)
            running[name] = executor.submit(submit, *arguments(name, path))
            log(f"{name}: submitted as job {running[name].job_id}")
        finished = [name for name, job in running.items() if job.done()]
        if not finished:
            time.sleep(POLL_S)
            continue
        for name in finished:
            job = running.pop(name)
            try:
                rows[name] = job.result()
            except Exception as exc:  # the job died (node failure, timeout, cancelled): record it
                reason = " ".join(str(exc).split())[-300:]
                rows[name] = failed_row(name, f"job {job.job_id} failed: {type(exc).__name__}: {reason}")
            log(rows[name].line())
    return [rows[name] for name, _ in todo]
