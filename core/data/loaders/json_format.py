"""JSON files: ``{user_id: [items]}`` or a list of records (rows are JSON paths like ``$.u1[3]``).

Items and records are objects whose keys are mapped to fields like CSV columns, e.g. the LaMP-3
user histories ``{"u00005020": [{"id": ..., "text": ..., "score": "5"}, ...]}``. A ``.json`` file
that holds LaMP questions is handed to the LaMP loader, and one that holds JSON Lines to the
JSONL loader.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.data.loaders.base import Parsed, Record
from core.data.loaders.jsonl_format import parse_jsonl_text
from core.data.loaders.lamp_format import lamp_from_data, looks_like_outputs, looks_like_questions
from core.data.loaders.problems import ProblemLog
from core.data.loaders.records import tabular_source
from core.data.loaders.source import (
    DEFAULT_MAX_BYTES,
    Progress,
    duplicate_keys,
    json_key,
    kind_of,
    loads_json,
    parse_json,
    read_text,
)
from core.errors import InputError, Problem, quote


def _is_json_lines(text: str) -> bool:
    """Tell whether the first non-blank line alone is a JSON object (and the whole text is not one)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return isinstance(loads_json(first), dict)
    except (json.JSONDecodeError, RecursionError):
        return False


def _user_records(data: dict[str, Any], file: str, log: ProblemLog) -> tuple[list[Record], int]:
    records: list[Record] = []
    bad = 0
    for user in duplicate_keys(data):  # json keeps the last list only: the earlier ones would vanish unsaid
        log.add(Problem(file, json_key("$", user), None, f"user {quote(user)} appears more than once as a key; "
                                                         "only the last list would be read. Merge the lists"))
        bad += 1
    for user, items in data.items():
        path = json_key("$", user)
        if not isinstance(items, list):
            log.add(Problem(file, path, None, f"expected a list of items for user {quote(user)}, got {kind_of(items)}"))
            bad += 1
            continue
        for i, item in enumerate(items):
            if isinstance(item, dict):
                records.append(Record(row=f"{path}[{i}]", values=item, user=str(user)))
            else:
                log.add(Problem(file, f"{path}[{i}]", None, f"expected an item object, got {kind_of(item)}"))
                bad += 1
    return records, bad


def _list_records(data: list[Any], file: str, log: ProblemLog) -> tuple[list[Record], int]:
    records: list[Record] = []
    bad = 0
    for i, item in enumerate(data):
        if isinstance(item, dict):
            records.append(Record(row=f"$[{i}]", values=item))
        else:
            log.add(Problem(file, f"$[{i}]", None, f"expected a record object, got {kind_of(item)}"))
            bad += 1
    return records, bad


def parse_json_file(
    path: Path, file: str, *, mapping: Mapping[str, str] | None = None, log: ProblemLog,
    max_bytes: int = DEFAULT_MAX_BYTES, progress: Progress | None = None,
) -> Parsed:
    """Parse a JSON file into candidate items (or queries, for LaMP questions).

    Raises:
        InputError: A file-level problem (size, encoding, empty, invalid JSON, wrong shape, unmappable keys).
    """
    text = read_text(path, file, max_bytes, progress)
    try:
        data = parse_json(text, file)
    except InputError:
        if _is_json_lines(text):
            return parse_jsonl_text(text, path, file, mapping=mapping, log=log)
        raise
    if looks_like_questions(data):
        return lamp_from_data(data, file, None, None, name_hint=path.name, log=log)
    if looks_like_outputs(data):
        raise InputError(Problem(file, None, None, "this is a LaMP outputs file; load it together with its "
                                                   "*_questions.json file"))
    if isinstance(data, dict):
        records, bad = _user_records(data, file, log)
    elif isinstance(data, list):
        records, bad = _list_records(data, file, log)
    else:
        raise InputError(Problem(file, "$", None, f"expected {{user_id: [items]}} or a list of records, got "
                                                  f"{kind_of(data)}"))
    if not records and not bad:
        raise InputError(Problem(file, "$", None, "no items in the file"))
    parsed = tabular_source(records, file=file, format="json", default_user=path.stem, mapping=mapping, log=log)
    parsed.rows += bad
    return parsed
