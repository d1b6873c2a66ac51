"""Reading a file's text safely: size limit, emptiness, encoding, JSON syntax, JSON paths.

Every failure here is about the whole file and raises :class:`~core.errors.InputError` with one
:class:`~core.errors.Problem` naming the file (and the line when there is one).
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
from collections.abc import Mapping
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


def read_text(path: Path, file: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Return a file's text, decoded as UTF-8 (with or without a byte-order mark).

    Args:
        path: The file.
        file: The name to show in problems.
        max_bytes: Largest accepted size.

    Raises:
        InputError: Missing, unreadable, too large, empty, or not UTF-8 text.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(Problem(file, None, None, "no such file")) from None
    except OSError as exc:
        raise InputError(Problem(file, None, None, f"cannot read the file: {exc.strerror or exc}")) from None
    if path.is_dir():
        raise InputError(Problem(file, None, None, "is a folder, not a file"))
    if size > max_bytes:
        raise InputError(Problem(file, None, None, f"file is {_mb(size)}, over the {_mb(max_bytes)} size limit; "
                                                   "split it or raise the limit"))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(Problem(file, None, None, f"cannot read the file: {exc.strerror or exc}")) from None
    if data.startswith(_UTF16_BOMS):
        raise InputError(Problem(file, None, None, "file is UTF-16 text; save it as UTF-8"))
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(Problem(
            file, f"line {line}", None,
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {col} cannot be decoded "
            "(tried UTF-8 and UTF-8 with BOM); save the file as UTF-8")) from None
    if not text.strip():
        raise InputError(Problem(file, None, None, "file is empty"))
    return text


def parse_json(text: str, file: str) -> Any:
    """Parse JSON text.

    Raises:
        InputError: Invalid JSON, with its line and column.
    """
    try:
        return json.loads(text)
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
