"""`python3 tasks.py bench [--what grade|smoke|samples|load]`: timings against an anchor measured in the same run.

Each benchmark prints its time and its ratio to an anchor, the fixed cost the work cannot avoid on this
machine measured just before it, so that the ratio holds whatever the machine's speed or load:

    grade    grading one correct submission (all checks)     anchor: sandbox start + 1 call   budget 60 s
    smoke    `grade --smoke` on the solution: its run in the  anchor: sandbox start + 1 call   budget 180 s
             sandbox and the reference's, side by side
    samples  scoring 1,000 samples (the hand-in's size) of    anchor: Inception features of 64 images,
             anime faces: memorisation, FID/KID, AFD; cold      scaled to the images the run embeds
             (nothing cached) and warm (reference cached)
    load     the solution and four corpus mistakes graded idle, then --runs times beside --per-core
             CPU burners per core; each loaded score next to its idle score (exit 1 if any differs)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader.grading.reference import DEFAULT_SOLUTION
from grader.grading.session import DEFAULT_LIMITS, PROBES_FILE

SAMPLES = 1000  # the homework asks for 1,000 generated images
GRADE_RATIO_TARGET = 2.5  # grading the solution, in sandbox starts
ANCHOR_IMAGES = 64


@contextlib.contextmanager
def cpu_burners(count: int | None = None, per_core: int = 4):
    """Keep `count` (default `per_core` per core) processes spinning on the CPU while the block runs:
    a busy machine on demand. They stop (SIGKILL) when the block ends, however it ends."""
    count = count if count is not None else per_core * (os.cpu_count() or 1)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
               for _ in range(count)]
    try:
        yield burners
    finally:
        for burner in burners:
            burner.kill()
        for burner in burners:
            burner.wait()


def sandbox_workers(below: int | None = None) -> list[int]:
    """PIDs of the sandbox workers running now that descend from process `below` (default: this
    process): forks of a fork server, i.e. Python processes running zygote.py whose parent is one too
    (the launcher, bwrap or unshare, also names zygote.py on its command line, but is not Python)."""
    below = os.getpid() if below is None else below
    table: dict[int, tuple[int, bool]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        python_zygote = b"python" in os.path.basename(argv[0]) and any(arg.endswith(b"zygote.py") for arg in argv)
        table[int(name)] = (int(stat[stat.rfind(b")") + 2:].split()[1]), python_zygote)

    def descends(pid: int) -> bool:
        for _ in range(64):
            pid = table.get(pid, (0, False))[0]
            if pid == below:
                return True
            if pid <= 1:
                return False
        return False

    return [pid for pid, (parent, zygote) in table.items()
            if zygote and table.get(parent, (0, False))[1] and descends(pid)]


def kill_workers_when(condition, kills: int, timeout_s: float = 120.0) -> threading.Thread:
    """Start a thread that, `kills` times, waits until condition() holds while a worker runs and then
    SIGKILLs the running workers from outside (as an operator or a failing machine would)."""

    def run() -> None:
        deadline = time.monotonic() + timeout_s
        done = 0
        while done < kills and time.monotonic() < deadline:
            workers = sandbox_workers()
            if workers and condition():
                for pid in workers:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                done += 1
                while set(sandbox_workers()) & set(workers) and time.monotonic() < deadline:
                    time.sleep(0.02)
            time.sleep(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _sandbox_anchor() -> float:
    from grader.sandbox import Sandbox

    started = time.monotonic()
    with Sandbox(DEFAULT_SOLUTION, limits=DEFAULT_LIMITS, probes_module=PROBES_FILE) as sandbox:
        sandbox.call("beta_schedule", {}, {"schedule": "linear", "cases": [{"T": 10}]})
    return time.monotonic() - started


def _verdict(seconds: float, budget: float) -> str:
    return f"budget {budget:g} s: {'ok' if seconds <= budget else 'OVER'}"


def bench_grade() -> None:
    from grader.api import grade_submission

    anchor = _sandbox_anchor()
    started = time.monotonic()
    report = grade_submission(Path("solution"))
    graded = time.monotonic() - started
    print(f"anchor  sandbox start + 1 call          {anchor:6.1f} s")
    ratio = graded / anchor
    within_target = "ok" if ratio <= GRADE_RATIO_TARGET else "OVER"
    print(f"grade   solution ({report.score:g} / {report.max_score:g}), all checks  {graded:6.1f} s"
          f"  = {ratio:.1f} x anchor  (target <= {GRADE_RATIO_TARGET:g} x: {within_target}; "
          f"{_verdict(graded, 60)})")


def bench_smoke() -> None:
    from grader.generative import smoke

    anchor = _sandbox_anchor()
    profile = smoke.default_profile()
    started = time.monotonic()
    student, reference, _ = smoke.run_smoke(DEFAULT_SOLUTION, DEFAULT_SOLUTION, profile)
    seconds = time.monotonic() - started
    passed = sum(result.passed for result in smoke.judge(student, reference, profile))
    print(f"anchor  sandbox start + 1 call          {anchor:6.1f} s")
    print(f"smoke   profile {profile.name}: {passed}/4 checks passed  {seconds:6.1f} s"
          f"  = {seconds / anchor:.1f} x anchor  ({_verdict(seconds, 180)})")
    print(f"        sandboxed run {student.seconds:.1f} s, reference run {reference.seconds:.1f} s (side by side); "
          "distances " + ", ".join(f"{k} {v:.1f}" for k, v in student.distances.items()))


def bench_samples() -> None:
    import os

    from grader.generative.samples import ReferenceData, score_samples
    from grader.metrics.images import load_images
    from grader.metrics.inception import inception_features
    from grader.rubric import load_rubric

    dataset = load_rubric().metrics.dataset("anime-faces-64")
    folder = dataset.reference_path()
    if not folder.is_dir():
        raise SystemExit(f"bench samples: {folder} is missing (the course's anime faces, under the data root: "
                         "set DIFFUSION_HW_DATA to the folder that holds anime-faces-64/)")
    faces = load_images(folder)
    if len(faces) < 2 * SAMPLES:
        raise SystemExit(f"bench samples: {folder} holds {len(faces)} images; {2 * SAMPLES} are needed")
    reference = ReferenceData(f"first {SAMPLES} faces", faces[:SAMPLES])
    samples = faces[SAMPLES:2 * SAMPLES]  # real faces the reference half has not seen: not copies

    started = time.monotonic()
    inception_features(faces[:ANCHOR_IMAGES])
    per_image = (time.monotonic() - started) / ANCHOR_IMAGES
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        os.environ["DIFFUSION_HW_CACHE"] = cache
        timings = []
        for state, embedded in (("cold", 2 * SAMPLES), ("warm", SAMPLES)):
            started = time.monotonic()
            results = score_samples(samples, dataset, reference)
            seconds = time.monotonic() - started
            timings.append((state, seconds, embedded))
    fid = next(r for r in results if r.check_id == "metrics.fid")
    print(f"anchor   Inception features, {ANCHOR_IMAGES} images  {per_image * ANCHOR_IMAGES:6.1f} s"
          f"  ({per_image * 1000:.0f} ms/image)")
    for state, seconds, embedded in timings:
        print(f"samples  {SAMPLES} real faces vs {SAMPLES} others, {state:4}  {seconds:6.1f} s"
              f"  = {seconds / (per_image * embedded):.2f} x anchor for the {embedded} images it embeds")
    print(f"         {fid.message[:160]}")


LOAD_MISTAKES = ("linear_schedule_without_1000_over_T_scale", "p_losses_wrong_pred_v_target", "p_sample_off_by_one_t",
                 "ddim_sigma_missing_eta")


def _corpus() -> dict:
    """The mistake corpus of the test suite (tests/support/corpus.py), loaded by path."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "tests" / "support" / "corpus.py"
    if not path.is_file():
        raise SystemExit(f"bench load: {path} is missing (the benchmark runs from a checkout of the repository)")
    spec = importlib.util.spec_from_file_location("bench_corpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_corpus"] = module
    spec.loader.exec_module(module)
    return {m.name: m for m in module.CORPUS}


def bench_load(runs: int = 3, per_core: int = 4) -> bool:
    """Grade the solution and a few corpus mistakes idle, then `runs` times beside `per_core` CPU
    burners per core; print each score next to its idle score. True when every loaded score equals
    its idle one and nothing was incomplete or timed out."""
    from grader.api import grade_submission, prepare_plans
    from grader.grading.plans import save_plans
    from grader.rubric import load_rubric

    corpus = _corpus()
    anchor = _sandbox_anchor()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        plans = Path(scratch) / "plans.safetensors"
        save_plans(prepare_plans(load_rubric()), plans)
        submissions = {"solution": DEFAULT_SOLUTION}
        for name in LOAD_MISTAKES:
            submissions[name] = corpus[name].build(Path(scratch) / name)

        def grade_all() -> tuple[dict, float]:
            started = time.monotonic()
            reports = {name: grade_submission(path, plans=plans) for name, path in submissions.items()}
            return reports, time.monotonic() - started

        idle, idle_seconds = grade_all()
        loaded = []
        burners = per_core * (os.cpu_count() or 1)
        for _ in range(runs):
            with cpu_burners(per_core=per_core):
                loaded.append(grade_all())
    print(f"anchor  sandbox start + 1 call (idle)   {anchor:6.1f} s")
    print(f"load    {burners} CPU burners ({per_core} per core) beside the grading, {runs} run(s)")
    print(f"{'submission':45} {'idle':>9} " + " ".join(f"{'run ' + str(k + 1):>9}" for k in range(runs)))
    fair = True
    for name, report in idle.items():
        cells = []
        for reports, _ in loaded:
            got = reports[name]
            same = (got.score, got.max_score) == (report.score, report.max_score) and not got.incomplete
            blamed = any("did not finish in time" in c.message for c in got.checks) and not any(
                "did not finish in time" in c.message for c in report.checks)
            fair &= same and not blamed and not report.incomplete
            cells.append(f"{got.score:g}{'' if same else '!'}{' INC' if got.incomplete else ''}")
        print(f"{name:45} {report.score:>5g}/{report.max_score:g} " + " ".join(f"{c:>9}" for c in cells))
    print(f"time    idle {idle_seconds:.1f} s = {idle_seconds / anchor:.1f} x anchor; loaded "
          + ", ".join(f"{seconds:.1f} s" for _, seconds in loaded))
    print(f"verdict {'every loaded score equals its idle score' if fair else 'SCORES DIFFER UNDER LOAD'}")
    return fair


BENCHMARKS = {"grade": bench_grade, "smoke": bench_smoke, "samples": bench_samples, "load": bench_load}


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("what", nargs="?", default="grade", choices=sorted(BENCHMARKS))
    parser.add_argument("--runs", type=int, default=3, help="load: graded runs under load (default 3)")
    parser.add_argument("--per-core", type=int, default=4, help="load: CPU burners per core (default 4)")
    args = parser.parse_args(argv)
    if args.what == "load":
        return 0 if bench_load(args.runs, args.per_core) else 1
    BENCHMARKS[args.what]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
