"""The data root: the one folder named datasets live under, and how it is chosen.

A dataset is named (`anime-faces-64`) or given as a path (`path/to/faces`, `~/faces`, `/data/faces`).
A name is a single folder name (no `/`, not `.`, `..` or `~...`), and it means the folder
DATA_ROOT/NAME. The built-in `digits` needs no root. The root is the first of:

    1. --data-root DIR                      on `grade`, `grade batch` and `grade calibrate`
    2. $DIFFUSION_HW_DATA                   the environment (the course CI sets it to its data)
    3. the configuration's own data_root    the rubric's [metrics] data_root, a smoke profile's data_root
    4. ~/.cache/diffusion-hw/data           the default

A relative DIR in 1 and 2 is relative to the current directory; in 3, to the folder the configuration
names (the repository root for the rubric and the smoke profiles). Every DataRoot keeps where it came
from, so that a missing dataset says which setting to change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from diffusion_hw_data.catalogue import CATALOGUE
from diffusion_hw_data.errors import DatasetError
from diffusion_hw_data.image_folder import DEFAULT_IMAGE_EXTENSIONS

DATA_ROOT_ENV = "DIFFUSION_HW_DATA"
DEFAULT_DATA_ROOT = Path("~/.cache/diffusion-hw/data")
FROM_FLAG = "--data-root"
FROM_ENV = DATA_ROOT_ENV
FROM_DEFAULT = "the default"
BUILTIN_NAMES = ("digits",)


@dataclass(frozen=True)
class DataRoot:
    """A data root and the setting it came from: "--data-root", "DIFFUSION_HW_DATA", the configuration
    that set it (e.g. "the rubric's [metrics] data_root"), or "the default"."""

    path: Path
    source: str

    def __str__(self) -> str:
        return f"{self.path} (from {self.source})"


def resolve_data_root(flag: str | Path | None = None, configured: str | Path | None = None,
                      configured_by: str = "the configuration's data_root", *, base: Path | None = None,
                      environ: Mapping[str, str] | None = None) -> DataRoot:
    """The data root, by the order in the module docstring: `flag` > $DIFFUSION_HW_DATA > `configured` > default.

    `configured` is resolved against `base` when relative (default: the current directory); an empty
    environment variable counts as unset. The folder need not exist: looking a dataset up says what is missing.
    """
    environ = os.environ if environ is None else environ
    if flag is not None and str(flag) != "":
        return DataRoot(Path(flag).expanduser().resolve(), FROM_FLAG)
    if environ.get(DATA_ROOT_ENV):
        return DataRoot(Path(environ[DATA_ROOT_ENV]).expanduser().resolve(), FROM_ENV)
    if configured is not None and str(configured) != "":
        path = Path(configured).expanduser()
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        return DataRoot(path.resolve(), configured_by)
    return DataRoot(DEFAULT_DATA_ROOT.expanduser().resolve(), FROM_DEFAULT)


def is_dataset_name(value: str | Path) -> bool:
    """Whether `value` is a dataset name (looked up under the data root) rather than a path."""
    text = str(value)
    return (text not in ("", ".", "..") and not text.startswith("~") and "/" not in text and "\\" not in text
            and not Path(text).is_absolute())


def _how_to_fill(name: str, folder: Path) -> str:
    card = CATALOGUE.get(name)
    if card is not None:
        return f"put {card.images} in {folder}/ ({card.layout}), e.g. from {card.source}"
    known = ", ".join([f"'{builtin}' (built in)" for builtin in BUILTIN_NAMES] + [f"'{n}'" for n in CATALOGUE])
    return (f"it is none of the known datasets ({known}); for a dataset of your own, put its images in "
            f"{folder}/ (PNG or JPG files, subfolders allowed), or pass the path of its folder instead of a name")


def missing_dataset_message(name: str, root: DataRoot, problem: str | None = None) -> str:
    """What to do when dataset `name` is not usable under `root`: what to fetch, where, the layout and count.

    `problem` says what is wrong with the folder that is there ("is a file, not a folder"); None: there is none.
    """
    where = f"{root.path} (the data root, from {root.source})"
    found = f"{name} not found under {where}" if problem is None else f"{name} under {where} {problem}"
    change = (f"or point the data root at the folder that holds {name}/: pass {FROM_FLAG} DIR "
              f"or set {DATA_ROOT_ENV}=DIR")
    return f"{found}: {_how_to_fill(name, root.path / name)}; {change}"


def _holds_an_image(folder: Path) -> bool:
    return any(path.suffix.lower().lstrip(".") in DEFAULT_IMAGE_EXTENSIONS and path.is_file()
               for path in folder.rglob("*"))


def locate_dataset(name: str, root: DataRoot) -> Path:
    """The folder of the named dataset `name` under `root`; DatasetError saying what to do when it is
    missing, not a folder, or holds no images."""
    if name in BUILTIN_NAMES:
        raise ValueError(f"{name!r} is built in and has no folder: load it with data.load_dataset({name!r}, ...)")
    if not is_dataset_name(name):
        raise ValueError(f"{name!r} is a path, not a dataset name: use the path itself")
    folder = root.path / name
    if not folder.exists():
        raise DatasetError(missing_dataset_message(name, root))
    if not folder.is_dir():
        raise DatasetError(missing_dataset_message(name, root, "is a file, not a folder"))
    if not _holds_an_image(folder):
        raise DatasetError(missing_dataset_message(name, root, "holds no image files"))
    return folder
