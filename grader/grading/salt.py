"""The grading salt: the secret from which the instructor's grading draws every case, public and hidden.

Students get the public checks' fixed cases with the handout (grader/grading/public_expected.safetensors: the
inputs and the reference's outputs). If the instructor's grading asked the same questions, a blank
starter plus a table of those answers would earn the public points, and a hidden case seen in one
term's feedback would be the same in the next. So the instructor's plans are drawn under a salt
(grader/checks/_cases.py): different cases from the handout's, and from another salt's, but the
same ones every time for the same salt, so that a regrade gives the same score.

Where the salt comes from, first found wins:

  1. $DIFFUSION_HW_SALT                      set per course or per deadline (CI, a batch script)
  2. grading-salt next to the rubric        grader/grading-salt: how a deployment carries it;
                                             `python3 tasks.py gradescope` writes the current salt
                                             there in the autograder zip. Never in the handout.
  3. $DIFFUSION_HW_CACHE/grading-salt       the instructor's own machine (default
                                             ~/.cache/diffusion-hw/grading-salt): created with a
                                             random salt on first use, readable by its owner only

To rotate it (a new deadline, a leak), set $DIFFUSION_HW_SALT or replace the file with any other
text; everything graded afterwards is graded on new cases. Keep the old one to regrade old work.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Callable

from grader.errors import GraderError
from grader.metrics.cache import cache_root

SALT_ENV_VAR = "DIFFUSION_HW_SALT"
SALT_FILE = "grading-salt"

Log = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def grading_salt(rubric_path: Path | None = None, log: Log = _stderr) -> str:
    """The salt of the instructor's grading (see the module docstring for where it comes from)."""
    from_env = os.environ.get(SALT_ENV_VAR, "").strip()
    if from_env:
        return from_env
    if rubric_path is not None:
        beside = Path(rubric_path).parent / SALT_FILE
        if beside.is_file():
            return _read(beside)
    return _read_or_create(cache_root() / SALT_FILE, log)


def _read(path: Path) -> str:
    try:
        salt = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"cannot read the grading salt {path} ({exc}): fix its permissions, or delete it "
                          f"to draw a new one (scores of new cases), or set {SALT_ENV_VAR}") from None
    if not salt:
        raise GraderError(f"the grading salt {path} is empty: put any secret text in it, or delete it to draw "
                          f"a new one, or set {SALT_ENV_VAR}")
    return salt


def _read_or_create(path: Path, log: Log) -> str:
    """Read the salt at `path`; if there is none, create it (owner-only) and say so."""
    if path.is_file():
        return _read(path)
    salt = secrets.token_hex(16)
    temporary = path.with_name(f".{SALT_FILE}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(salt + "\n")
        os.link(temporary, path)  # never replaces: of two first uses at once, one salt wins
    except FileExistsError:
        return _read(path)
    except OSError as exc:
        raise GraderError(f"cannot create the grading salt {path} ({exc}): set {SALT_ENV_VAR} to a secret, "
                          "or point DIFFUSION_HW_CACHE at a writable folder") from None
    finally:
        temporary.unlink(missing_ok=True)
    log(f"grader: created a new grading salt in {path}: the instructor's cases are drawn from it. Keep it to "
        f"regrade with the same cases; replace it, or set {SALT_ENV_VAR}, to draw new ones.")
    return salt
