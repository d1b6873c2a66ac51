"""CSV (and TSV) files: a header row, then one item per row.

The delimiter is ``,``, tab, ``;`` or ``|``: tab for ``.tsv`` files, otherwise the first whose
header has several columns and matches most of the first rows. Rows are numbered from 1 (the
first row after the header).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from core.data.loaders.base import Parsed, Record
from core.data.loaders.problems import ProblemLog
from core.data.loaders.records import tabular_source
from core.data.loaders.source import DEFAULT_MAX_BYTES, Progress, read_text
from core.errors import InputError, Problem, quote

DELIMITERS = (",", "\t", ";", "|")
_SAMPLE_CHARS = 64 * 1024
_SAMPLE_ROWS = 20


def sniff_delimiter(text: str) -> str:
    """Pick the delimiter whose header splits into several columns that most early rows match.

    When none is consistent, take the one giving the widest header (rows that disagree are then
    reported with their field counts).
    """
    sample = text[:_SAMPLE_CHARS]
    widest, best = 1, ","
    for delim in DELIMITERS:
        try:
            rows = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delim) if r]
        except csv.Error:
            continue
        rows = rows[: _SAMPLE_ROWS + 1]
        if len(sample) < len(text) and len(rows) > 2:
            rows = rows[:-1]  # the sample may cut the last row short
        if not rows or len(rows[0]) < 2:
            continue
        body = rows[1:]
        if not body or sum(len(r) == len(rows[0]) for r in body) >= 0.8 * len(body):
            return delim
        if len(rows[0]) > widest:
            widest, best = len(rows[0]), delim
    return best


def _header(raw: list[str], file: str) -> list[str]:
    names = [name.strip() or f"column_{i + 1}" for i, name in enumerate(raw)]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(Problem(file, None, name, f"duplicate column name {quote(name)} in the header"))
        seen.add(name)
    return names


def _explain(exc: csv.Error) -> str:
    text = str(exc)
    if "unexpected end of data" in text:
        return "a quoted field is never closed (unexpected end of data)"
    if "expected after '\"'" in text:
        return f'text follows a closing quote ({text}); write quotes inside a quoted field as ""'
    return text


def read_records(text: str, file: str, *, delimiter: str, log: ProblemLog) -> tuple[list[str], list[Record], int]:
    """Split CSV text into its header and records.

    Rows with the wrong number of fields go to ``log``; their count is returned third.

    Raises:
        InputError: Broken CSV (e.g. an unclosed quote), with its line; or no data rows.
    """
    # A cell may be as long as the file (the size limit bounds it), not only csv's default 128 KiB.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[Record] = []
    bad_rows = 0
    try:
        header = _header(next(reader), file)
        for n, row in enumerate(reader, start=1):
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                log.add(Problem(file, n, None, f"row has {len(row)} fields but the header has {len(header)} "
                                               f"(line {reader.line_num}); check quoting and delimiters"))
                bad_rows += 1
                continue
            records.append(Record(row=n, values=dict(zip(header, row, strict=True))))
    except csv.Error as exc:
        raise InputError(Problem(file, f"line {reader.line_num}", None,
                                 f"invalid CSV at line {reader.line_num}: {_explain(exc)}")) from None
    if not records and not bad_rows:
        raise InputError(Problem(file, None, None, "no data rows after the header"))
    return header, records, bad_rows


def parse_csv(
    path: Path, file: str, *, mapping: Mapping[str, str] | None = None, log: ProblemLog,
    max_bytes: int = DEFAULT_MAX_BYTES, progress: Progress | None = None,
) -> Parsed:
    """Parse a CSV/TSV file into candidate items (see :func:`core.data.loaders.records.tabular_source`).

    Raises:
        InputError: A file-level problem (size, encoding, empty, broken CSV, unmappable columns).
    """
    text = read_text(path, file, max_bytes, progress)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else sniff_delimiter(text)
    header, records, bad_rows = read_records(text, file, delimiter=delimiter, log=log)
    parsed = tabular_source(records, columns=header, file=file, format="csv", default_user=path.stem,
                            mapping=mapping, log=log)
    parsed.rows += bad_rows
    return parsed
