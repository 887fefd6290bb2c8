"""Every package of grader/ opens with a map of its modules; the maps name everything there is.

A newcomer finds the DDIM check, the sandbox or the FID code from the tree and these maps, so a
module or subpackage added without its line in the map fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GRADER = Path(__file__).resolve().parents[1] / "grader"
MAPPED = ["", "intake", "grading", "sandbox", "generative", "metrics", "output", "instructor"]


def _entries(package: Path) -> list[str]:
    """What the map must name: every module (as "name.py") and subpackage (as "name/") of `package`."""
    modules = [p.name for p in sorted(package.glob("*.py")) if p.name not in ("__init__.py", "__main__.py")]
    subpackages = [f"{p.name}/" for p in sorted(package.iterdir()) if (p / "__init__.py").is_file()]
    return modules + subpackages


@pytest.mark.parametrize("name", MAPPED, ids=lambda n: n or "grader")
def test_the_package_map_names_every_module_and_subpackage(name):
    package = GRADER / name
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8"))) or ""
    missing = [entry for entry in _entries(package) if entry not in doc]
    init = (package / "__init__.py").relative_to(GRADER.parent)
    assert not missing, f"{init}'s map does not name {missing}: add a line for each"


def test_every_package_of_the_grader_has_a_map_or_is_the_checks():
    packages = {p.parent.relative_to(GRADER).as_posix() for p in GRADER.rglob("__init__.py")}
    packages = {"" if p == "." else p for p in packages}
    assert packages - {"checks"} == set(MAPPED), "a new package of grader/: give it a map and list it in MAPPED"


def test_the_check_finds_an_unnamed_module(tmp_path):
    (tmp_path / "__init__.py").write_text('"""A map.\n\n    known.py   something\n"""\n')
    (tmp_path / "known.py").write_text("")
    (tmp_path / "forgotten.py").write_text("")
    doc = ast.get_docstring(ast.parse((tmp_path / "__init__.py").read_text()))
    assert [e for e in _entries(tmp_path) if e not in doc] == ["forgotten.py"]


def test_pyproject_installs_every_grader_package_and_the_data_folder_under_its_own_name():
    """setuptools installs the packages pyproject.toml lists: a grader package missing there would be
    absent from an installed grader, and `data` would install under a name any package can shadow."""
    import tomllib

    setuptools = tomllib.loads((GRADER.parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    on_disk = {".".join(("grader", *p.parent.relative_to(GRADER).parts)) for p in GRADER.rglob("__init__.py")}
    assert on_disk | {"diffusion_hw_data"} == set(setuptools["packages"])
    assert setuptools["package-dir"] == {"diffusion_hw_data": "data"}
    assert (GRADER.parent / setuptools["package-dir"]["diffusion_hw_data"] / "__init__.py").is_file()


def test_the_data_package_imports_as_diffusion_hw_data_and_nothing_called_data_is_installed(tmp_path):
    """From a folder outside the checkout (so the checkout is not on sys.path), the installed
    diffusion_hw_data is the repository's data/ folder, and `import data` finds nothing."""
    import subprocess
    import sys

    probe = ("import importlib.util, pathlib, diffusion_hw_data\n"
             "print(pathlib.Path(diffusion_hw_data.__file__).resolve().parent)\n"
             "print(importlib.util.find_spec('data'))\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    folder, spec = result.stdout.splitlines()
    assert folder == str((GRADER.parent / "data").resolve())
    assert spec == "None", f"something called `data` is importable: {spec}"
