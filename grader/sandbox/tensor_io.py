"""Tensors across the sandbox boundary: safetensors files only, validated before they are trusted.

Everything here runs in the grading process and treats the call directory as hostile: the student's
code could have replaced any file there with a symlink, a FIFO or garbage.
"""

from __future__ import annotations

import json
import os
import stat
import struct
from pathlib import Path

import safetensors.torch
import torch

# safetensors dtype names accepted from the student, and the torch dtypes they load as.
ALLOWED_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
MAX_TENSORS = 1024
MAX_HEADER_BYTES = 1 << 20
MAX_DIMS = 16  # the probes return at most 6-dimensional tensors


class OutputRejected(Exception):
    """The outputs file is missing, too large or not a dict of plain numeric tensors."""


def write_inputs(path: Path, inputs: dict[str, torch.Tensor]) -> None:
    """Save the grader's input tensors for a worker (grader-side data: a bad value is a grader bug)."""
    if type(inputs) is not dict:
        raise TypeError(f"inputs must be a dict of tensors, got {type(inputs).__name__}")
    plain = {}
    for name, value in inputs.items():
        if type(name) is not str or not name:
            raise TypeError(f"input names must be non-empty strings, got {name!r}")
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"input {name!r} must be a torch.Tensor, got {type(value).__name__}")
        plain[name] = value.detach().to("cpu").contiguous().clone()  # clone: safetensors refuses shared storage
    safetensors.torch.save_file(plain, str(path))


def _open_regular(path: Path) -> tuple[int, int]:
    """Open without following symlinks or blocking on FIFOs; returns (fd, size) of a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise OSError(f"{path.name} is not a regular file")
    return fd, info.st_size


def _pread_all(fd: int, size: int, offset: int) -> bytes:
    chunks, done = [], 0
    while done < size:
        chunk = os.pread(fd, min(size - done, 1 << 24), offset + done)
        if not chunk:
            break
        chunks.append(chunk)
        done += len(chunk)
    return b"".join(chunks)


def read_capture(path: Path, limit: int) -> str:
    """The head and tail of a captured stdout/stderr file, about `limit` bytes in all."""
    try:
        fd, size = _open_regular(path)
    except OSError:
        return ""
    try:
        if size <= limit:
            data = _pread_all(fd, size, 0)
            return data.decode("utf-8", errors="replace")
        head = _pread_all(fd, limit // 2, 0).decode("utf-8", errors="replace")
        tail = _pread_all(fd, limit // 2, size - limit // 2).decode("utf-8", errors="replace")
        return f"{head}\n[... {size - 2 * (limit // 2)} bytes cut ...]\n{tail}"
    finally:
        os.close(fd)


def _span(name: str, shape: object, limit: int) -> int:
    """How many elements `shape` spans, counting a zero dimension as one: an empty tensor of shape
    (2**40, 0) holds no bytes, yet a judge that loops over its first dimension (or `.tolist()`, which
    builds 2**40 empty lists) would never finish. A tensor of `limit` bytes spans at most `limit`
    elements, so no honest output is refused by this bound."""
    if type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape):
        raise OutputRejected("the outputs file has a malformed header")
    if len(shape) > MAX_DIMS:
        raise OutputRejected(f"output {name!r} has {len(shape)} dimensions; at most {MAX_DIMS} are accepted")
    span = 1
    for size in shape:
        span *= max(size, 1)
        if span > limit:
            raise OutputRejected(f"output {name!r} has shape {tuple(shape)}, which spans more than {limit} elements "
                                 "(empty tensors count their non-zero dimensions): "
                                 "return tensors of the shapes asked for")
    return span


def read_outputs(path: Path, max_bytes: int) -> dict[str, torch.Tensor]:
    """Load and validate a worker's outputs file; raises OutputRejected with a student-facing reason."""
    try:
        fd, size = _open_regular(path)
    except FileNotFoundError:
        raise OutputRejected("the call produced no outputs file") from None
    except OSError as exc:
        raise OutputRejected(f"the outputs file could not be opened ({exc})") from None
    try:
        if size > max_bytes + MAX_HEADER_BYTES + 8:
            raise OutputRejected(f"the outputs are {size} bytes, more than the limit of {max_bytes} bytes")
        data = _pread_all(fd, size, 0)
    finally:
        os.close(fd)
    if len(data) < 8:
        raise OutputRejected("the outputs file is truncated")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > MAX_HEADER_BYTES or 8 + header_size > len(data):
        raise OutputRejected("the outputs file has a malformed header")
    try:
        header = json.loads(data[8 : 8 + header_size])
    except ValueError:
        raise OutputRejected("the outputs file has a malformed header") from None
    if type(header) is not dict:
        raise OutputRejected("the outputs file has a malformed header")
    header.pop("__metadata__", None)
    if len(header) > MAX_TENSORS:
        raise OutputRejected(f"the probe returned {len(header)} tensors; at most {MAX_TENSORS} are accepted")
    total = spans = 0
    for name, entry in header.items():
        if type(entry) is not dict or entry.get("dtype") not in ALLOWED_DTYPES:
            dtype = entry.get("dtype") if type(entry) is dict else entry
            raise OutputRejected(f"output {name!r} has dtype {dtype!r}; "
                                 "only real, integer and bool tensors are accepted")
        offsets = entry.get("data_offsets")
        if not (type(offsets) is list and len(offsets) == 2 and all(type(x) is int and x >= 0 for x in offsets)):
            raise OutputRejected("the outputs file has a malformed header")
        total += offsets[1] - offsets[0]
        spans += _span(name, entry.get("shape"), max_bytes)
    if total > max_bytes:
        raise OutputRejected(f"the outputs total {total} bytes, more than the limit of {max_bytes} bytes")
    if spans > max_bytes:
        raise OutputRejected(f"the outputs' shapes span {spans} elements in all, more than the limit of {max_bytes} "
                             "(empty tensors count their non-zero dimensions): return tensors of the shapes asked for")
    try:
        loaded = safetensors.torch.load(data)
    except Exception as exc:  # safetensors' own validation, reported to the student
        raise OutputRejected(f"the outputs file is not valid safetensors: {exc}") from None
    outputs = {}
    for name, tensor in loaded.items():
        if type(tensor) is not torch.Tensor or tensor.dtype not in ALLOWED_DTYPES.values():
            raise OutputRejected(f"output {name!r} is not a plain numeric tensor")
        outputs[name] = tensor
    return outputs
