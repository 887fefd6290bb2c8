"""The `grade` command: sandboxed numerical grading of a diffusion_hw submission.

    cli.py, api.py      the command line, a thin layer over the Python API
    submission.py       a folder or .zip handed in -> a private copy of diffusion_hw/ (safe unzip)
    rubric.toml/.py     points and public/hidden of every check, validated
    checks/             one module per TODO item: what to call, and how to judge what came back
    probes.py           PUBLIC: the functions that run student code (inside the sandbox)
    sandbox/            runs the probes on student code in confined child processes
    reference.py        runs the same probes on solution/diffusion_hw, imported as diffusion_hw_reference
    plans.py            the calls and reference outputs of every check; public_expected.py stores the public ones
    session.py          one grading session: sandbox calls, then judging and scoring, in this process
    deadline.py         a time limit on judging, in any thread
    untrusted.py        text from student code or a hand-in, made writable and bounded (error messages too)
    results.py, report.py   Gradescope results.json and the terminal summary
    batch.py            `grade batch`: many submissions, a CSV gradebook
    authoring/          instructor tools (the starter generator)

Importing `grader` itself imports nothing heavy.
"""

import os as _os

# Tensors on the meta device (the contract checks) load torch's inductor, which makes a cache folder
# in the temp folder when first used; grading leaves the temp folder as it found it, so that cache
# lives in the grader's own cache instead.
_os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", _os.path.join(
    _os.environ.get("DIFFUSION_HW_CACHE") or _os.path.join(_os.path.expanduser("~"), ".cache", "diffusion-hw"),
    "torchinductor"))

