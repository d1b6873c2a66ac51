"""Shared by the tabular formats (CSV, JSONL, JSON): mapping columns to fields and rows to candidates.

Fields are ``user``, ``id``, ``input``, ``output`` and ``timestamp``. Each is found by an explicit
mapping (``{"input": "review_body"}``) or by auto-detection of common column names (compared
ignoring case, spaces, ``_`` and ``-``). Columns not used by a field go to the item's ``meta``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.data.loaders.base import Candidate, Parsed, Record
from core.data.loaders.problems import ProblemLog
from core.data.loaders.source import MAX_INT_DIGITS, LongNumber, duplicate_keys, kind_of, repair_text
from core.errors import InputError, Problem, clip, quote

FIELDS: tuple[str, ...] = ("user", "id", "input", "output", "timestamp")
REQUIRED: tuple[str, ...] = ("input", "output")

ALIASES: dict[str, tuple[str, ...]] = {
    "user": ("user_id", "user", "userId", "author", "reviewer_id", "username", "customer_id"),
    "input": ("input", "text", "review", "description", "review_text", "content", "abstract", "body"),
    "output": ("output", "label", "score", "rating", "tag", "title", "response", "stars", "overall"),
    "id": ("id", "item_id", "review_id"),
    "timestamp": ("timestamp", "time", "date", "created_at", "datetime"),
}


def norm(name: str) -> str:
    """Normalise a column name for matching: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class FieldMap:
    """Which source column feeds each field (None: the file has no such column)."""

    input: str
    output: str
    user: str | None = None
    id: str | None = None
    timestamp: str | None = None

    def used(self) -> set[str]:
        """Columns consumed by fields (the rest become meta)."""
        return {c for c in (self.input, self.output, self.user, self.id, self.timestamp) if c is not None}


def show_columns(columns: Sequence[str], most: int = 12) -> str:
    """List columns for a message: the first ``most``, each clipped, and how many more (a 100k-column header)."""
    if not columns:
        return "none"
    shown = ", ".join(clip(c, 40) for c in columns[:most])
    return shown + (f", ... ({len(columns)} columns)" if len(columns) > most else "")


def resolve_fields(columns: Sequence[str], mapping: Mapping[str, str] | None, file: str) -> FieldMap:
    """Decide the column of each field from an explicit mapping and auto-detection.

    Args:
        columns: The columns (or keys) present in the file, in file order.
        mapping: Explicit ``{field: column}``; wins over auto-detection.
        file: File name for problems.

    Raises:
        InputError: An unknown field in the mapping, a mapped column that is not in the file, or a
            required field (input, output) with no column. All such problems are reported together.
    """
    problems: list[Problem] = []
    present = list(columns)
    shown = show_columns(present)
    chosen: dict[str, str] = {}
    for fld, col in (mapping or {}).items():
        if fld not in FIELDS:
            problems.append(Problem(file, None, fld, f"unknown field {quote(fld)} in the mapping; fields are "
                                                     f"{', '.join(FIELDS)}"))
        elif not col or col not in present:
            problems.append(Problem(file, None, fld, f"the mapping {fld}={col} names no column of this file "
                                                     f"(columns: {shown})"))
        else:
            chosen[fld] = col
    by_norm: dict[str, str] = {}
    for col in present:
        by_norm.setdefault(norm(col), col)
    for fld in FIELDS:
        if fld in chosen or fld in (mapping or {}):
            continue
        taken = set(chosen.values())
        for alias in ALIASES[fld]:
            col = by_norm.get(norm(alias))
            if col is not None and col not in taken:
                chosen[fld] = col
                break
    for fld in REQUIRED:
        if fld not in chosen and fld not in (mapping or {}):
            problems.append(Problem(
                file, None, fld, f"missing required column for {fld}: none of {', '.join(ALIASES[fld])} found "
                                 f"(columns: {shown}); map one with {fld}=COLUMN"))
    if problems:
        raise InputError(problems)
    return FieldMap(input=chosen["input"], output=chosen["output"], user=chosen.get("user"), id=chosen.get("id"),
                    timestamp=chosen.get("timestamp"))


def to_text(value: Any) -> str:
    """Render a scalar cell as text (numbers without a spurious ``.0``).

    Raises:
        TypeError: The value is an object or a list.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value).strip()
    raise TypeError(kind_of(value))


def extract_candidates(
    records: Iterable[Record], fields: FieldMap, *, file: str, default_user: str, log: ProblemLog
) -> list[Candidate]:
    """Turn raw records into candidate items; rows with unreadable cells go to ``log``.

    A row's user comes from the container (``Record.user``), else the user column, else
    ``default_user``. Keys absent from a JSON record are reported; empty values are left to the checks.
    """
    used = fields.used()
    out: list[Candidate] = []
    for rec in records:
        problems = record_problems(rec, file)
        if rec.user is not None:
            user = rec.user
        else:
            user = read_cell(rec, fields.user, file, problems, required=False)
            if fields.user is not None and not user and not problems:
                problems.append(Problem(file, rec.row, fields.user, "empty user id"))
            user = user or default_user
        item_id = read_cell(rec, fields.id, file, problems, required=False)
        text = read_cell(rec, fields.input, file, problems, required=True)
        output = read_cell(rec, fields.output, file, problems, required=True)
        timestamp = read_cell(rec, fields.timestamp, file, problems, required=False) or None
        if problems:
            log.extend(problems)
            continue
        meta = {key: value for key, value in rec.values.items() if key not in used}
        out.append(Candidate(file=file, row=rec.row, user_id=user, id=item_id or None, input=text,
                             output=output, timestamp=timestamp, meta=meta, input_field=fields.input,
                             output_field=fields.output, id_field=fields.id or "id"))
    return out


def record_problems(rec: Record, file: str) -> list[Problem]:
    """Problems of a record as a whole: keys given twice (JSON keeps only the last) and over-long integers.

    A repeated ``score`` would silently change the data (and the inferred task), so such rows are reported.
    """
    problems = [Problem(file, rec.row, key, f"key {quote(key)} appears more than once in this object; "
                                            "keep one") for key in duplicate_keys(rec.values)]
    problems += [Problem(file, rec.row, key, long_number_message(value)) for key, value in rec.values.items()
                 if isinstance(value, LongNumber)]
    return problems


def long_number_message(value: LongNumber) -> str:
    """Say that an integer is too long to use."""
    return (f"integer with {len(value.lstrip('-'))} digits ({value[:12]}...); at most {MAX_INT_DIGITS} digits "
            "are accepted")


def read_cell(rec: Record, col: str | None, file: str, problems: list[Problem], *, required: bool) -> str:
    """Read one cell of a record as text.

    Args:
        rec: The record.
        col: The column or key (None: no such field, returns "").
        file: File name for problems.
        problems: Gets a problem for an absent required key or a non-scalar value.
        required: Whether an absent key is a problem.
    """
    if col is None:
        return ""
    if col not in rec.values:
        if required:
            problems.append(Problem(file, rec.row, col, f"missing field {quote(col)}"))
        return ""
    if isinstance(rec.values[col], LongNumber):
        return ""  # reported by record_problems
    try:
        return to_text(rec.values[col])
    except TypeError as exc:
        problems.append(Problem(file, rec.row, col, f"expected text or a number, got {exc}"))
        return ""


def columns_of(records: Iterable[Record]) -> list[str]:
    """Union of the keys of all records, in first-seen order."""
    seen: dict[str, None] = {}
    for rec in records:
        for key in rec.values:
            seen.setdefault(key, None)
    return list(seen)


def tabular_source(
    records: list[Record], *, file: str, format: str, default_user: str, mapping: Mapping[str, str] | None,
    log: ProblemLog, columns: Sequence[str] | None = None,
) -> Parsed:
    """Build a :class:`Parsed` from the records of one tabular file (the CSV/JSONL/JSON common path).

    Args:
        records: The rows.
        file: File name for problems.
        format: Format name to record.
        default_user: User of rows that name none.
        mapping: Explicit ``{field: column}``.
        log: Where row problems go.
        columns: The file's columns (a CSV header); default: the union of the records' keys.

    Raises:
        InputError: The fields cannot be mapped (see :func:`resolve_fields`).
    """
    if not records and columns is None:
        return Parsed(files=(file,), format=format)  # every row was unreadable and is already reported
    fields = resolve_fields(columns_of(records) if columns is None else columns, mapping, file)
    candidates = extract_candidates(records, fields, file=file, default_user=repair_text(default_user), log=log)
    return Parsed(files=(file,), format=format, candidates=candidates, rows=len(records),
                  input_column=fields.input, output_column=fields.output)
