"""The reference is imported under its own name, never as `diffusion_hw`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_reference_is_imported_as_diffusion_hw_reference_only():
    code = textwrap.dedent(
        """
        import sys
        from grader.grading.reference import LiveReference, REFERENCE_MODULE
        reference = LiveReference()
        assert reference.package.__name__ == REFERENCE_MODULE == "diffusion_hw_reference"
        assert sys.modules["diffusion_hw_reference.gaussian_diffusion"].GaussianDiffusion
        assert "diffusion_hw" not in sys.modules, "the reference must never be importable as diffusion_hw"
        out = reference.run("beta_schedule", {}, {"schedule": "linear", "cases": [{"T": 1000}]})
        assert abs(float(out["0.betas"][-1]) - 0.02) < 1e-12
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
