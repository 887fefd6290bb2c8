"""Text that came from a student, made safe to hold, show and write.

Everything a sandbox worker returns and everything inside a hand-in is hostile data: an exception
message, a file name, a notebook cell, a tensor that is supposed to spell an error message. Such text
reaches results.json, report.md/html, the terminal and the gradebook, so two things must hold for it:

  * it can be written as UTF-8: Python strings may hold lone surrogates ("\\udcff" from a file name
    that is not UTF-8, "\\ud800" from a JSON escape in a worker's message), and `write_text` or
    `print` raises UnicodeEncodeError on them, which would end grading without a result;
  * it is small: a message is cut to a length a person can read, before anything else touches it.

`safe_text` does both for any string; `error_text` decodes the uint8 tensor a probe sends for an
exception (grader/grading/probes.py `_text`) with the same bounds, whatever shape, dtype or size it has.
"""

from __future__ import annotations

import re

import torch

MAX_TEXT_CHARS = 20_000  # a check's message: a few screens at most
MAX_ERROR_BYTES = 4_000  # probes send at most 2,000 bytes of an exception message
_SURROGATES = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def safe_text(value: object, limit: int = MAX_TEXT_CHARS) -> str:
    """`value` as a string that can always be encoded as UTF-8, at most about `limit` characters:
    lone surrogates become U+FFFD, and the tail of a longer text is cut with a note saying so."""
    text = value if type(value) is str else _plain_str(value)
    if len(text) > limit:
        cut = len(text) - limit
        text = f"{text[:limit]} [... {cut} more characters cut]"
    return _SURROGATES.sub(REPLACEMENT, text)


def _plain_str(value: object) -> str:
    try:
        text = str(value)
    except Exception:  # a hostile __str__
        return f"<a {type(value).__name__} that cannot be shown>"
    return text if type(text) is str else f"<a {type(value).__name__} that cannot be shown>"


def error_text(value: object) -> str:
    """The message a probe encoded as a uint8 tensor of UTF-8 bytes, decoded with bounds.

    Only the first MAX_ERROR_BYTES bytes are ever converted (a tensor of millions of elements costs
    nothing), only uint8 is read as text (a float or a huge int would otherwise have to be
    converted value by value), and undecodable bytes become U+FFFD."""
    if not isinstance(value, torch.Tensor):
        return f"(an error whose message is a {type(value).__name__}, not text)"
    if value.dtype != torch.uint8:
        return f"(an error whose message is a {value.dtype} tensor of shape {tuple(value.shape)}, not text)"
    flat = value.detach().reshape(-1)
    data = flat[:MAX_ERROR_BYTES].cpu().numpy().tobytes()
    text = data.decode("utf-8", "replace")
    if flat.numel() > MAX_ERROR_BYTES:
        text += f" [... {flat.numel() - MAX_ERROR_BYTES} more bytes cut]"
    return safe_text(text)
