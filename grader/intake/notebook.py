"""A notebook handed in instead of a package: its marked code cells become files of diffusion_hw/.

A code cell is marked when its first non-blank line names a file of the package, either as a
comment or as Jupyter's cell magic (the way students write files from Colab or Kaggle):

    # diffusion_hw/schedules.py                   the whole cell is the file
    %%writefile diffusion_hw/schedules.py         the rest of the cell is the file

Each file may be marked at most once; every file not marked comes from a clean copy of the starter
(grader/intake/submission.py: `clean_starter()`, never the handout's diffusion_hw/ the student edits), so a notebook
that solves only some TODO files is graded on those (the others' items score 0, and the report names
the files that were missing: `missing_todo_files`). A notebook with no marked cell at all, a repeated
mark or a file the package does not have is refused with a message that says which cell to fix.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from grader.errors import GraderError, SubmissionError

PACKAGE = "diffusion_hw"
MARKER = re.compile(rf"^(?:%%writefile\s+|#\s*)(?:\./)?({PACKAGE}/[\w/]+\.py)\s*$")
TODO_STUB = "raise NotImplementedError(\"TODO "


MAX_NESTING = 64  # a notebook is nested 5 or 6 deep (cells, outputs, their data)


def _cell_text(cell: dict, number: int) -> str:
    """The cell's source as text: a string or a list of strings, as nbformat writes it."""
    source = cell.get("source", "")
    if isinstance(source, list) and all(type(line) is str for line in source):
        source = "".join(source)
    if type(source) is not str:
        raise SubmissionError(f"cell {number} of the notebook has a source that is not text: "
                              "hand in the .ipynb file as Jupyter saved it")
    return source


def nesting_depth(text: str) -> int:
    """How deep JSON `text` nests arrays and objects, counted without parsing it (strings skipped), so
    that a notebook nested thousands deep is refused before json.loads would recurse that deep."""
    structure = _JSON_STRING.sub("", text).encode("ascii", "ignore")
    steps = np.frombuffer(structure, dtype=np.uint8)
    opened = (steps == ord("[")) | (steps == ord("{"))
    closed = (steps == ord("]")) | (steps == ord("}"))
    levels = np.cumsum(opened.astype(np.int64) - closed.astype(np.int64))
    return int(levels.max()) if levels.size else 0


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled: long runs in one step


def marked_cells(notebook: dict) -> dict[str, list[tuple[int, str]]]:
    """file (e.g. "diffusion_hw/schedules.py") -> [(cell number, file text), ...] in notebook order."""
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise SubmissionError("the notebook has no list of cells: hand in the .ipynb file as Jupyter saved it")
    found: dict[str, list[tuple[int, str]]] = {}
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        lines = _cell_text(cell, number).splitlines(keepends=True)
        first = next((i for i, line in enumerate(lines) if line.strip()), None)
        if first is None:
            continue
        match = MARKER.match(lines[first].strip())
        if not match:
            continue
        magic = lines[first].lstrip().startswith("%%")
        text = "".join(lines[first + 1:] if magic else lines[first:])
        found.setdefault(match.group(1), []).append((number, text))
    return found


def todo_files(starter_package: Path) -> list[str]:
    """The starter's files that hold a TODO stub, as "diffusion_hw/<file>"."""
    return sorted(
        f"{PACKAGE}/{p.relative_to(starter_package).as_posix()}"
        for p in starter_package.rglob("*.py")
        if TODO_STUB in p.read_text(encoding="utf-8")
    )


def extract_notebook(notebook_path: Path, target_package: Path, starter_package: Path, max_bytes: int) -> list[str]:
    """Write target_package/ from the starter and the notebook's marked cells; return the files taken
    from the notebook. SubmissionError (the submission scores 0 with the message) when it cannot."""
    if not (starter_package / "__init__.py").is_file():
        from grader.intake.submission import NO_CLEAN_STARTER

        raise GraderError(f"grading a notebook needs a clean copy of the starter package, and {starter_package} "
                          f"holds none: {NO_CLEAN_STARTER}")
    if notebook_path.stat().st_size > max_bytes:
        raise SubmissionError(f"{notebook_path.name} is larger than {max_bytes >> 20} MB: clear its outputs "
                              "(Edit > Clear all outputs) and hand it in again")
    try:
        text = notebook_path.read_text(encoding="utf-8")
        if nesting_depth(text) > MAX_NESTING:
            raise ValueError(f"nested more than {MAX_NESTING} deep")
        notebook = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SubmissionError(f"{notebook_path.name} is not a readable notebook ({type(exc).__name__}): "
                              "download it again with File > Download > .ipynb") from None
    if not isinstance(notebook, dict):
        raise SubmissionError(f"{notebook_path.name} is not a Jupyter notebook")
    cells = marked_cells(notebook)
    known = {f"{PACKAGE}/{p.relative_to(starter_package).as_posix()}" for p in starter_package.rglob("*.py")}
    unknown = sorted(set(cells) - known)
    if unknown:
        raise SubmissionError(
            f"cell {cells[unknown[0]][0][0]} is marked {unknown[0]}, which is not a file of the package "
            f"(the files are {', '.join(sorted(known))}): fix the first line of that cell"
        )
    repeated = {name: [n for n, _ in entries] for name, entries in cells.items() if len(entries) > 1}
    if repeated:
        name, numbers = sorted(repeated.items())[0]
        raise SubmissionError(
            f"{name} is marked in {len(numbers)} cells (cells {', '.join(map(str, numbers))}): "
            "keep exactly one cell per file, the one with your final code"
        )
    if not cells:
        first = (todo_files(starter_package) or [f"{PACKAGE}/schedules.py"])[0]
        raise SubmissionError(
            f"no cell of the notebook is marked as a file of {PACKAGE}/: start each code cell that holds one of "
            f"your files with a line naming it, e.g. `# {first}`, followed by that file's complete code"
        )
    shutil.copytree(starter_package, target_package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name, [(number, text)] in cells.items():
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, from a "\\ud800" escape in the JSON
            raise SubmissionError(
                f"cell {number} ({name}) holds characters that are not valid text (a lone surrogate): "
                "remove them, or download the notebook again with File > Download > .ipynb"
            ) from None
        (target_package / Path(name).relative_to(PACKAGE)).write_bytes(data)
    return sorted(cells)


def missing_todo_files(taken: list[str], starter_package: Path) -> list[str]:
    """The starter's TODO files (as "diffusion_hw/<file>") that `taken` does not provide."""
    return [name for name in todo_files(starter_package) if name not in taken]
