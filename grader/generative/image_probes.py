"""Decoding a student's image files, inside the sandbox (grader/generative/student_images.py runs it).

Image files handed in (samples for FID, the anagram for CLIP) are parsed by Pillow: C code reading
bytes the student chose. A decompression bomb, or a crafted file that exploits a bug in a decoder,
must not reach the grading process, so the files are decoded here, in a sandboxed worker like any
student code: confined, memory- and time-limited. Only a uint8 tensor comes back, which the grader
checks (dtype, shape, size) before using it.

This file is loaded by the sandbox on its own: it imports nothing from the grader. The "package" the
sandbox imports is a stand-in folder that holds the copied files under `images/`.

decode_images   params: {"files": [names under images/], "max_pixels": P, "max_bytes": B}
                -> {"images": (N, 3, H, W) uint8} (RGB, converted as clean-fid does), or, for the first
                file that cannot be used, {"bad_file": its index, "reason": UTF-8 text as uint8}.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

Tensor = torch.Tensor


def _text(message: str) -> Tensor:
    return torch.tensor(list(message.encode("utf-8", "replace")[:2000]), dtype=torch.uint8)


def probe_decode_images(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    from PIL import Image

    folder = os.path.join(os.path.dirname(hw.__file__), "images")
    max_pixels, max_bytes = int(params["max_pixels"]), int(params["max_bytes"])
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    arrays: list[np.ndarray] = []
    total = 0

    def refuse(index: int, reason: str) -> dict[str, Tensor]:
        return {"bad_file": torch.tensor(index), "reason": _text(reason)}

    for index, name in enumerate(params["files"]):
        try:
            with Image.open(os.path.join(folder, name)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    return refuse(index, f"it is {width}x{height} pixels, more than the {max_pixels} read")
                total += width * height * 3
                if total > max_bytes:
                    return refuse(index, f"the images up to it decode to more than {max_bytes >> 20} MB")
                array = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
        except Exception as exc:  # noqa: BLE001 - DecompressionBombError, UnidentifiedImageError, truncated files
            return refuse(index, f"it is not a readable image ({type(exc).__name__}: {exc})")
        if arrays and array.shape != arrays[0].shape:
            return refuse(index, f"it is {array.shape[1]}x{array.shape[0]} but the first image is "
                                 f"{arrays[0].shape[1]}x{arrays[0].shape[0]}: all images of a set must have one size")
        arrays.append(array)
    if not arrays:
        return {"images": torch.zeros((0, 3, 1, 1), dtype=torch.uint8)}
    return {"images": torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()}


PROBES: dict[str, Callable[[Any, dict[str, Tensor], dict], dict[str, Tensor]]] = {
    "decode_images": probe_decode_images,
}
