"""Removing a folder that student code filled: iteratively, without following links, never raising.

A call directory holds whatever the worker left in it: a tree thousands of folders deep, folders it
made unreadable, links to elsewhere, millions of files. `shutil.rmtree` descends recursively (a deep
enough tree raises RecursionError, which ignore_errors does not cover), and a path thousands of
folders long is too long for the kernel (ENAMETOOLONG). So `remove_tree` never walks down:

    repeat until the folder is empty:
        for each entry of the top folder:
            not a folder (a file, a link, a FIFO)  -> unlink it
            a folder                               -> unlink its files, *move its sub-folders up* into
                                                      the top folder, then remove it

Each folder is handled once, when it has been moved up to the top, so a tree of any depth is removed
in time proportional to its size, with at most two open descriptors, always relative to them (never a
long path), and a link is removed, never followed. Folders it owns but may not read or write are made
so first. Work is bounded by a time budget, in case something keeps adding files; whatever it could
not remove stays, and the function returns False instead of raising.
"""

from __future__ import annotations

import errno
import itertools
import os
import secrets
import stat
import time

TIME_BUDGET_S = 60.0
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: str | os.PathLike, time_budget_s: float = TIME_BUDGET_S) -> bool:
    """Remove `path` (a folder and everything under it, or a single file or link); True when it is gone.
    Never raises, never follows a link, never recurses."""
    try:
        return _remove_tree(os.fspath(path), time.monotonic() + time_budget_s)
    except Exception:  # cleanup must never end grading; False says something was left
        return False


def _remove_tree(path: str, deadline: float) -> bool:
    try:
        top = _open_folder(path, None)
    except FileNotFoundError:
        return True
    except OSError:  # a file, a link or something else where the folder was
        return _quietly(os.unlink, path)
    prefix = f".removing-{secrets.token_hex(4)}-"
    names = (f"{prefix}{k}" for k in itertools.count())
    try:
        while time.monotonic() < deadline:
            entries = os.listdir(top)
            progress = False
            for name in entries:
                if time.monotonic() >= deadline:
                    break
                progress = _empty_and_remove(top, name, names) or progress
            if not progress:  # empty, or only what we may not remove (another user's folder) is left
                break
    finally:
        os.close(top)
    return _quietly(os.rmdir, path) or not os.path.lexists(path)


def _empty_and_remove(top: int, name: str, fresh_names) -> bool:
    """Remove entry `name` of the folder `top`: a folder loses its files and hands its sub-folders up to
    `top` (under fresh names) before it is removed itself. True when anything was removed or moved."""
    try:
        folder = _open_folder(name, top)
    except FileNotFoundError:
        return True
    except OSError:  # not a folder (or a link to one): the entry itself goes
        return _quietly(os.unlink, name, dir_fd=top)
    progress = False
    try:
        for child in os.listdir(folder):
            try:
                is_folder = stat.S_ISDIR(os.stat(child, dir_fd=folder, follow_symlinks=False).st_mode)
            except OSError:
                continue
            if not is_folder:
                progress = _quietly(os.unlink, child, dir_fd=folder) or progress
                continue
            for _ in range(3):  # a name someone else took meanwhile: try another
                try:
                    os.rename(child, next(fresh_names), src_dir_fd=folder, dst_dir_fd=top)
                    progress = True
                    break
                except FileExistsError:
                    continue
                except OSError as exc:
                    if exc.errno != errno.ENOTEMPTY:
                        break
    finally:
        os.close(folder)
    return _quietly(os.rmdir, name, dir_fd=top) or progress


def _open_folder(name: str, parent: int | None) -> int:
    """An fd of folder `name` (relative to `parent`), made readable, writable and searchable by us if we
    own it; OSError if it is not a folder (a link is never followed)."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    except PermissionError:
        # Unreadable (mode 000, say): open the folder itself as a handle, not by name, and give it back
        # to its owner through that handle, so that a link put there meanwhile is never changed.
        handle = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            os.chmod(f"/proc/self/fd/{handle}", 0o700)
        finally:
            os.close(handle)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    try:
        if os.fstat(fd).st_mode & 0o700 != 0o700:
            os.fchmod(fd, 0o700)
    except OSError:
        pass  # not ours: removing may still work (as root), or leave it
    return fd


def _quietly(action, *args, **kwargs) -> bool:
    try:
        action(*args, **kwargs)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False
