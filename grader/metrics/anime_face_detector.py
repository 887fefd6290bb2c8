"""The `animeface` 2.0.3 detector, called on pixels instead of on a PIL image: it works with any Pillow.

Why. `animeface.detect(pil_image)` hands `pil_image.getdata()` (Pillow's ImagingCore object) to its C
extension, which reads the pixels straight out of Pillow's private structs as they were laid out when
the wheel was built (Pillow 4.x). Pillow 12 changed that layout, and `detect` then silently finds no
face at all. Nothing in the extension needs Pillow itself, only those two structs, so we build them:

    what the extension reads              what we pass
    obj->image  (ImagingObject: a         a ctypes Structure instance: CPython's CDataObject keeps,
      pointer after PyObject_HEAD)          after PyObject_HEAD, b_ptr, the address of its own buffer
    image->mode, ->xsize, ->ysize         _ImagingLayout: Pillow 4.x's ImagingMemoryInstance, leading
    image->image[y][4 x + c], c < 3         fields, with row pointers into an (H, W, 4) uint8 array

Both assumptions are checked where they can be: b_ptr's place on every call (a wrong guess would be a
crash, so it raises MetricUnavailable instead), the extension's version (2.0.3, the one whose layout
this is) once. The tests hold the likelihoods equal to `animeface.detect`'s under a Pillow where that
still works (< 12), and check that `animeface.detect` finds nothing under Pillow >= 12.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable
from importlib import metadata

import numpy as np

from .errors import MetricUnavailable

SUPPORTED_VERSION = "2.0.3"
_B_PTR_OFFSET = 2 * ctypes.sizeof(ctypes.c_void_p)  # after PyObject_HEAD (ob_refcnt, ob_type)


class _ImagingLayout(ctypes.Structure):
    """The leading fields of Pillow 4.x's `struct ImagingMemoryInstance` (libImaging/Imaging.h)."""

    _fields_ = [
        ("mode", ctypes.c_char * 7),  # IMAGING_MODE_LENGTH = 6 + 1
        ("type", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("bands", ctypes.c_int),
        ("xsize", ctypes.c_int),
        ("ysize", ctypes.c_int),
        ("palette", ctypes.c_void_p),
        ("image8", ctypes.c_void_p),  # UINT8 **, for 8-bit images (NULL here)
        ("image32", ctypes.c_void_p),  # INT32 **, for 32-bit pixels
        ("image", ctypes.c_void_p),  # char **, what IMAGING_PIXEL_RGB reads: image[y][4 x + c]
    ]


def load_detector() -> Callable[[np.ndarray], list]:
    """detect(rgb) -> faces, from animeface's C extension; MetricUnavailable saying how to install it."""
    install = f"{sys.executable} -m pip install animeface=={SUPPORTED_VERSION}"
    try:
        version = metadata.version("animeface")
        import animeface
        from animeface import _nvxs
    except (ImportError, metadata.PackageNotFoundError) as error:
        raise MetricUnavailable(
            f"the anime face detector is not installed ({error}); install it with:\n    {install}"
        ) from error
    if version != SUPPORTED_VERSION:
        raise MetricUnavailable(f"animeface {version} is installed, but the pixel layout handed to its detector is "
                                f"that of animeface {SUPPORTED_VERSION}; install it with:\n    {install}")
    return functools.partial(_detect_faces, _nvxs.detect, animeface.Face)


def detect_faces(rgb: np.ndarray) -> list:
    """animeface.Face for each face found in an (H, W, 3) uint8 RGB image (any Pillow, or none)."""
    return load_detector()(rgb)


def _detect_faces(detect: Callable, face: type, rgb: np.ndarray) -> list:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"detect_faces takes an (H, W, 3) uint8 image, got {rgb.dtype} of shape {rgb.shape}")
    height, width = rgb.shape[:2]
    pixels = np.zeros((height, width, 4), dtype=np.uint8)  # Pillow's RGB: 4 bytes a pixel, the 4th unused
    pixels[..., :3] = rgb
    base, stride = pixels.ctypes.data, pixels.strides[0]
    rows = (ctypes.c_void_p * height)(*(base + y * stride for y in range(height)))
    image = _ImagingLayout(b"RGB", 0, 8, 3, width, height, None, None, ctypes.addressof(rows), ctypes.addressof(rows))
    if ctypes.c_void_p.from_address(id(image) + _B_PTR_OFFSET).value != ctypes.addressof(image):
        raise MetricUnavailable("this Python's ctypes objects do not keep their buffer's address right after the "
                                "object header, which the anime face detector's call relies on: AFD cannot run here")
    results = detect(image)  # pixels and rows stay referenced until it returns
    return [face(result) for result in results]
