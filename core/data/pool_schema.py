"""The prompt pool's JSON form: one pydantic model of an entry, and the parsing every reader shares.

A user's prompt pool (PILLOW, see :mod:`core.methods.pool_store`) arrives as JSON from four places:
a ``--pool FILE.json`` on the CLI, the pool panel's pasted JSON and edited table, and a user export
being imported. All of them go through :func:`parse_pool_json` (text to a list) and
:func:`parse_pool_entries` (a list to checked entries), so they accept the same input and report the
same problems, each naming the 1-based entry (``row``) and the field.

An entry is a JSON object ``{"id"?, "text", "kind"?, "factor_id"?, "item_id"?, "source"?}``:

* ``text``: required, a non-blank string of at most :data:`MAX_TEXT_CHARS` characters;
* ``kind``: ``instruction`` (default) or ``demo``, any case;
* ``id``: unique within the pool; missing or blank ids become ``U1``, ``U2``, ...;
* ``factor_id`` / ``item_id``: optional ties to a factor / history item;
* ``source``: where the entry came from (default ``user``).

Blank optional values (``None``, ``""``, NaN from an edited table) count as missing.

This module sits in ``core/data`` (below the methods and the store) because the workspace import
checks a pool too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from core.errors import InputError, Problem, quote

KINDS = ("instruction", "demo")
FIELDS = ("id", "text", "kind", "factor_id", "item_id", "source")
MAX_ENTRIES = 500
MAX_TEXT_CHARS = 4000
_LIST_EXPECTED = 'expected a JSON list of {"id", "text", "kind"} objects'


def _blank(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value) or (isinstance(value, str) and not value.strip())  # NaN from a table
    except (TypeError, ValueError):
        return False


class PoolEntryModel(BaseModel):
    """One pool entry as JSON gives it, checked and normalised (see the module docstring).

    Errors carry the message shown to the user (``PydanticCustomError``), so
    :func:`parse_pool_entries` only adds the entry number and the field.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    text: str
    kind: Literal["instruction", "demo"] = "instruction"
    factor_id: str | None = None
    item_id: str | None = None
    source: str = "user"

    @field_validator("id", "factor_id", "item_id", mode="before")
    @classmethod
    def _optional_text(cls, value: Any) -> str | None:
        return None if _blank(value) else str(value).strip()

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> str:
        return "user" if _blank(value) else str(value).strip()

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        if _blank(value):
            raise PydanticCustomError("pool_text", "the text is empty")
        if not isinstance(value, str):
            raise PydanticCustomError("pool_text", "the text must be a string, not {kind}",
                                      {"kind": type(value).__name__})
        if len(value) > MAX_TEXT_CHARS:
            raise PydanticCustomError("pool_text", "{n} characters; at most {limit}",
                                      {"n": len(value), "limit": MAX_TEXT_CHARS})
        return value.strip()

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> str:
        kind = "instruction" if _blank(value) else str(value).strip().lower()
        if kind not in KINDS:
            raise PydanticCustomError("pool_kind", "kind {value} is neither instruction nor demo",
                                      {"value": quote(value)})
        return kind


def _problems(exc: ValidationError, source: str, n: int, row: Any) -> list[Problem]:
    """Turn one entry's validation errors into problems naming the entry and the field."""
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        field = str(err["loc"][0]) if err["loc"] else None
        if err["type"] == "model_type":
            out.append(Problem(source, n, None, f"an entry must be an object with text and kind, "
                                                f"not {type(row).__name__}"))
        elif err["type"] == "extra_forbidden":
            out.append(Problem(source, n, field, f"unknown field; use {', '.join(FIELDS)}"))
        elif err["type"] == "missing":
            out.append(Problem(source, n, field, "the text is empty" if field == "text" else "missing"))
        else:
            out.append(Problem(source, n, field, err["msg"]))
    return out


def parse_pool_entries(rows: Iterable[Any], *, source: str = "pool") -> list[PoolEntryModel]:
    """Check a pool and return its entries, in order, with generated ids where they had none.

    Args:
        rows: The entries as JSON gives them (dicts; anything else is reported).
        source: The name problems are reported under (a file name, ``pool``, ...).

    Raises:
        InputError: Every problem found, each naming the 1-based entry (``row``) and the field:
            ``text`` blank, not a string or too long, ``kind`` not instruction / demo, ``id``
            repeated, an unknown field, an entry that is not an object, or an empty / oversized pool
            (field ``pool``).
    """
    rows = list(rows)
    if not rows:
        raise InputError(Problem(source, None, "pool", "the pool is empty: add at least one entry, or reset to the "
                                                       "default pool"))
    if len(rows) > MAX_ENTRIES:
        raise InputError(Problem(source, None, "pool", f"{len(rows)} entries; at most {MAX_ENTRIES} are allowed"))
    problems: list[Problem] = []
    parsed: list[PoolEntryModel] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, 1):
        entry_id = PoolEntryModel._optional_text(row.get("id")) if isinstance(row, dict) else None
        if entry_id is not None:  # across entries: the model sees one entry at a time
            if entry_id in seen:
                problems.append(Problem(source, n, "id", f"id {entry_id!r} is already used by entry {seen[entry_id]}"))
            else:
                seen[entry_id] = n
        try:
            parsed.append(PoolEntryModel.model_validate(row))
        except ValidationError as exc:
            problems.extend(_problems(exc, source, n, row))
    if problems:
        raise InputError(problems)
    out: list[PoolEntryModel] = []
    counter = 0
    for entry in parsed:
        if entry.id is None:
            counter += 1
            while f"U{counter}" in seen:
                counter += 1
            seen[f"U{counter}"] = 0
            entry = entry.model_copy(update={"id": f"U{counter}"})
        out.append(entry)
    return out


def parse_pool_json(text: str, *, source: str) -> list[Any]:
    """Read a pool's JSON text: a list of entries, or ``{"entries": [...]}`` (entries not yet checked).

    Raises:
        InputError: Invalid JSON (line named) or not a list (field ``pool``).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(Problem(source, exc.lineno, "pool", f"invalid JSON: {exc.msg}")) from None
    except RecursionError:
        raise InputError(Problem(source, None, "pool", "invalid JSON: nested too deeply")) from None
    except ValueError:  # json's own int conversion limit
        raise InputError(Problem(source, None, "pool", "invalid JSON: an integer has over 4300 digits")) from None
    if isinstance(data, dict) and isinstance(data.get("entries"), list):
        data = data["entries"]
    if not isinstance(data, list):
        raise InputError(Problem(source, None, "pool", _LIST_EXPECTED))
    return data
