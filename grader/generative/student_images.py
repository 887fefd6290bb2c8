"""Image files a student handed in, decoded in the sandbox instead of the grading process.

Samples scored with FID (`--samples`, `--samples-in`) and the anagram scored with CLIP are files the
student chose, and Pillow parses them in C. Decoded here, a decompression bomb would exhaust the
grader's memory, and a file crafted against a decoder bug would run in the grading process, which
holds the reference solution and writes every result. So the files are copied into a private folder
that the sandbox mounts as its "submission", a worker decodes them there (image_probes.py: limited
pixels per image, bytes in all, memory and time, no network, uid 65534), and only a uint8 tensor
comes back, checked here before anything uses it:

    decode_images(folder, files) -> (N, 3, H, W) uint8, RGB as clean-fid converts
                                    ValueError naming the file at fault, said so the student can fix it
                                    DecodingIncomplete when the grading machine failed (the sandbox did not
                                    start): nothing is the student's fault, the caller marks it incomplete

The reference data is the grader's own and is read in-process (grader/metrics/images.py).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

from grader.errors import SubmissionError
from grader.metrics.images import IMAGE_EXTENSIONS
from grader.sandbox.cleanup import remove_tree

PACKAGE = "handed_in_images"  # the stand-in package the sandbox imports: a folder holding images/
MAX_PIXELS = 4096 * 4096  # per image
MAX_DECODED_BYTES = 256 << 20  # all images together, decoded (1,000 64x64 samples: 12 MB)
MAX_FILES = 20_000
MAX_FILE_BYTES = 512 << 20  # all files together, as handed in


class DecodingIncomplete(Exception):
    """The images could not be decoded because the grading machine failed (the message says how)."""


def image_files(folder: Path) -> list[Path]:
    """The image files under `folder` (recursively, like clean-fid), sorted by path; FileNotFoundError
    when there is no folder, ValueError when it holds no image (or is absurdly deep or large)."""
    from grader.intake.submission import walk_bounded

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist or is not a folder")
    found = []
    try:
        for here, _, filenames in walk_bounded(folder, folder.name, MAX_FILES):
            found += [here / name for name in filenames if Path(name).suffix.lower() in IMAGE_EXTENSIONS]
    except SubmissionError as exc:
        raise ValueError(str(exc)) from None
    if not found:
        raise ValueError(
            f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) found under {folder}: "
            "write the samples as PNGs there, or pass the images as a tensor"
        )
    if len(found) > MAX_FILES:
        raise ValueError(f"{folder} holds {len(found)} images, more than {MAX_FILES}: hand in the number asked for")
    return sorted(found)


def decode_images(folder: Path, files: list[Path] | None = None) -> torch.Tensor:
    """`files` (default: every image under `folder`) decoded in the sandbox as (N, 3, H, W) uint8."""
    folder = Path(folder)
    files = image_files(folder) if files is None else [Path(f) for f in files]
    stage = Path(tempfile.mkdtemp(prefix="grade-images-"))
    try:
        names = _stage(files, stage / PACKAGE / "images")
        return _decode_staged(stage, folder, files, names)
    finally:
        remove_tree(stage)


def _stage(files: list[Path], target: Path) -> list[str]:
    """Copy `files` to `target` under plain names (0000.png, ...), readable by the sandbox's uid."""
    target.mkdir(parents=True)
    (target.parent / "__init__.py").write_text("")
    names, total = [], 0
    for index, file in enumerate(files):
        if file.is_symlink() or not file.is_file():
            raise ValueError(f"{file.name} is not a regular file: hand in the image files themselves")
        total += file.stat().st_size
        if total > MAX_FILE_BYTES:
            raise ValueError(f"the images are larger than {MAX_FILE_BYTES >> 20} MB in all: "
                             "hand in the number asked for")
        name = f"{index:05d}{file.suffix.lower()}"
        shutil.copyfile(file, target / name)
        names.append(name)
    for path in (target.parent.parent, target.parent, target):
        path.chmod(0o755)
    for path in [target.parent / "__init__.py", *(target / name for name in names)]:
        path.chmod(0o644)
    return names


def _decode_staged(stage: Path, folder: Path, files: list[Path], names: list[str]) -> torch.Tensor:
    from grader.generative import image_probes
    from grader.grading.untrusted import error_text, safe_text
    from grader.sandbox import Limits, SandboxError, SandboxStartError, open_sandbox

    limits = Limits(call_timeout_s=120.0, memory_bytes=4 << 30, total_timeout_s=150.0,  # room for 3 image copies
                    max_output_bytes=MAX_DECODED_BYTES + (1 << 20))
    params = {"files": names, "max_pixels": MAX_PIXELS, "max_bytes": MAX_DECODED_BYTES}
    try:
        with open_sandbox(stage, limits=limits, probes_module=Path(image_probes.__file__), device="cpu",
                          package=PACKAGE) as sandbox:
            result = sandbox.call("decode_images", {}, params, retry_incomplete=True)
    except SandboxStartError as exc:  # twice: the machine's failure
        reason = " ".join(str(exc).split())[:600]
        raise DecodingIncomplete(f"the sandbox that decodes images did not start: {reason}") from None
    except SandboxError as exc:
        reason = " ".join(str(exc).split())[:600]
        raise DecodingIncomplete(f"the sandbox that decodes images could not run: {reason}") from None
    if result.status == "incomplete":
        raise DecodingIncomplete(safe_text(result.message, 600))
    if result.status != "ok":
        raise ValueError(f"decoding the images failed ({result.status}: {safe_text(result.message, 300)}): "
                         "re-save them as plain PNG files")

    def shown(index: int) -> str:
        return str(files[index].relative_to(folder)) if files[index].is_relative_to(folder) else files[index].name

    outputs = result.outputs
    bad = outputs.get("bad_file")
    if bad is not None:
        index = int(bad.reshape(-1)[0]) if bad.numel() == 1 and not bad.is_floating_point() else -1
        where = shown(index) if 0 <= index < len(files) else "an image"
        raise ValueError(f"{where}: {error_text(outputs.get('reason'))}")
    images = outputs.get("images")
    expected = f"({len(files)}, 3, H, W) uint8 with H x W at most {MAX_PIXELS}"
    if not (isinstance(images, torch.Tensor) and images.dtype == torch.uint8 and images.dim() == 4
            and images.shape[0] == len(files) and images.shape[1] == 3 and images.shape[2] >= 1 and images.shape[3] >= 1
            and images.shape[2] * images.shape[3] <= MAX_PIXELS):
        got = f"{images.dtype} of shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) else "nothing"
        raise ValueError(f"decoding the images returned {got}, not {expected}: re-save them as plain PNG files")
    return images.contiguous()
