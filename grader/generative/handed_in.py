"""`--samples-in REL` / `--checkpoint-in REL`: the samples folder or checkpoint each submission hands in.

REL is relative to the folder that holds the submission's diffusion_hw/ (for a .zip: wherever
diffusion_hw/ sits inside it), so a folder and a zip of it, with or without a top folder, are found alike:

    grade batch submissions/ --out grades/ --samples-in samples
        alice/diffusion_hw/...      alice/samples/0000.png ...
        bo.zip: handin/diffusion_hw/...   handin/samples/0000.png ...

A zip is unpacked by grader/intake/submission.py with its usual protections (no absolute paths, no `..`, no
links, caps checked while reading), with room for what is handed in (`zip_room`). A samples folder is
then copied with the package's rules (regular files only, no links, at most MAX_SAMPLES_BYTES in
MAX_SAMPLES_FILES files); a checkpoint is used in place, after checking that no part of its path is a
link and that it is a regular file of at most MAX_CHECKPOINT_BYTES.

What is missing or refused is the student's problem, not the grader's: NotHandedIn carries a message
saying what to hand in, and the caller turns it into failed metric entries (0 points) while every other
result is kept. A bad REL (absolute, or with `..`) is the grader's problem: GraderError, up front.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from grader.errors import GraderError, SubmissionError
from grader.intake.submission import PACKAGE, copy_regular_files

MAX_SAMPLES_BYTES = 256 << 20  # far more than the 1,000 64 x 64 PNGs asked for take
MAX_SAMPLES_FILES = 10_000  # the assignment asks for 1,000 images
MAX_CHECKPOINT_BYTES = 2 << 30


class NotHandedIn(Exception):
    """The submission lacks what --samples-in / --checkpoint-in asks for; the message is for the student."""


def relative_path(rel: str, flag: str) -> PurePosixPath:
    """REL as a clean relative path; GraderError for an absolute path or one that climbs out with `..`."""
    path = PurePosixPath(str(rel).replace("\\", "/"))
    parts = [p for p in path.parts if p not in ("", ".")]
    if path.is_absolute() or ".." in parts or not parts:
        raise GraderError(f"{flag} {rel!r} must be a path inside each submission, relative to the folder that "
                          f"holds {PACKAGE}/ (e.g. {flag} samples)")
    return PurePosixPath(*parts)


def zip_room(samples_in: str | None, checkpoint_in: str | None) -> tuple[int, int]:
    """(extra bytes, extra entries) a .zip may unpack to beyond the package's caps."""
    room_bytes = (MAX_SAMPLES_BYTES if samples_in else 0) + (MAX_CHECKPOINT_BYTES if checkpoint_in else 0)
    room_files = (MAX_SAMPLES_FILES if samples_in else 0) + (16 if checkpoint_in else 0)
    return room_bytes, room_files


def _locate(source: Path | None, rel: PurePosixPath, kind: str, advice: str) -> Path:
    """source/rel, refusing a link anywhere on the way; NotHandedIn when it is not there."""
    if source is None:  # a notebook hand-in: only the package's files
        raise NotHandedIn(f"a notebook hand-in carries no {kind} {rel}: {advice}")
    here = source
    for part in rel.parts:
        here = here / part
        if here.is_symlink():
            raise NotHandedIn(f"{rel} in your submission is (or passes through) a symbolic link: "
                              f"{advice}, as real files")
        if not here.exists():
            shown = f"{rel}/" if kind == "folder" else str(rel)
            raise NotHandedIn(f"your submission has no {kind} {shown} beside {PACKAGE}/: {advice}")
    return here


def handed_in_samples(source: Path | None, rel: PurePosixPath, private: Path) -> Path:
    """A private copy of the samples folder source/rel; NotHandedIn saying what to hand in."""
    advice = f"hand in the images your model generated, as PNG files in a folder {rel}/ next to {PACKAGE}/"
    folder = _locate(source, rel, "folder", advice)
    if not folder.is_dir():
        raise NotHandedIn(f"{rel} in your submission is not a folder: {advice}")
    try:
        copy_regular_files(folder, private, MAX_SAMPLES_BYTES, MAX_SAMPLES_FILES, label=str(rel),
                           advice="hand in only the generated images (the assignment asks for 1,000)")
    except SubmissionError as exc:
        raise NotHandedIn(str(exc)) from None
    return private


def handed_in_checkpoint(source: Path | None, rel: PurePosixPath) -> Path:
    """The checkpoint file source/rel, checked; NotHandedIn saying what to hand in."""
    advice = f"hand in the model-*.pt file Trainer.save wrote, as {rel} next to {PACKAGE}/"
    path = _locate(source, rel, "checkpoint", advice)
    if not path.is_file():
        raise NotHandedIn(f"{rel} in your submission is not a regular file: {advice}")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise NotHandedIn(f"{rel} is {size / (1 << 30):.1f} GB, more than {MAX_CHECKPOINT_BYTES >> 30} GB: {advice}, "
                          "saved without optimizer state if need be")
    return path
