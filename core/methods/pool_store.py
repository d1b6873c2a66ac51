"""A user's stored prompt pool (PILLOW): validate entries, load, save and reset them in the workspace.

An analyst may replace the default pool (built from the profile by
:func:`core.methods.pool.default_pool`) with their own list of instructions and demonstrations.
It is stored per (dataset, user) in the workspace; every place that answers for a user passes it
to the methods as :attr:`core.methods.context.AnswerContext.pool` (see :func:`load_pool`).

An entry is a JSON object ``{"id"?, "text", "kind"?, "factor_id"?, "item_id"?, "source"?}``:

* ``text``: required, not blank;
* ``kind``: ``instruction`` (default) or ``demo``;
* ``id``: unique within the pool; missing or blank ids become ``U1``, ``U2``, ...;
* ``factor_id`` / ``item_id``: optional ties to a factor / history item (entries tied to a factor
  or item that an ablation switches off are left out; a demo of the held-out query item is never shown);
* ``source``: where the entry came from (default ``user``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.errors import InputError, Problem
from core.methods.context import PoolEntry
from core.store.workspace import Workspace

KINDS = ("instruction", "demo")
FIELDS = ("id", "text", "kind", "factor_id", "item_id", "source")
MAX_ENTRIES = 500
MAX_TEXT_CHARS = 4000
MAX_FILE_BYTES = 5_000_000


def _blank(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value) or (isinstance(value, str) and not value.strip())  # NaN from a table
    except (TypeError, ValueError):
        return False


def _optional_text(value: Any) -> str | None:
    return None if _blank(value) else str(value).strip()


def validate_entries(entries: Iterable[dict[str, Any] | PoolEntry], *, source: str = "pool") -> list[PoolEntry]:
    """Check a pool and return it as :class:`PoolEntry` objects.

    Args:
        entries: Dicts (see the module docstring) or entries; blank optional fields (``None``,
            ``""``, NaN from an edited table) count as missing.
        source: The name problems are reported under (a file name, ``pool``, ...).

    Returns:
        The entries, in order, with generated ids where they had none.

    Raises:
        InputError: Every problem found, each naming the 1-based entry (``row``) and the field:
            ``text`` blank or too long, ``kind`` not instruction / demo, ``id`` repeated, an
            unknown field, an entry that is not an object, or an empty / oversized pool (field ``pool``).
    """
    rows = [e.to_dict() if isinstance(e, PoolEntry) else e for e in entries]
    problems: list[Problem] = []
    if not rows:
        raise InputError(Problem(source, None, "pool", "the pool is empty: add at least one entry, or reset to the "
                                                       "default pool"))
    if len(rows) > MAX_ENTRIES:
        raise InputError(Problem(source, None, "pool", f"{len(rows)} entries; at most {MAX_ENTRIES} are allowed"))
    parsed: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            problems.append(Problem(source, n, None, f"an entry must be an object with text and kind, "
                                                     f"not {type(row).__name__}"))
            continue
        for key in row:
            if key not in FIELDS:
                problems.append(Problem(source, n, str(key), f"unknown field; use {', '.join(FIELDS)}"))
        entry_id = _optional_text(row.get("id"))
        if entry_id is not None:
            if entry_id in seen:
                problems.append(Problem(source, n, "id", f"id {entry_id!r} is already used by entry {seen[entry_id]}"))
            else:
                seen[entry_id] = n
        text = row.get("text")
        if _blank(text) or not isinstance(text, str):
            problems.append(Problem(source, n, "text", "the text is empty" if _blank(text)
                                    else f"the text must be a string, not {type(text).__name__}"))
        elif len(text) > MAX_TEXT_CHARS:
            problems.append(Problem(source, n, "text", f"{len(text)} characters; at most {MAX_TEXT_CHARS}"))
        kind = "instruction" if _blank(row.get("kind")) else str(row.get("kind")).strip().lower()
        if kind not in KINDS:
            problems.append(Problem(source, n, "kind", f"kind {row.get('kind')!r} is neither instruction nor demo"))
        parsed.append({"id": entry_id, "text": text.strip() if isinstance(text, str) else "", "kind": kind,
                       "factor_id": _optional_text(row.get("factor_id")), "item_id": _optional_text(row.get("item_id")),
                       "source": _optional_text(row.get("source")) or "user"})
    if problems:
        raise InputError(problems)
    counter = 0
    out: list[PoolEntry] = []
    for p in parsed:
        if p["id"] is None:
            counter += 1
            while f"U{counter}" in seen:
                counter += 1
            p["id"] = f"U{counter}"
            seen[p["id"]] = 0
        out.append(PoolEntry(**p))
    return out


def read_pool_file(path: str | Path) -> list[dict[str, Any]]:
    """Read a pool file: a JSON list of entries (as :func:`pool_payload` returns), or ``{"entries": [...]}``.

    Raises:
        InputError: Missing, too large, not UTF-8, invalid JSON or not a list (field ``pool``).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(Problem(str(p), None, "pool", "no such file"))
    if p.stat().st_size > MAX_FILE_BYTES:
        raise InputError(Problem(str(p), None, "pool", f"the file is larger than {MAX_FILE_BYTES // 1_000_000} MB"))
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(Problem(str(p), None, "pool", "the file is not UTF-8 text")) from None
    except json.JSONDecodeError as exc:
        raise InputError(Problem(str(p), exc.lineno, "pool", f"invalid JSON: {exc.msg}")) from None
    except RecursionError:
        raise InputError(Problem(str(p), None, "pool", "invalid JSON: nested too deeply")) from None
    except ValueError:  # json's own int conversion limit
        raise InputError(Problem(str(p), None, "pool", "invalid JSON: an integer has over 4300 digits")) from None
    if isinstance(data, dict) and isinstance(data.get("entries"), list):
        data = data["entries"]
    if not isinstance(data, list):
        raise InputError(Problem(str(p), None, "pool", 'expected a JSON list of {"id", "text", "kind"} objects'))
    return data


def load_pool(ws: Workspace, dataset_id: str, user_id: str) -> list[PoolEntry] | None:
    """Return the user's stored pool, or None when they have none (the default pool applies).

    Raises:
        InputError: The stored pool is invalid (field named; only possible if written around :func:`save_pool`).
    """
    stored = ws.get_pool(dataset_id, user_id)
    if stored is None:
        return None
    return validate_entries(stored, source=f"stored pool of {user_id}")


def save_pool(ws: Workspace, dataset_id: str, user_id: str,
              entries: Iterable[dict[str, Any] | PoolEntry], *, source: str = "pool") -> list[PoolEntry]:
    """Validate ``entries`` and store them as the user's pool (replacing any stored one).

    Returns:
        The stored entries (with generated ids).

    Raises:
        InputError: Unknown dataset or user (fields ``dataset`` / ``user``), or invalid entries
            (see :func:`validate_entries`); nothing is stored then.
    """
    if not ws.has_dataset(dataset_id):
        raise InputError(Problem(ws.path, None, "dataset", f"no dataset {dataset_id!r}"))
    if user_id not in ws.list_users(dataset_id):
        raise InputError(Problem(ws.path, None, "user", f"no user {user_id!r} in dataset {dataset_id!r}"))
    pool = validate_entries(entries, source=source)
    ws.set_pool(dataset_id, user_id, [e.to_dict() for e in pool])
    return pool


def reset_pool(ws: Workspace, dataset_id: str, user_id: str) -> bool:
    """Delete the user's stored pool; return True when there was one."""
    had = ws.get_pool(dataset_id, user_id) is not None
    ws.delete_pool(dataset_id, user_id)
    return had


def pool_payload(entries: Iterable[PoolEntry]) -> list[dict[str, Any]]:
    """Return entries as the JSON list :func:`read_pool_file` reads back (blank optional fields dropped)."""
    return [{k: v for k, v in e.to_dict().items() if v is not None} for e in entries]
