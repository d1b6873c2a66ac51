"""Reading a file's text safely: size limit, emptiness, encoding, JSON syntax, JSON paths.

Every failure here is about the whole file and raises :class:`~core.errors.InputError` with one
:class:`~core.errors.Problem` naming the file (and the line when there is one).
"""

from __future__ import annotations

import codecs
import errno
import json
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.errors import InputError, Problem

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
ENV_MAX_MB = "INFLOW_MAX_MB"


def default_max_bytes(environ: Mapping[str, str] | None = None) -> int:
    """Return the file size limit: ``$INFLOW_MAX_MB`` megabytes if set, else 200 MB.

    Raises:
        InputError: ``INFLOW_MAX_MB`` is not a positive number.
    """
    env = os.environ if environ is None else environ
    raw = (env.get(ENV_MAX_MB) or "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not 0 < mb < math.inf:  # also rejects NaN
        raise InputError(Problem("settings", None, ENV_MAX_MB, f"{ENV_MAX_MB} must be a positive number of MB, "
                                                                f"got {raw!r}"))
    return int(mb * 1024 * 1024)

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _mb(n: float) -> str:
    return f"{n / (1024 * 1024):.1f}".rstrip("0").rstrip(".") + " MB"


Progress = Callable[[str, int, int], None]
"""A progress callback: ``(stage, done, total)``, e.g. ``("read KiB", 512, 2048)`` (the build's bar takes it)."""

SYSTEM_DIRS = ("/etc", "/proc", "/sys", "/dev", "/boot", "/run", "/var/log")
"""Real paths never read as data: a link to ``/etc/passwd`` must not echo its first line as column names."""

_CHUNK = 1024 * 1024


def _system_path(real: str) -> bool:
    return any(real == d or real.startswith(d + os.sep) for d in SYSTEM_DIRS)


def _open_problem(file: str, exc: OSError) -> InputError:
    if exc.errno == errno.ELOOP:
        return InputError(Problem(file, None, None, "is a symbolic link loop (or a chain too long to follow)"))
    if exc.errno == errno.ENOENT:
        return InputError(Problem(file, None, None, "no such file"))
    return InputError(Problem(file, None, None, f"cannot read the file: {exc.strerror or exc}"))


def read_bytes(path: Path, file: str, max_bytes: int = DEFAULT_MAX_BYTES, *, limit_is_head: bool = False,
               progress: Progress | None = None) -> bytes:
    """Return a regular file's bytes, reading at most ``max_bytes`` (+1) whatever the file claims to be.

    Only regular files are read: folders, devices (``/dev/zero``, ``/dev/urandom``), FIFOs and
    sockets are refused before any read (a FIFO is opened non-blocking, so it cannot hang), as are
    symlink loops and files under system folders (:data:`SYSTEM_DIRS`). The read itself stops
    after ``max_bytes`` bytes, so a file that grows or lies about its size cannot exhaust memory.

    Args:
        path: The file.
        file: The name to show in problems.
        max_bytes: Largest accepted size (or, with ``limit_is_head``, how much to read).
        limit_is_head: Return the first ``max_bytes`` bytes of a larger file instead of refusing it.
        progress: Told ``("read KiB", done, total)`` as chunks arrive.

    Raises:
        InputError: Missing, not a regular file, a system file, unreadable, or too large.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise _open_problem(file, exc) from None
    with os.fdopen(fd, "rb", buffering=0) as fh:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(Problem(file, None, None, "is a folder, not a file"))
        if not stat.S_ISREG(info.st_mode):
            raise InputError(Problem(file, None, None, "is not a regular file (a device, pipe or socket); "
                                                       "give a data file"))
        if _system_path(os.path.realpath(path)):
            raise InputError(Problem(file, None, None, "is a system file, not a data file (a link pointing into "
                                                       f"{', '.join(SYSTEM_DIRS)} is not followed)"))
        size = info.st_size
        if size > max_bytes and not limit_is_head:
            raise InputError(Problem(file, None, None, f"file is {_mb(size)}, over the {_mb(max_bytes)} size "
                                                       "limit; split it or raise the limit"))
        want = max_bytes if limit_is_head else max_bytes + 1  # one byte more tells a file that grew
        chunks: list[bytes] = []
        done = 0
        total_kib = max(1, min(size, want) // 1024)
        while done < want:
            try:
                chunk = fh.read(min(_CHUNK, want - done))
            except OSError as exc:
                raise InputError(Problem(file, None, None, f"cannot read the file: {exc.strerror or exc}")) from None
            if not chunk:
                break
            chunks.append(chunk)
            done += len(chunk)
            if progress is not None:
                progress("read KiB", total_kib if done >= size else min(done // 1024, total_kib), total_kib)
    if done > max_bytes and not limit_is_head:
        raise InputError(Problem(file, None, None, f"file is over the {_mb(max_bytes)} size limit (it grew "
                                                   "while being read); split it or raise the limit"))
    return b"".join(chunks)


def decode_text(data: bytes, file: str) -> str:
    """Decode file bytes as UTF-8 (with or without a byte-order mark).

    Raises:
        InputError: UTF-16 text, or bytes that are not UTF-8 (with their line and column).
    """
    if data.startswith(_UTF16_BOMS):
        raise InputError(Problem(file, None, None, "file is UTF-16 text; save it as UTF-8"))
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(Problem(
            file, f"line {line}", None,
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {col} cannot be decoded "
            "(tried UTF-8 and UTF-8 with BOM); save the file as UTF-8")) from None


def read_text(path: Path, file: str, max_bytes: int = DEFAULT_MAX_BYTES, progress: Progress | None = None) -> str:
    """Return a file's text, decoded as UTF-8 (with or without a byte-order mark).

    Args:
        path: The file.
        file: The name to show in problems.
        max_bytes: Largest accepted size.
        progress: Told ``("read KiB", done, total)`` while reading.

    Raises:
        InputError: Missing, not a regular file, unreadable, too large, empty, or not UTF-8 text
            (see :func:`read_bytes`).
    """
    text = decode_text(read_bytes(path, file, max_bytes, progress=progress), file)
    if not text.strip():
        raise InputError(Problem(file, None, None, "file is empty"))
    return text


MAX_INT_DIGITS = 4300
"""Longest integer literal converted (Python's own int/str conversion limit)."""

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class LongNumber(str):
    """An integer literal longer than :data:`MAX_INT_DIGITS` digits, kept as its text.

    Converting it would raise (or take quadratic time); the row checks report it with its field.
    """


class KeyedObject(dict):  # type: ignore[type-arg]
    """A JSON object in which some keys appeared more than once (``duplicates``; the last value was kept)."""

    duplicates: tuple[str, ...] = ()


def _int(literal: str) -> int | LongNumber:
    digits = len(literal) - literal.startswith("-")
    return int(literal) if digits <= MAX_INT_DIGITS else LongNumber(literal)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    dups: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in dups:
            dups.append(key)
        seen.add(key)
    out = KeyedObject(obj)
    out.duplicates = tuple(dups)
    return out


def repair_text(text: str) -> str:
    """Replace lone surrogates by U+FFFD, also those standing for the bytes of a file name that is not UTF-8."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def _repair(value: Any) -> Any:
    """Replace lone surrogates (from escapes like backslash-u-D800; UTF-8 text cannot hold them) by U+FFFD."""
    if isinstance(value, str):
        return repair_text(value) if not isinstance(value, LongNumber) else value
    if isinstance(value, list):
        return [_repair(v) for v in value]
    if isinstance(value, dict):
        out = type(value)((_repair(k), _repair(v)) for k, v in value.items())
        if isinstance(value, KeyedObject):
            out.duplicates = value.duplicates
        return out
    return value


def loads_json(text: str) -> Any:
    """Parse JSON the way every loader (and the Upload preview) does.

    Integers over :data:`MAX_INT_DIGITS` digits become :class:`LongNumber`, objects with repeated
    keys become :class:`KeyedObject`, and lone surrogate escapes are replaced by U+FFFD, so
    validate, build and the preview see the same values.

    Raises:
        json.JSONDecodeError: Invalid JSON.
        RecursionError: Nested too deeply.
    """
    data = json.loads(text, parse_int=_int, object_pairs_hook=_object)
    return _repair(data) if _SURROGATE_ESCAPE.search(text) else data


def duplicate_keys(value: Any) -> tuple[str, ...]:
    """The keys an object parsed by :func:`loads_json` had more than once (empty for other values)."""
    return value.duplicates if isinstance(value, KeyedObject) else ()


def parse_json(text: str, file: str) -> Any:
    """Parse JSON text with :func:`loads_json`.

    Raises:
        InputError: Invalid JSON, with its line and column.
    """
    try:
        return loads_json(text)
    except json.JSONDecodeError as exc:
        raise InputError(Problem(file, f"line {exc.lineno}", None,
                                 f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")) from None
    except RecursionError:
        raise InputError(Problem(file, None, None, "invalid JSON: nested too deeply")) from None


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_key(path: str, key: str) -> str:
    """Extend a JSON path with an object key: ``$`` + ``u1`` -> ``$.u1``; odd keys are quoted."""
    if _IDENT.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def kind_of(value: Any) -> str:
    """Name a JSON value's type for messages ("an object", "a list", "a number"...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return "a number"
    return "text"
