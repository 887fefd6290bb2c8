"""`python3 tasks.py handout [--assignment NAME]`: build dist/handout.zip, everything a student downloads.

For an assignment profile (grader/rubric.py; grader/assignments/) the handout is that profile's: its
starter (its TODO items stubbed, every other solution block given), its public checks only, its title
in the README, and its training defaults ([assignment]: data set, image size, channels, T, schedule) in
the notebooks' CONFIG. Without one it is the default profile's, grader/rubric.toml.

    diffusion_hw/          the starter package (generated from solution/ right now: TODOs are stubs)
    grader/                the student-side grader: public checks only (grader/instructor/public_grader.py)
    grader/pristine_starter/diffusion_hw/
                           a clean copy of the starter, never edited: grading a notebook or loose TODO files
                           fills the files they lack from it (grader/intake/submission.py: clean_starter)
    diffusion_hw_data/     the datasets (built-in digits, image folders), the repository's data/ under its import
                           name, and prepare_data.py
    notebooks/             run_in_colab.ipynb, run_in_kaggle.ipynb (grader/instructor/notebooks.py)
    README.md              how to fill the TODOs, run the public checks, train, and what to submit
    requirements.txt       what the student's Python needs

Nothing of solution/ goes in but what the starter keeps of it, and no hidden check: the tests in
tests/instructor/ opens the zip and proves both.
"""

from __future__ import annotations

import re
import shutil
import stat
import sys
import tempfile
import zipfile
from pathlib import Path

from grader.instructor.notebooks import NUM_SUBMITTED_SAMPLES, write_notebooks
from grader.instructor.public_grader import write_public_grader
from grader.instructor.starter import generate_starter
from grader.intake.submission import PACKAGE, PRISTINE_STARTER
from grader.rubric import DEFAULT_PROFILE, Rubric, load_profile

REPO_ROOT = Path(__file__).resolve().parents[2]
DIST = REPO_ROOT / "dist"
HANDOUT_ZIP = DIST / "handout.zip"
PUBLIC_CHECK_COMMAND = "python -m grader diffusion_hw --public-only"
# The student's Python needs these of requirements.txt (same version ranges), not the instructors' tools.
STUDENT_REQUIREMENTS = (
    "torch", "torchvision", "numpy", "scipy", "pillow", "matplotlib", "tqdm", "scikit-learn", "safetensors",
    "rich",
)
# The repository's data/ folder is installed as this package (pyproject.toml); where nothing is installed
# (the handout, the Gradescope image) the folder goes in under this name so that it imports from the cwd.
DATA_PACKAGE = "diffusion_hw_data"
ZIP_DATE = (2026, 1, 1, 0, 0, 0)  # fixed, so that the same tree gives the same zip

PREPARE_DATA = '''"""Check a training set before you train on it: `python prepare_data.py DATASET [--image-size S]`.

DATASET is "digits" (built in, no download) or a folder of images (AFHQ cats, anime faces, ...), or a
.zip of one, which is unpacked next to it first. Prints how many images were found and writes a grid
of the first 64 as they will be trained on (resized, centre-cropped, in [0, 1]).
"""

import argparse
import zipfile
from pathlib import Path

from torchvision.utils import save_image

from diffusion_hw_data import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="'digits', a folder of images, or a .zip of one")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--grid", default="results/dataset_grid.png")
    args = parser.parse_args()
    source = Path(args.dataset)
    if source.suffix.lower() == ".zip" and source.is_file():
        target = source.with_suffix("")
        with zipfile.ZipFile(source) as archive:
            archive.extractall(target)
        print(f"unpacked {source} into {target}/")
        source = target
    dataset = load_dataset(str(source), args.image_size)
    count = min(64, len(dataset))
    first = [dataset[i] for i in range(count)]
    images = [item[0] if isinstance(item, (tuple, list)) else item for item in first]
    Path(args.grid).parent.mkdir(parents=True, exist_ok=True)
    save_image(images, args.grid, nrow=8)
    print(f"{len(dataset)} images of {tuple(images[0].shape)}; the first {count}: {args.grid}")
    print(f'train on it: set CONFIG["dataset"] = "{source}" in the notebook')


if __name__ == "__main__":
    main()
'''

README = """# {title}

You implement the core of a denoising diffusion model in the package `diffusion_hw/`, check it with
the public checks, train it on a GPU (Colab or Kaggle), and hand in your code and {n} samples.

## What is here

| path | what it is |
| --- | --- |
| `diffusion_hw/` | the package you complete: every TODO is a function that raises `NotImplementedError` |
| `grader/` | the public checks (`{command}`); the course's grader also runs hidden checks; \
`grader/pristine_starter/` is a clean copy of the starter that it grades notebooks in (do not edit it) |
| `diffusion_hw_data/`, `prepare_data.py` | the training data: the built-in digits, or any folder of images |
| `notebooks/run_in_colab.ipynb`, `notebooks/run_in_kaggle.ipynb` | train, plot, sample, illusions, submission |
| `requirements.txt` | what Python needs (`pip install -r requirements.txt`; Python 3.11+) |

## 1. Fill in the TODOs

Search for `TODO` in `diffusion_hw/` (`grep -rn "TODO" diffusion_hw/`). Each one replaces a
`raise NotImplementedError(...)` line. The function's docstring gives the formula with the paper's
symbols, the shapes and dtypes in and out, and the edge cases. Change nothing else: the names,
signatures and the given code are what the grader calls.

{todos}

## 2. Run the public checks

From this folder (the one holding this README), on your own machine or in the notebook:

```bash
pip install -r requirements.txt
{command}
```

It runs your code in a sandbox against the public checks and prints a table per TODO and, for each
failed check, what went wrong and on which input. On the untouched starter every check fails (0
points); when all public checks pass you have earned their points. The course's grader runs the same
public checks plus hidden ones (other inputs, edge cases, properties), so passing the public checks
is necessary, not sufficient: test the edge cases the docstrings name.

## 3. Train

Training needs a GPU. Open `notebooks/run_in_colab.ipynb` in Colab (File > Upload notebook), or
`notebooks/run_in_kaggle.ipynb` in Kaggle (File > Import notebook), upload `handout.zip` as the first
cell says, and run the cells in order: set-up, public checks, training (with a progress bar; lower
`train_steps` while you debug), the plots (loss curve, forward process, denoising progress), the
samples, and the illusions. After editing `diffusion_hw/` in Colab's file browser, re-run the
training cell: it reloads your package.

## Data

`"digits"` is built in. For AFHQ cats or anime faces, upload the image folder (or its .zip) and check
it with `python prepare_data.py path/to/folder --image-size 32`, then set `CONFIG["dataset"]` to the
folder in the notebook.

## 4. What to submit

Upload to Gradescope the `submission.zip` that the notebook's last cell writes. It holds

* `diffusion_hw/` (all of it, your completed package), and
* `samples/`: the {n} PNG samples of your trained model (section 5 of the notebook).

A zip of a folder holding `diffusion_hw/` is also accepted, and so is a notebook (`.ipynb`) whose
code cells start with a marker line naming the file they hold, e.g. `# diffusion_hw/schedules.py` or
`%%writefile diffusion_hw/schedules.py`: each marked cell replaces that file of the starter, each file
marked at most once; the files the notebook does not provide are the starter's (their TODO items
score 0). Check a notebook before handing it in, from this folder:
`python -m grader my_homework.ipynb --public-only`. Put the plots and your answers in the written report.
"""


PRISTINE_README = """# The starter as handed out: do not edit

`python -m grader my_homework.ipynb --public-only` grades a notebook's marked cells (or TODO files
handed in loose) inside this clean copy of the package, so that the files they do not provide are
the starter's as handed out, not whatever `diffusion_hw/` at the top of the handout holds now. Edit
that one, never this one.
"""


def student_requirements(requirements: Path = REPO_ROOT / "requirements.txt") -> str:
    """The lines of requirements.txt the student needs, with their version ranges."""
    keep = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        name = re.split(r"[<>=!~\[ ;#]", line.strip(), maxsplit=1)[0].lower()
        if name in STUDENT_REQUIREMENTS:
            keep.append(line.split("#", 1)[0].strip())
    return "# What the homework's Python needs: pip install -r requirements.txt\n" + "\n".join(keep) + "\n"


def _todo_table(todos) -> str:
    rows = ["| TODO | function | file |", "| --- | --- | --- |"]
    ordered = sorted(todos, key=lambda t: tuple(int(part) for part in t.number.split(".")))
    rows += [f"| {t.number} | `{t.name}` | `{Path(t.path).as_posix()}` |" for t in ordered]
    return "\n".join(rows)


def notebook_settings(rubric: Rubric) -> dict:
    """What the notebooks' CONFIG cell sets for the profile: its [assignment] training defaults, every one
    a CONFIG key ({} for the default profile, whose notebooks are the ones notebooks.py writes)."""
    if rubric.assignment is None or rubric.name == DEFAULT_PROFILE:
        return {}
    return rubric.assignment.training_defaults()


def _set_notebook_config(folder: Path, settings: dict) -> None:
    """Add `CONFIG.update(...)` with `settings` right after the CONFIG dict of every notebook in `folder`
    (before the smoke run's own update, which still shrinks everything)."""
    if not settings:
        return
    update = "CONFIG.update(" + ", ".join(f"{k}={v!r}" for k, v in settings.items()) + ")  # this homework's"
    import nbformat

    for path in sorted(Path(folder).glob("*.ipynb")):
        notebook = nbformat.read(str(path), as_version=4)
        for cell in notebook.cells:
            if "config" not in cell.metadata.get("tags", []):
                continue
            head, marker, tail = cell.source.partition("\n)\n")
            if not marker:
                raise ValueError(f"{path.name}: the config cell has no CONFIG = dict(...) to follow")
            cell.source = f"{head}{marker}{update}\n{tail}"
        nbformat.write(notebook, str(path))


def stage_handout(target: Path, root: Path = REPO_ROOT, assignment: str | None = None) -> Path:
    """Write the handout's files for the profile `assignment` (None: the default) into `target` (created);
    return it."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    rubric = load_profile(assignment)
    todos = generate_starter(root / "solution", target / "starter", rubric)
    (target / "starter" / "diffusion_hw").rename(target / "diffusion_hw")
    shutil.rmtree(target / "starter")
    write_public_grader(target, rubric_path=rubric.path, solution=root / "solution")
    pristine = target / "grader" / PRISTINE_STARTER.name
    shutil.copytree(target / PACKAGE, pristine / PACKAGE)
    (pristine / "README.md").write_text(PRISTINE_README, encoding="utf-8")
    shutil.copytree(root / "data", target / DATA_PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (target / "prepare_data.py").write_text(PREPARE_DATA, encoding="utf-8")
    write_notebooks(target / "notebooks")
    _set_notebook_config(target / "notebooks", notebook_settings(rubric))
    (target / "requirements.txt").write_text(student_requirements(root / "requirements.txt"), encoding="utf-8")
    title = rubric.assignment.title if rubric.assignment else "Diffusion homework"
    readme = README.format(title=title, n=NUM_SUBMITTED_SAMPLES, command=PUBLIC_CHECK_COMMAND,
                           todos=_todo_table(todos))
    (target / "README.md").write_text(readme, encoding="utf-8")
    return target


def write_zip(folder: Path, archive: Path, prefix: str = "") -> Path:
    """Zip `folder`'s files (sorted, fixed timestamps) into `archive`; `prefix` is prepended to names."""
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    temporary = archive.with_suffix(".zip.partial")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(prefix + path.relative_to(folder).as_posix(), ZIP_DATE)
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    temporary.replace(archive)
    return archive


def build_handout(archive: Path = HANDOUT_ZIP, root: Path = REPO_ROOT, assignment: str | None = None) -> Path:
    """Build the student zip of the profile `assignment` (None: the default) at `archive`; return its path."""
    with tempfile.TemporaryDirectory(prefix="handout-") as scratch:
        staged = stage_handout(Path(scratch) / "handout", root, assignment)
        return write_zip(staged, archive)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from grader.errors import GraderError

    parser = argparse.ArgumentParser(prog="handout", description=__doc__.splitlines()[0])
    parser.add_argument("archive", nargs="?", type=Path, default=HANDOUT_ZIP)
    parser.add_argument("--assignment", help="an assignment profile (default: the default one)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        written = build_handout(args.archive, assignment=args.assignment)
    except GraderError as exc:
        print(f"handout: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(f"wrote {written} ({written.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
