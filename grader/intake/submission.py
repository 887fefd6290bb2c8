"""Turn what was handed in (a folder, a .zip, a notebook, or the names `solution` / `starter`) into a clean copy.

Whatever the form, grading works on a private temporary copy holding just `diffusion_hw/`: the
original is never written to, a symlink never leads the sandbox outside the copy, and zips are
unpacked defensively (no absolute paths, no `..`, no links, a size and file-count cap checked while
reading, not trusted from the zip's own header).

A notebook or loose TODO files are completed from a clean copy of the starter (`clean_starter()`):
in the course repository that is starter/diffusion_hw; in the handout, where students edit
diffusion_hw/ in place, it is the untouched copy the handout ships in grader/pristine_starter/.

What is handed in beside the package (the samples folder, a checkpoint: grader/generative/handed_in.py)
is found from `Submission.source`, the folder that holds diffusion_hw/ as handed in; a zip makes room
for it with `extra_bytes` / `extra_files`, and `copy_regular_files` copies it with the package's rules.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

from grader.errors import GraderError, SubmissionError
from grader.sandbox.cleanup import remove_tree

PACKAGE = "diffusion_hw"
REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_BYTES = 64 << 20  # what a submission may unpack to (the package is a few hundred kB)
MAX_FILES = 2000
MAX_LOOSE_FILE_BYTES = 4 << 20  # one source file handed in loose
# The handout's clean copy of the starter, beside this module (grader/instructor/handout.py writes it);
# the repository has none and uses starter/ instead.
PRISTINE_STARTER = Path(__file__).resolve().parents[1] / "pristine_starter"  # grader/pristine_starter
SKIPPED_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints", "__MACOSX", ".hypothesis", ".pytest_cache"}
SEARCH_DEPTH = 4
MAX_DEPTH = 32  # folders nested in a hand-in (the package and a samples folder need 3 or 4)


@dataclass(frozen=True)
class Submission:
    name: str  # for reports and the gradebook: the folder's or zip's name
    origin: Path  # what was handed in
    root: Path  # a private folder holding diffusion_hw/
    source: Path | None = None  # the folder holding diffusion_hw/ as handed in (or unpacked); only inside the with
    warnings: tuple[str, ...] = ()  # what the report should tell about the hand-in ("Hand-in: ...")


NO_CLEAN_STARTER = (
    "in the course repository, generate starter/ with `python3 tasks.py starter`; in the handout, unpack "
    "handout.zip again (its grader/pristine_starter/ is the clean copy, and must not be edited or removed)"
)


def clean_starter() -> Path:
    """The folder holding the untouched starter package (`<folder>/diffusion_hw/`) that a notebook or
    loose TODO files are completed from: the handout's grader/pristine_starter/ when it is there
    (the handout's own diffusion_hw/ is the one the student edits, so it is not clean), else the
    repository's starter/. The folder may be missing; callers check for diffusion_hw/__init__.py
    and name NO_CLEAN_STARTER in their error."""
    if (PRISTINE_STARTER / PACKAGE / "__init__.py").is_file():
        return PRISTINE_STARTER
    return REPO_ROOT / "starter"


def resolve_path(argument: str | Path) -> Path:
    """The submission's path; `solution` and `starter` also resolve from the repository root (in the
    handout, `starter` is its clean copy of the starter)."""
    path = Path(argument).expanduser()
    if not path.exists() and str(argument) in ("solution", "starter"):
        path = clean_starter() if str(argument) == "starter" else REPO_ROOT / str(argument)
        if not path.exists() and str(argument) == "starter":
            raise GraderError(f"{path} does not exist: {NO_CLEAN_STARTER}")
    if not path.exists():
        raise GraderError(f"submission {argument} does not exist")
    if not (path.is_dir() or path.is_file()):
        raise GraderError(f"submission {argument} is neither a folder nor a .zip file")
    return path.resolve()


def submission_name(path: Path) -> str:
    return path.stem if path.is_file() else path.name


@contextlib.contextmanager
def open_submission(
    argument: str | Path, max_bytes: int = MAX_BYTES, *, extra_bytes: int = 0, extra_files: int = 0,
    starter: Path | None = None,
) -> Iterator[Submission]:
    """Yield a Submission whose root is a private copy; GraderError for a bad path, SubmissionError
    for a submission that cannot be graded (it then scores 0 with the message as feedback).

    A .zip may unpack to max_bytes + extra_bytes in MAX_FILES + extra_files entries: the room the
    grader makes for samples or a checkpoint handed in beside the package (the package itself is
    still held to max_bytes). `starter`: the folder holding the clean starter that a notebook or loose
    TODO files are completed from (default clean_starter(); an assignment profile's own starter).
    """
    path = resolve_path(argument)
    starter_root = starter or clean_starter()
    scratch = Path(tempfile.mkdtemp(prefix="grade-submission-"))
    try:
        warnings: list[str] = []
        if path.is_dir():
            source = _package_or_loose_files(path, scratch, warnings, starter_root)
        elif path.suffix.lower() == ".ipynb":  # marked cells over the starter: grader/intake/notebook.py
            from grader.intake.notebook import extract_notebook, missing_todo_files

            source = scratch / "notebook"
            starter = starter_root / PACKAGE
            taken = extract_notebook(path, source / PACKAGE, starter, max_bytes)
            missing = missing_todo_files(taken, starter)
            if missing:
                warnings.append(f"Hand-in: the notebook has no cell for {', '.join(missing)}; the starter's copies "
                                "were graded, so their TODO items score 0")
        elif zipfile.is_zipfile(path):
            unpacked = scratch / "unpacked"
            safe_extract(path, unpacked, max_bytes + extra_bytes, MAX_FILES + extra_files)
            source = _package_or_loose_files(unpacked, scratch, warnings, starter_root)
        elif path.suffix.lower() == ".zip":
            raise SubmissionError(f"{path.name} is not a .zip archive that can be opened (damaged, or cut off in the "
                                  f"upload?): zip the folder holding {PACKAGE}/ again and hand that in")
        else:
            raise SubmissionError(f"{path.name} is not a .zip archive: hand in a zip of the folder holding {PACKAGE}/")
        root = scratch / "submission"
        copy_package(source / PACKAGE, root / PACKAGE, max_bytes)
        yield Submission(submission_name(path), path, root, source, tuple(warnings))
    finally:
        remove_tree(scratch)  # iterative: whatever was unpacked, removing it cannot raise


def _package_or_loose_files(folder: Path, scratch: Path, warnings: list[str], starter_root: Path | None = None) -> Path:
    """find_package(folder); failing that, the TODO files handed in loose (schedules.py, views.py, ...
    dragged in without their folder, at the top or in the one folder there) over a copy of the
    clean starter (`clean_starter()`), with a warning naming the files that came from the starter.
    Without a clean starter, loose files are refused as a hand-in without a package."""
    try:
        return find_package(folder)
    except SubmissionError as no_package:
        starter = (starter_root or clean_starter()) / PACKAGE
        if not (starter / "__init__.py").is_file():
            raise no_package
        from grader.intake.notebook import todo_files

        names = [name.split("/", 1)[1] for name in todo_files(starter)]
        entries = [p for p in folder.iterdir() if not p.name.startswith((".", "_"))]
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() else folder
        loose = [name for name in names if (top / name).is_file() and not (top / name).is_symlink()]
        if not loose:
            raise no_package
        built = scratch / "loose"
        shutil.copytree(starter, built / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in loose:
            if (top / name).stat().st_size > MAX_LOOSE_FILE_BYTES:
                raise SubmissionError(
                    f"{name} is larger than {MAX_LOOSE_FILE_BYTES >> 20} MB: hand in the source code only"
                )
            shutil.copyfile(top / name, built / PACKAGE / name)
        missing = [name for name in names if name not in loose]
        warnings.append(f"Hand-in: {', '.join(loose)} handed in without their {PACKAGE}/ folder, graded inside the "
                        "starter's package" + (f"; {', '.join(missing)} came from the starter, so their TODO items "
                                               "score 0" if missing else ""))
        return built


def find_package(folder: Path) -> Path:
    """The folder that holds diffusion_hw/__init__.py: `folder` itself (nothing below it is searched then:
    the repository's starter/ holds the other assignment profiles' starters one level down), or the one
    place below it (a handout's grader/pristine_starter/ is not searched, so a whole unpacked handout has one)."""
    if folder.name == PACKAGE and (folder / "__init__.py").is_file():
        return folder.parent
    if not (folder / PACKAGE).is_symlink() and (folder / PACKAGE / "__init__.py").is_file():
        return folder
    found: list[Path] = []
    for directory, dirnames, filenames in os.walk(folder):
        here = Path(directory)
        depth = len(here.relative_to(folder).parts)
        # a whole unpacked handout handed in: its clean starter copy is not a second package
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and d != PRISTINE_STARTER.name
                             and not d.startswith(".") and depth < SEARCH_DEPTH)
        if here.name == PACKAGE and "__init__.py" in filenames:
            found.append(here.parent)
            dirnames[:] = []
    if not found:
        raise SubmissionError(
            f"no {PACKAGE}/ package (a folder {PACKAGE} with an __init__.py) was found in the submission: "
            f"hand in the folder (or a zip of the folder) that contains {PACKAGE}/"
        )
    if len(found) > 1:
        shown = ", ".join(str(p.relative_to(folder) / PACKAGE) for p in found[:4])
        raise SubmissionError(f"the submission holds {len(found)} {PACKAGE} packages ({shown}): hand in exactly one")
    return found[0]


def copy_package(source: Path, target: Path, max_bytes: int) -> None:
    """Copy the package's regular files; refuse links, special files and oversize trees."""
    copy_regular_files(source, target, max_bytes, MAX_FILES, label=PACKAGE, advice="hand in the source code only")


def copy_regular_files(source: Path, target: Path, max_bytes: int, max_files: int, *, label: str, advice: str) -> None:
    """Copy the regular files under `source` (a folder handed in) to `target`; SubmissionError for a
    link, a special file, or more than `max_bytes` / `max_files` (`label`/ names the folder, `advice`
    says what to hand in instead)."""
    total, count = 0, 0
    try:
        for here, dirnames, filenames in walk_bounded(source, label, max_files):
            dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS]
            for name in dirnames + filenames:
                if (here / name).is_symlink():
                    raise SubmissionError(
                        f"{label}/{(here / name).relative_to(source)} is a symbolic link: hand in real files only"
                    )
            (target / here.relative_to(source)).mkdir(parents=True, exist_ok=True)
            for name in filenames:
                file = here / name
                mode = file.lstat().st_mode
                if not stat.S_ISREG(mode):
                    raise SubmissionError(f"{label}/{file.relative_to(source)} is not a regular file")
                total += file.lstat().st_size
                count += 1
                if total > max_bytes or count > max_files:
                    raise SubmissionError(
                        f"{label}/ is larger than {max_bytes >> 20} MB or {max_files} files: {advice}"
                    )
                shutil.copyfile(file, target / file.relative_to(source))
    except OSError as exc:  # a name too long, a file that vanished: the hand-in's problem
        raise SubmissionError(
            f"{label}/ could not be copied ({type(exc).__name__}: {exc.strerror or exc}): {advice}"
        ) from None


def walk_bounded(source: Path, label: str, max_entries: int) -> Iterator[tuple[Path, list[str], list[str]]]:
    """os.walk(source) top-down (prune by editing the folder list), without recursion: SubmissionError
    past MAX_DEPTH nested folders or past `max_entries` folders. (os.walk recurses once per level, so a
    hand-in 1,100 folders deep would raise RecursionError in the grading process.)"""
    pending = [(source, 0)]
    seen = 0
    while pending:
        here, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise SubmissionError(f"{label}/ holds folders nested more than {MAX_DEPTH} deep "
                                  f"({str(here.relative_to(source))[:200]}...): hand in a flat folder")
        seen += 1
        if seen > max_entries:
            raise SubmissionError(f"{label}/ holds more than {max_entries} folders: hand in the files asked for only")
        dirnames, filenames = [], []
        with os.scandir(here) as entries:
            for entry in entries:
                (dirnames if entry.is_dir(follow_symlinks=False) else filenames).append(entry.name)
        dirnames.sort()
        filenames.sort()
        yield here, dirnames, filenames
        pending.extend((here / name, depth + 1) for name in reversed(dirnames))


def _member_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise SubmissionError(f"the zip holds an absolute path ({info.filename!r}): zip the folder with relative paths")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if ".." in parts:
        raise SubmissionError(f"the zip holds a path that leaves its folder ({info.filename!r}): remove it")
    return parts


def safe_extract(archive: Path, target: Path, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES) -> None:
    """Unpack `archive` into `target`, or raise SubmissionError saying why it was refused."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > max_files:
                raise SubmissionError(
                    f"the zip holds {len(members)} entries (at most {max_files}): hand in the source code only"
                )
            declared = sum(m.file_size for m in members)
            if declared > max_bytes:
                raise SubmissionError(
                    f"the zip unpacks to {declared >> 20} MB (at most {max_bytes >> 20} MB): "
                    "hand in the source code only"
                )
            written = 0
            target.mkdir(parents=True, exist_ok=True)
            for info in members:
                parts = _member_parts(info)
                if not parts:
                    continue
                if len(parts) > MAX_DEPTH:
                    raise SubmissionError(
                        f"the zip holds a path {len(parts)} folders deep ({info.filename[:200]!r}...), "
                        f"more than {MAX_DEPTH}: zip the folder that holds {PACKAGE}/, nothing deeper"
                    )
                kind = stat.S_IFMT(info.external_attr >> 16)
                if kind == stat.S_IFLNK:
                    raise SubmissionError(f"the zip holds a symbolic link ({info.filename!r}): zip real files only")
                if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise SubmissionError(f"the zip holds a special file ({info.filename!r})")
                if info.flag_bits & 0x1:
                    raise SubmissionError("the zip is encrypted: hand in an unencrypted zip")
                destination = target.joinpath(*parts)
                if info.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as source, open(destination, "wb") as sink:
                    while chunk := source.read(1 << 16):
                        written += len(chunk)
                        if written > max_bytes:  # the header lied: a zip bomb
                            raise SubmissionError(
                                f"the zip unpacks to more than {max_bytes >> 20} MB (a zip bomb?): "
                                "hand in the source code only"
                            )
                        sink.write(chunk)
    except zipfile.BadZipFile as exc:
        raise SubmissionError(f"{archive.name} is not a readable zip ({exc})") from None
    except (OSError, RuntimeError, NotImplementedError, EOFError, zlib.error) as exc:
        raise SubmissionError(f"{archive.name} could not be unpacked ({type(exc).__name__}: {exc})") from None
