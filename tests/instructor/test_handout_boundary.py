"""The student/instructor boundary is a package boundary: the handout carries grader/ without grader/instructor/.

The handout's grader is the repository's grader/ minus one package, so a new instructor-only module
is left out by being put there, not by being remembered in a list; these tests walk what students
get and fail on anything that belongs to the instructor or needs it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from grader.instructor import public_grader

ROOT = Path(__file__).resolve().parents[2]
INSTRUCTOR = ROOT / "grader" / "instructor"


def test_the_handout_leaves_the_instructor_package_out_by_package(handout_zip):
    names = zipfile.ZipFile(handout_zip).namelist()
    shipped = [n for n in names if n.startswith("grader/instructor")]
    assert shipped == [], f"the handout carries instructor modules: {shipped[:5]}"
    assert {Path(n).name for n in names if n.startswith("grader/")} >= {"probes.py", "sandbox.py", "fid.py"}
    assert not [n for n in public_grader.LEFT_OUT if n.endswith(".py")], "leave a package out, not a file"
    instructor_modules = {p.name for p in INSTRUCTOR.glob("*.py") if p.name != "__init__.py"}
    top_level = {Path(n).name for n in names if n.startswith("grader/") and n.count("/") == 1}
    assert not instructor_modules & top_level


def _imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_no_module_of_the_handout_imports_the_instructor_package_at_import_time(unpack):
    folder = unpack("boundary")
    grader = folder / "grader"
    modules = sorted(p for p in grader.rglob("*.py")  # the grader's own packages (not pristine_starter/)
                     if p.name != "__main__.py"  # that one runs `grade`
                     and all((d / "__init__.py").is_file()
                             for d in [p.parent, *p.parent.parents] if d.is_relative_to(grader)))
    assert len(modules) > 30
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))
        assert not any(name.startswith("grader.instructor") for name in _imports(top_level)), path
    names = [".".join(p.relative_to(folder).with_suffix("").parts).removesuffix(".__init__") for p in modules]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
            "print('imported', len(sys.argv) - 1)")
    done = subprocess.run([sys.executable, "-c", code, *names], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"imported {len(names)}" in done.stdout


def test_the_detector_sees_an_instructor_import():
    assert "grader.instructor.batch" in _imports("from grader.instructor.batch import grade_batch\n")
    assert "grader.instructor" in _imports("import grader.instructor\n")


def test_the_instructor_subcommands_say_they_are_not_in_the_handout(unpack):
    folder = unpack("instructor-subcommands")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for argv in (["batch", "submissions", "--out", "grades"], ["calibrate", "anime-faces-64"]):
        done = subprocess.run([sys.executable, "-m", "grader", *argv], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        assert f"`grade {argv[0]}` is an instructor tool" in done.stderr and "internal error" not in done.stderr
