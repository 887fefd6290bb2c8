"""Generate `starter/` from `solution/`: the same package with every TODO body replaced by a stub.

In solution/, each TODO body sits between two marker comments at the body's indentation:

    # BEGIN SOLUTION (TODO 2.1 q_sample)
    ...reference code...
    # END SOLUTION

In starter/ the block becomes

    # TODO 2.1 (q_sample): implement it as the docstring above states.
    raise NotImplementedError("TODO 2.1 q_sample: not implemented yet (see its docstring)")

Everything else (file tree, public names, signatures, docstrings, given code) is copied unchanged,
so the starter mirrors the solution exactly except for the TODO bodies.
"""

from __future__ import annotations

import ast
import filecmp
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION \(TODO (?P<number>[\d.]+) (?P<name>[\w.]+)\)\s*$")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")
SKIPPED = {"__pycache__", ".pytest_cache", ".hypothesis"}


class StarterError(ValueError):
    """The solution's markers are malformed, or the starter is out of sync."""


@dataclass(frozen=True)
class Todo:
    number: str
    name: str
    path: Path
    line: int


def strip_solutions(source: str, path: Path) -> tuple[str, list[Todo]]:
    """Replace each marked block of `source` by its stub; return the new text and the TODOs found."""
    out: list[str] = []
    todos: list[Todo] = []
    open_block: re.Match[str] | None = None
    open_line = 0
    for lineno, line in enumerate(source.splitlines(keepends=True), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if open_block is None:
            if end:
                raise StarterError(f"{path}:{lineno}: '# END SOLUTION' without a matching BEGIN")
            if begin:
                open_block, open_line = begin, lineno
                continue
            if "BEGIN SOLUTION" in line:
                raise StarterError(
                    f"{path}:{lineno}: malformed marker; write '# BEGIN SOLUTION (TODO <number> <name>)'"
                )
            out.append(line)
            continue
        if begin:
            raise StarterError(f"{path}:{lineno}: BEGIN SOLUTION inside the block opened at line {open_line}")
        if end:
            indent, number, name = open_block["indent"], open_block["number"], open_block["name"]
            out.append(f"{indent}# TODO {number} ({name}): implement it as the docstring above states.\n")
            out.append(
                f'{indent}raise NotImplementedError("TODO {number} {name}: not implemented yet (see its docstring)")\n'
            )
            todos.append(Todo(number, name, path, open_line))
            open_block = None
    if open_block is not None:
        raise StarterError(f"{path}:{open_line}: BEGIN SOLUTION is never closed by '# END SOLUTION'")
    return "".join(out), todos


def generate_starter(solution_root: Path, starter_root: Path) -> list[Todo]:
    """Write starter_root/ from solution_root/ (both hold `diffusion_hw/`); return every TODO.

    starter_root is replaced whole, so files deleted from the solution disappear from the starter.
    """
    solution_root, starter_root = Path(solution_root), Path(starter_root)
    if not (solution_root / "diffusion_hw").is_dir():
        raise StarterError(f"{solution_root} holds no diffusion_hw/ package: pass the solution/ folder")
    staging = Path(tempfile.mkdtemp(prefix="starter-", dir=starter_root.parent))
    todos: list[Todo] = []
    try:
        for src in sorted(solution_root.rglob("*")):
            rel = src.relative_to(solution_root)
            if any(part in SKIPPED for part in rel.parts) or src.suffix == ".pyc":
                continue
            dst = staging / rel
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.suffix == ".py":
                text, found = strip_solutions(src.read_text(encoding="utf-8"), rel)
                ast.parse(text, filename=str(rel))  # the stubbed file must still be valid Python
                dst.write_text(text, encoding="utf-8")
                todos.extend(found)
            else:
                shutil.copy2(src, dst)
        if starter_root.exists():
            shutil.rmtree(starter_root)
        staging.rename(starter_root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return todos


def out_of_sync_files(solution_root: Path, starter_root: Path) -> list[str]:
    """Paths (relative) where starter_root differs from a fresh generation; [] when in sync."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "starter"
        generate_starter(solution_root, fresh)
        return _differences(fresh, Path(starter_root))


def _differences(expected: Path, actual: Path) -> list[str]:
    def files(root: Path) -> set[str]:
        return {
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and not any(part in SKIPPED for part in p.parts) and p.suffix != ".pyc"
        }

    want, have = files(expected), files(actual) if actual.exists() else set()
    diffs = sorted(f"missing: {p}" for p in want - have) + sorted(f"extra: {p}" for p in have - want)
    for rel in sorted(want & have):
        if not filecmp.cmp(expected / rel, actual / rel, shallow=False):
            diffs.append(f"differs: {rel}")
    return diffs


def public_api(package_root: Path) -> dict[str, str]:
    """name -> signature and docstring of every public module-level function, class and method.

    Used to prove that the starter exposes exactly the solution's API.
    """
    api: dict[str, str] = {}
    for path in sorted(Path(package_root).rglob("*.py")):
        module = ".".join(path.relative_to(package_root).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            _collect(api, module, node)
    return api


def _collect(api: dict[str, str], prefix: str, node: ast.AST) -> None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_") or (
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "__init__"
    ):
        api[f"{prefix}.{node.name}"] = f"({ast.unparse(node.args)}) -> {ast.unparse(node.returns) if node.returns else ''}\n{ast.get_docstring(node)}"
    elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
        api[f"{prefix}.{node.name}"] = f"class({', '.join(ast.unparse(b) for b in node.bases)})\n{ast.get_docstring(node)}"
        for child in node.body:
            _collect(api, f"{prefix}.{node.name}", child)
