"""The `grade` command: sandboxed numerical grading of a diffusion_hw submission.

    cli.py, api.py      the command line, a thin layer over the Python API (`grade_submission`)
    rubric.toml         points and public/hidden of every check; rubric.py reads and validates it
    assignments/        the other assignment profiles: one rubric per homework (README.md there); rubric.toml
                        is the default profile (`grade assignments` lists them)
    errors.py           GraderError (the hand-in or the set-up) and SubmissionError
    intake/             what was handed in (folder, .zip, notebook, loose files) -> a private copy of diffusion_hw/
    grading/            the pipeline: probes run student code, the reference's outputs, plans, one session's scoring
    checks/             one module per TODO item: what to call, and how to judge what came back
    sandbox/            runs the probes on student code in confined child processes
    generative/         scoring samples, the training smoke run, regenerating from a checkpoint, their pictures
    metrics/            FID, KID, anime-face detection, memorisation, CLIP score
    output/             results.json (Gradescope's format), the terminal summary, report.md/html, check pictures
    instructor/         instructor-only tools (starter, handout, Gradescope, batch, calibrate, CI, bench):
                        never in the students' handout

Importing `grader` itself imports nothing heavy.
"""

import os as _os

# Tensors on the meta device (the contract checks) load torch's inductor, which makes a cache folder
# in the temp folder when first used; grading leaves the temp folder as it found it, so that cache
# lives in the grader's own cache instead.
_os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", _os.path.join(
    _os.environ.get("DIFFUSION_HW_CACHE") or _os.path.join(_os.path.expanduser("~"), ".cache", "diffusion-hw"),
    "torchinductor"))

