"""Safe file writes for exports, and opening a workspace file a user named.

Every problem a user can cause here (a folder as the target, a missing folder, a full disk, a file
that is not a workspace, overwriting the workspace itself) is an :class:`~core.errors.InputError`
naming the file, never a traceback.
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any

from core.errors import InputError, Problem
from core.store.workspace import Workspace

SQLITE_MAGIC = b"SQLite format 3\x00"
_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def json_safe(obj: Any) -> Any:
    """Return ``obj`` with NaN and infinities replaced by None, so it is valid JSON (they are not)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full (no space left on device)"
    if exc.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    return exc.strerror or str(exc)


def check_target(out: str | Path, *, force: bool = False, protect: str | Path | None = None) -> Path:
    """Check that ``out`` may be written: a file name in an existing folder, not ``protect``.

    Args:
        out: The file to write.
        force: Allow replacing an existing file.
        protect: A file that must never be replaced, even with ``force`` (the workspace being exported).

    Returns:
        ``out`` as a Path.

    Raises:
        InputError: ``out`` is a folder, its folder is missing, it is ``protect`` (or one of its
            SQLite side files), or it exists and ``force`` is off.
    """
    name = str(out)
    path = Path(out)
    if protect is not None:
        guarded = Path(protect).resolve()
        target = path.resolve()
        same = path.exists() and guarded.exists() and os.path.samefile(path, guarded)  # a hard link, too
        if same or any(target == guarded.with_name(guarded.name + s) for s in _SIDE_FILES):
            raise InputError(Problem(name, None, None, "this is the workspace itself; writing the export there would "
                                                       "destroy it. Choose another file name"))
    if path.is_dir() or name.endswith(("/", os.sep)):  # Path("out/") would silently write a file "out"
        raise InputError(Problem(name, None, None, "is a folder; give a file name, e.g. "
                                                   f"{os.path.join(name, 'export.json')}"))
    parent = path.parent
    if not parent.is_dir():
        raise InputError(Problem(name, None, None, f"folder {str(parent)!r} does not exist"))
    if path.exists() or path.is_symlink():
        if not force:
            raise InputError(Problem(name, None, None, "file exists; add --force to overwrite it"))
        if not path.is_file():
            raise InputError(Problem(name, None, None, "exists and is not a regular file; choose another name"))
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``.

    A crash or a full disk leaves the old file (or none) in place, never a half-written one.

    Raises:
        InputError: The write failed (full disk, permissions, missing folder...); nothing was changed.
    """
    p = Path(path)
    tmp: str | None = None
    try:
        name = str(p.parent / f".{p.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 less the umask, like open()
        tmp = name
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
        tmp = None
    except OSError as exc:
        raise InputError(Problem(str(path), None, None, f"cannot write the file: {_why(exc)}; nothing was "
                                                        "written")) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass  # already gone, or the folder vanished: nothing left to clean
    return p


def write_json_atomic(path: str | Path, obj: Any, *, indent: int | None = None) -> Path:
    """Write ``obj`` as strict JSON (NaN and infinities as null) atomically; see :func:`write_bytes_atomic`."""
    text = json.dumps(json_safe(obj), ensure_ascii=False, indent=indent, allow_nan=False)
    return write_bytes_atomic(path, text.encode("utf-8"))


def open_workspace(path: str | Path, *, create: bool) -> Any:
    """Open a workspace file a user named, turning every file problem into an InputError.

    Args:
        path: The SQLite file.
        create: Create it (and its folders) when missing; else a missing file is a problem.

    Returns:
        The open :class:`~core.store.workspace.Workspace`.

    Raises:
        InputError: Missing (without ``create``), a folder, not a SQLite file, unreadable, or from
            a newer Inflow.
    """
    name = str(path)
    p = Path(path)
    if p.is_dir():
        raise InputError(Problem(name, None, "workspace", "is a folder, not a workspace file"))
    if p.exists():
        try:
            with p.open("rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
        except OSError as exc:
            raise InputError(Problem(name, None, "workspace", f"cannot read the workspace: {_why(exc)}")) from None
        if head and head != SQLITE_MAGIC:  # an empty file is a new database to SQLite
            raise InputError(Problem(name, None, "workspace", "is not an Inflow workspace (not a SQLite file)"))
    elif not create:
        raise InputError(Problem(name, None, "workspace", "no such workspace file"))
    try:
        return Workspace(p)
    except sqlite3.DatabaseError as exc:
        raise InputError(Problem(name, None, "workspace", f"is not a usable workspace: {exc}")) from None
    except RuntimeError as exc:  # a newer schema
        raise InputError(Problem(name, None, "workspace", str(exc))) from None
    except OSError as exc:
        raise InputError(Problem(name, None, "workspace", f"cannot open the workspace: {_why(exc)}")) from None
