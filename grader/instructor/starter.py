"""Generate `starter/` from `solution/`: the same package with every TODO body of a profile replaced by a stub.

In solution/, each TODO body sits between two marker comments at the body's indentation:

    # BEGIN SOLUTION (TODO 2.1 q_sample)
    ...reference code...
    # END SOLUTION

In a profile's starter (grader/rubric.py: an assignment profile's [[item]]s are its TODOs), the block of
a function the profile grades becomes

    # TODO 1.2 (q_sample): implement it as the docstring above states.
    raise NotImplementedError("TODO 1.2 q_sample: not implemented yet (see its docstring)")

numbered as the profile numbers that item, and every other block ships as given code: its body stays,
its two marker lines go. A block belongs to item F when its name is F or F.<member> (a class item:
`IdentityView.view`); a member block's number is the item's number, a dot, and the last part of the
solution's number for it (TODO 3.1.2 IdentityView.inverse_view is 2.4.2 where IdentityView is item 2.4).
Everything else (file tree, public names, signatures, docstrings, given code) is copied unchanged.

One generated tree per profile, never edited by hand (`python3 tasks.py starter` writes them all,
tests/instructor/test_starter.py fails while one is out of sync):

    starter/diffusion_hw/            the default profile (grader/rubric.toml)
    starter/<name>/diffusion_hw/     every other profile (grader/assignments/<name>.toml)

The other profiles live inside starter/ one level down, so `grade starter` and anything that grades the
folder starter/ still finds the default package first (grader/intake/submission.py: find_package).
"""

from __future__ import annotations

import ast
import filecmp
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:
    from grader.rubric import Rubric

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION \(TODO (?P<number>[\d.]+) (?P<name>[\w.]+)\)\s*$")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")
SKIPPED = {"__pycache__", ".pytest_cache", ".hypothesis"}
REPO_ROOT = Path(__file__).resolve().parents[2]
SOLUTION_DIR = REPO_ROOT / "solution"
STARTER_DIR = REPO_ROOT / "starter"


class StarterError(ValueError):
    """The solution's markers are malformed, a profile names a function no block holds, or the starter is out
    of sync."""


@dataclass(frozen=True)
class Todo:
    number: str
    name: str
    path: Path
    line: int


def item_of(block_name: str, items: Mapping[str, str]) -> str | None:
    """The item (a function of `items`, function -> number) a block named `block_name` belongs to, or None."""
    for function in items:
        if block_name == function or block_name.startswith(function + "."):
            return function
    return None


def stub_number(block_number: str, block_name: str, items: Mapping[str, str]) -> str | None:
    """The number a block's stub shows under a profile (`items`: function -> number); None: given code."""
    function = item_of(block_name, items)
    if function is None:
        return None
    if block_name == function:
        return items[function]
    return f"{items[function]}.{block_number.rsplit('.', 1)[-1]}"


def strip_solutions(source: str, path: Path, items: Mapping[str, str] | None = None) -> tuple[str, list[Todo]]:
    """Replace each marked block of `source` by its stub; return the new text and the TODOs stubbed.

    `items` (function -> number, a profile's items) chooses the blocks that become stubs and their
    numbers; the others keep their body without the marker lines. None stubs every block, numbered as
    the solution numbers it."""
    out: list[str] = []
    todos: list[Todo] = []
    open_block: re.Match[str] | None = None
    open_line = 0
    given = False
    for lineno, line in enumerate(source.splitlines(keepends=True), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if open_block is None:
            if end:
                raise StarterError(f"{path}:{lineno}: '# END SOLUTION' without a matching BEGIN")
            if begin:
                open_block, open_line = begin, lineno
                given = items is not None and stub_number(begin["number"], begin["name"], items) is None
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
            if not given:
                indent, name = open_block["indent"], open_block["name"]
                number = open_block["number"] if items is None else stub_number(open_block["number"], name, items)
                out.append(f"{indent}# TODO {number} ({name}): implement it as the docstring above states.\n")
                stub = f'raise NotImplementedError("TODO {number} {name}: not implemented yet (see its docstring)")\n'
                out.append(indent + stub)
                todos.append(Todo(number, name, path, open_line))
            open_block = None
        elif given:
            out.append(line)
    if open_block is not None:
        raise StarterError(f"{path}:{open_line}: BEGIN SOLUTION is never closed by '# END SOLUTION'")
    return "".join(out), todos


def _profile(rubric: Rubric | None) -> Rubric:
    from grader.rubric import load_profile

    return rubric if rubric is not None else load_profile()


def profile_items(rubric: Rubric) -> dict[str, str]:
    """function -> number of the profile's items: the TODOs its starter stubs."""
    return {item.function: item.number for item in rubric.items}


def generate_starter(
    solution_root: Path, starter_root: Path, rubric: Rubric | None = None, keep: Iterable[str] = ()
) -> list[Todo]:
    """Write starter_root/ from solution_root/ (both hold `diffusion_hw/`) for the profile `rubric`
    (default: grader/rubric.toml's); return the TODOs stubbed.

    starter_root is replaced whole, so files deleted from the solution disappear from the starter;
    only its top-level entries named in `keep` (the other profiles' folders inside starter/) stay.
    StarterError when an item of the profile has no marked block in the solution."""
    solution_root, starter_root = Path(solution_root), Path(starter_root)
    if not (solution_root / "diffusion_hw").is_dir():
        raise StarterError(f"{solution_root} holds no diffusion_hw/ package: pass the solution/ folder")
    rubric = _profile(rubric)
    items = profile_items(rubric)
    starter_root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="starter-", dir=starter_root.parent))
    todos: list[Todo] = []
    blocks: set[str] = set()
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
                source = src.read_text(encoding="utf-8")
                text, found = strip_solutions(source, rel, items)
                ast.parse(text, filename=str(rel))  # the stubbed file must still be valid Python
                dst.write_text(text, encoding="utf-8")
                todos.extend(found)
                blocks.update(m["name"] for m in map(BEGIN.match, source.splitlines()) if m)
            else:
                shutil.copy2(src, dst)
        unmarked = [f for f in items if not any(item_of(name, {f: ""}) for name in blocks)]
        if unmarked:
            raise StarterError(
                f"{rubric.path}: item(s) {', '.join(unmarked)} have no '# BEGIN SOLUTION (TODO <number> <name>)' "
                f"block in {solution_root}: a profile's items must be TODO blocks of the solution (mark the "
                "function's body there, or drop the item)")
        for name in keep:
            if (starter_root / name).exists() and not (staging / name).exists():
                (starter_root / name).rename(staging / name)
        if starter_root.exists():
            shutil.rmtree(starter_root)
        staging.rename(starter_root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return todos


def starter_folder(name: str | None = None, starter_dir: Path = STARTER_DIR) -> Path:
    """The folder holding a profile's generated diffusion_hw/: starter/ for the default (None),
    starter/<name>/ for every other profile."""
    from grader.rubric import DEFAULT_PROFILE

    return starter_dir if name in (None, DEFAULT_PROFILE) else starter_dir / name


def _other_profiles(name: str | None) -> list[str]:
    from grader.rubric import DEFAULT_PROFILE, profile_names

    return [] if name not in (None, DEFAULT_PROFILE) else [n for n in profile_names() if n != DEFAULT_PROFILE]


def write_profile_starter(
    name: str | None = None, solution_root: Path = SOLUTION_DIR, starter_dir: Path = STARTER_DIR
) -> list[Todo]:
    """(Re)generate the starter tree of the profile `name` (None: the default) inside starter_dir."""
    from grader.rubric import load_profile

    return generate_starter(solution_root, starter_folder(name, starter_dir), load_profile(name),
                            keep=_other_profiles(name))


def write_all_starters(
    solution_root: Path = SOLUTION_DIR, starter_dir: Path = STARTER_DIR
) -> dict[str, list[Todo]]:
    """Every profile's starter tree (the default first); a folder of starter_dir left by a profile that no
    longer exists is removed. Returns name -> its TODOs."""
    from grader.rubric import profile_names

    names = profile_names()
    written = {name: write_profile_starter(name, solution_root, starter_dir) for name in names}
    for entry in Path(starter_dir).iterdir():
        if entry.name not in names and entry.name != "diffusion_hw" and (entry / "diffusion_hw").is_dir():
            shutil.rmtree(entry)
    return written


def out_of_sync_files(
    solution_root: Path, starter_root: Path, rubric: Rubric | None = None, ignore: Iterable[str] | None = None
) -> list[str]:
    """Paths (relative) where starter_root differs from a fresh generation for the profile `rubric`
    (default: grader/rubric.toml's); [] when in sync. Top-level entries named in `ignore` are not
    compared (default: for the default profile, the other profiles' folders inside it)."""
    if ignore is None:
        ignore = _other_profiles(rubric.name if rubric is not None else None)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "starter"
        generate_starter(solution_root, fresh, rubric)
        return _differences(fresh, Path(starter_root), set(ignore))


def _differences(expected: Path, actual: Path, ignore: set[str] = frozenset()) -> list[str]:
    def files(root: Path) -> set[str]:
        return {
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and not any(part in SKIPPED for part in p.parts) and p.suffix != ".pyc"
            and p.relative_to(root).parts[0] not in ignore
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
    function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    if function and (not node.name.startswith("_") or node.name == "__init__"):
        returns = ast.unparse(node.returns) if node.returns else ""
        api[f"{prefix}.{node.name}"] = f"({ast.unparse(node.args)}) -> {returns}\n{ast.get_docstring(node)}"
    elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
        bases = ", ".join(ast.unparse(b) for b in node.bases)
        api[f"{prefix}.{node.name}"] = f"class({bases})\n{ast.get_docstring(node)}"
        for child in node.body:
            _collect(api, f"{prefix}.{node.name}", child)
