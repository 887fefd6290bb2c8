"""The reference side of every comparison: solution/diffusion_hw run through the public probes.

The reference package is imported *in the grading process* under the module name
`diffusion_hw_reference`, never as `diffusion_hw`, so it cannot collide with a student package (which
is only ever imported in the sandbox's child process) or with anything on sys.path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Protocol

import torch

from grader.errors import GraderError
from grader.grading import probes

REFERENCE_MODULE = "diffusion_hw_reference"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOLUTION = REPO_ROOT / "solution"


class Reference(Protocol):
    """Whatever answers `run(probe, inputs, params)` the way the reference package would."""

    def run(self, probe: str, inputs: dict[str, torch.Tensor], params: dict) -> dict[str, torch.Tensor]: ...


def import_reference(solution_root: Path = DEFAULT_SOLUTION) -> ModuleType:
    """Import solution_root/diffusion_hw as `diffusion_hw_reference` (once per process)."""
    package_dir = Path(solution_root).resolve() / "diffusion_hw"
    loaded = sys.modules.get(REFERENCE_MODULE)
    if loaded is not None:
        if Path(loaded.__file__).resolve().parent == package_dir:
            return loaded
        raise GraderError(
            f"the reference was already imported from {Path(loaded.__file__).parent}; "
            f"cannot also import {package_dir} in the same process"
        )
    init = package_dir / "__init__.py"
    if not init.is_file():
        raise GraderError(
            f"no reference solution at {package_dir}: hidden checks need it "
            "(students: run `grade --public-only`, which uses grader/grading/public_expected.safetensors)"
        )
    spec = importlib.util.spec_from_file_location(
        REFERENCE_MODULE, init, submodule_search_locations=[str(package_dir)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[REFERENCE_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        for name in [n for n in sys.modules if n == REFERENCE_MODULE or n.startswith(REFERENCE_MODULE + ".")]:
            del sys.modules[name]
        raise GraderError(f"the reference solution {package_dir} does not import: {type(exc).__name__}: {exc}") from exc
    return module


class LiveReference:
    """Runs the public probes on the imported reference package, in this process."""

    def __init__(self, solution_root: Path = DEFAULT_SOLUTION) -> None:
        self.package = import_reference(solution_root)

    def run(self, probe: str, inputs: dict[str, torch.Tensor], params: dict) -> dict[str, torch.Tensor]:
        function = probes.PROBES[probe]
        cloned = {name: value.clone() for name, value in inputs.items()}
        with torch.random.fork_rng(devices=[]):
            outputs = function(self.package, cloned, params)
        errors = {name: bytes(value.tolist()).decode("utf-8", "replace")
                  for name, value in outputs.items() if name.endswith(".error")}
        if errors:
            name, message = next(iter(errors.items()))
            raise GraderError(f"the reference solution fails probe {probe!r} ({name}): {message}")
        return outputs
