"""`python3 tasks.py bench [--what grade|smoke|samples]`: timings against an anchor measured in the same run.

Each benchmark prints its time and its ratio to an anchor, the fixed cost the work cannot avoid on this
machine measured just before it, so that the ratio holds whatever the machine's speed or load:

    grade    grading one correct submission (all checks)     anchor: sandbox start + 1 call   budget 60 s
    smoke    `grade --smoke` on the solution: its run in the  anchor: sandbox start + 1 call   budget 180 s
             sandbox and the reference's, side by side                                     (issue: 3 min)
    samples  scoring 1,000 samples (seed 000's hand-in) of    anchor: Inception features of 64 images,
             anime faces: memorisation, FID/KID, AFD; cold      scaled to the images the run embeds
             (nothing cached) and warm (reference cached)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from grader.reference import DEFAULT_SOLUTION
from grader.session import DEFAULT_LIMITS, PROBES_FILE

SAMPLES = 1000  # seed 000 asks for 1,000 generated images
ANCHOR_IMAGES = 64


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
    print(f"grade   solution ({report.score:g} / {report.max_score:g}), all checks  {graded:6.1f} s"
          f"  = {graded / anchor:.1f} x anchor  ({_verdict(graded, 60)})")


def bench_smoke() -> None:
    from grader.generative import smoke

    anchor = _sandbox_anchor()
    profile = smoke.default_profile()
    started = time.monotonic()
    student, reference, _ = smoke.run_smoke(DEFAULT_SOLUTION, DEFAULT_SOLUTION, profile)
    seconds = time.monotonic() - started
    passed = sum(result.passed for result in smoke.judge(student, reference, profile))
    print(f"anchor  sandbox start + 1 call          {anchor:6.1f} s")
    print(f"smoke   profile {profile.name}: {passed}/4 checks passed  {seconds:6.1f} s  = {seconds / anchor:.1f} x anchor"
          f"  ({_verdict(seconds, 180)})")
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
        raise SystemExit(f"bench samples: {folder} is missing (the course's anime faces, beside the repository)")
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
    print(f"anchor   Inception features, {ANCHOR_IMAGES} images  {per_image * ANCHOR_IMAGES:6.1f} s  ({per_image * 1000:.0f} ms/image)")
    for state, seconds, embedded in timings:
        print(f"samples  {SAMPLES} real faces vs {SAMPLES} others, {state:4}  {seconds:6.1f} s  = {seconds / (per_image * embedded):.2f} x "
              f"anchor for the {embedded} images it embeds")
    print(f"         {fid.message[:160]}")


BENCHMARKS = {"grade": bench_grade, "smoke": bench_smoke, "samples": bench_samples}


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "grade"
    if what not in BENCHMARKS:
        print(f"bench: unknown benchmark {what!r}; available: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    BENCHMARKS[what]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
