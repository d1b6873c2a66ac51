"""JSON Lines files: one JSON object (one item) per line; rows are line numbers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from core.data.loaders.base import Parsed, Record
from core.data.loaders.problems import ProblemLog
from core.data.loaders.records import tabular_source
from core.data.loaders.source import DEFAULT_MAX_BYTES, Progress, kind_of, loads_json, read_text
from core.errors import Problem


def read_lines(text: str, file: str, log: ProblemLog) -> tuple[list[Record], int]:
    """Parse each non-blank line as a JSON object.

    Returns:
        The records and the number of bad lines (each reported to ``log`` with its line and column).
    """
    records: list[Record] = []
    bad = 0
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = loads_json(line)
        except json.JSONDecodeError as exc:
            log.add(Problem(file, n, None, f"invalid JSON at line {n}, column {exc.colno}: {exc.msg}"))
            bad += 1
            continue
        except RecursionError:
            log.add(Problem(file, n, None, f"invalid JSON at line {n}: nested too deeply"))
            bad += 1
            continue
        if not isinstance(value, dict):
            log.add(Problem(file, n, None, f"expected a JSON object on each line, got {kind_of(value)}"))
            bad += 1
            continue
        records.append(Record(row=n, values=value))
    return records, bad


def parse_jsonl_text(
    text: str, path: Path, file: str, *, mapping: Mapping[str, str] | None, log: ProblemLog
) -> Parsed:
    """Parse JSON Lines text already read from ``path`` (also used for ``.json`` files holding lines)."""
    records, bad = read_lines(text, file, log)
    parsed = tabular_source(records, file=file, format="jsonl", default_user=path.stem, mapping=mapping, log=log)
    parsed.rows += bad
    return parsed


def parse_jsonl(
    path: Path, file: str, *, mapping: Mapping[str, str] | None = None, log: ProblemLog,
    max_bytes: int = DEFAULT_MAX_BYTES, progress: Progress | None = None,
) -> Parsed:
    """Parse a JSON Lines file into candidate items.

    Raises:
        InputError: A file-level problem (size, encoding, empty, unmappable keys).
    """
    return parse_jsonl_text(read_text(path, file, max_bytes, progress), path, file, mapping=mapping, log=log)
