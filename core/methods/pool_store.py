"""A user's stored prompt pool (PILLOW): validate entries, load, save and reset them in the workspace.

An analyst may replace the default pool (built from the profile by
:func:`core.methods.pool.default_pool`) with their own list of instructions and demonstrations.
It is stored per (dataset, user) in the workspace; every place that answers for a user passes it
to the methods as :attr:`core.methods.context.AnswerContext.pool` (see :func:`load_pool`).

The entries' JSON form and its checks are :class:`core.data.pool_schema.PoolEntryModel` (one
pydantic model for the CLI, the pool panel and the user import); entries tied to a factor or item
that an ablation switches off are left out, and a demo of the held-out query item is never shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.data.pool_schema import parse_pool_entries, parse_pool_json
from core.errors import InputError, Problem
from core.methods.context import PoolEntry
from core.store.workspace import Workspace

MAX_FILE_BYTES = 5_000_000


def validate_entries(entries: Iterable[dict[str, Any] | PoolEntry], *, source: str = "pool") -> list[PoolEntry]:
    """Check a pool and return it as :class:`PoolEntry` objects.

    Args:
        entries: Dicts (see :mod:`core.data.pool_schema`) or entries; blank optional fields (``None``,
            ``""``, NaN from an edited table) count as missing.
        source: The name problems are reported under (a file name, ``pool``, ...).

    Returns:
        The entries, in order, with generated ids where they had none.

    Raises:
        InputError: Every problem found, each naming the 1-based entry (``row``) and the field (see
            :func:`core.data.pool_schema.parse_pool_entries`).
    """
    rows = [e.to_dict() if isinstance(e, PoolEntry) else e for e in entries]
    return [PoolEntry(**e.model_dump()) for e in parse_pool_entries(rows, source=source)]


def read_pool_file(path: str | Path) -> list[Any]:
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
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(Problem(str(p), None, "pool", "the file is not UTF-8 text")) from None
    return parse_pool_json(text, source=str(p))


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
