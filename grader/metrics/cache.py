"""The on-disk cache of results that depend only on a reference set: FID statistics, the real-data AFD,
the real data's own near-copy distances (the memorisation baseline).

    $DIFFUSION_HW_CACHE/<kind>/<entry>     (default ~/.cache/diffusion-hw/<kind>/; kind "fid", "afd" or
                                            "memorisation")

Each entry is one file whose name holds its key: sha256 of everything that changes the answer (the
8-bit pixels and shape of the set, the format, the settings; see images.content_sha256). A cache is
an optimisation, never a reason to fail: an unreadable entry warns and is recomputed (then overwritten),
and a cache folder that cannot be written warns and is skipped. Entries are replaced atomically, so a
reader never sees a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

CACHE_ENV_VAR = "DIFFUSION_HW_CACHE"

T = TypeVar("T")


def cache_root() -> Path:
    """$DIFFUSION_HW_CACHE, or ~/.cache/diffusion-hw when the variable is unset or empty."""
    root = os.environ.get(CACHE_ENV_VAR)
    return Path(root) if root else Path.home() / ".cache" / "diffusion-hw"


def cache_folder(kind: str) -> Path:
    """$DIFFUSION_HW_CACHE/kind, or ~/.cache/diffusion-hw/kind when the variable is unset or empty."""
    return cache_root() / kind


def read_entry(path: Path, read: Callable[[Path], T], what: str) -> T | None:
    """read(path), or None when there is no entry or `read` raises (a warning names the file)."""
    if not path.is_file():
        return None
    try:
        return read(path)
    except Exception as error:  # any corruption: truncated file, garbage bytes, wrong contents
        # stacklevel 3: the warning points at whoever called the cached function
        warnings.warn(f"ignoring unreadable {what} cache file {path} ({error}); recomputing it", stacklevel=3)
        return None


def write_entry(path: Path, write: Callable[[BinaryIO], None], what: str) -> None:
    """Let write(handle) fill a temporary file, then move it to `path`; warn instead of failing."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            write(handle)
        os.replace(temporary, path)  # atomic: readers never see a half-written file
    except OSError as error:
        warnings.warn(f"could not write the {what} cache file {path} ({error}); continuing without it", stacklevel=3)
        with contextlib.suppress(OSError):
            temporary.unlink()
