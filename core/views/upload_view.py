"""Upload helpers: save uploaded files, preview their rows, guess the column mapping."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.data.loaders.records import ALIASES, FIELDS, norm
from core.data.loaders.source import default_max_bytes, loads_json, parse_json, read_text
from core.errors import InputError, Problem
from core.store.workspace import EVALUATION_SOURCE

PREVIEW_ROWS = 20
PREVIEW_COLUMNS = 200
"""Most columns previewed (and offered in the mapping form); the loader still reads them all."""
PREVIEW_CHARS = 1000
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """Return a file name without folders or odd characters (LaMP ``_questions`` / ``_outputs`` kept)."""
    base = Path(name).name or "upload"
    return _SAFE.sub("_", base)


def save_uploads(files: Iterable[tuple[str, bytes]], folder: Path) -> list[Path]:
    """Write uploaded ``(name, bytes)`` pairs into ``folder`` and return their paths (names kept, for LaMP pairing)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, data in files:
        path = folder / safe_name(name)
        path.write_bytes(data)
        out.append(path)
    return out


class UploadFolder:
    """One session's upload folder: made once, its files replaced by each upload, removed with the session.

    The folder is deleted when :meth:`remove` is called, when this object is garbage-collected
    (Streamlit drops a session's state when the session ends), or when the process exits.

    Args:
        root: Where to make the folder (default: the system temp folder).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="inflow-upload-", dir=root))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), ignore_errors=True)

    @property
    def alive(self) -> bool:
        """True until the folder is removed."""
        return self._finalizer.alive and self.path.is_dir()

    def replace(self, files: Iterable[tuple[str, bytes]]) -> list[Path]:
        """Make the folder hold exactly these ``(name, bytes)`` files; return their paths."""
        files = list(files)
        keep = {safe_name(name) for name, _ in files}
        for old in self.path.iterdir():
            if old.name not in keep:
                if old.is_dir() and not old.is_symlink():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.unlink(missing_ok=True)
        return save_uploads(files, self.path)

    def remove(self) -> None:
        """Delete the folder now."""
        self._finalizer()


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)[:200]
    if isinstance(value, str):
        return value[:PREVIEW_CHARS]  # a 1 MB cell is not sent to the browser whole
    return value


def _flat(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        return {"value": _cell(record)}
    return {str(k)[:PREVIEW_CHARS]: _cell(v) for k, v in list(record.items())[:PREVIEW_COLUMNS]}


def preview(path: Path, n: int = PREVIEW_ROWS) -> tuple[list[str], list[dict[str, Any]], str]:
    """Return the columns, the first ``n`` rows and a short note about a data file.

    CSV/TSV, JSON Lines, JSON lists of records, ``{user: [items]}`` JSON and LaMP files are shown as
    rows; anything unreadable gives no rows and a note saying why. The text is read the way the
    loaders read it (:func:`core.data.loaders.source.read_text`: the whole file, the same size limit
    and decoding), so a file the loader accepts is never previewed as cut off. Results are kept per
    (file, size, modification time): a page rerun does not parse a large file again.
    """
    try:
        stat = path.stat()
    except OSError as exc:
        return [], [], f"cannot read: {exc}"
    return _preview_cached(str(path), stat.st_size, stat.st_mtime_ns, n)


@lru_cache(maxsize=8)
def _preview_cached(name: str, size: int, mtime_ns: int, n: int) -> tuple[list[str], list[dict[str, Any]], str]:
    path = Path(name)
    try:
        text = read_text(path, path.name, default_max_bytes())
    except InputError as exc:
        return [], [], "not readable: " + "; ".join(p.message for p in exc.problems)
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv") or text.lstrip()[:1] not in ("[", "{"):
            dialect = "excel-tab" if suffix == ".tsv" else "excel"
            reader = csv.DictReader(io.StringIO(text), dialect=dialect)
            rows = [_flat({k if isinstance(k, str) else "(extra)": v for k, v in r.items()})
                    for _, r in zip(range(n), reader, strict=False)]
            return [str(c)[:PREVIEW_CHARS] for c in (reader.fieldnames or [])[:PREVIEW_COLUMNS]], rows, "CSV"
        if suffix in (".jsonl", ".ndjson"):
            rows = [_flat(loads_json(line)) for line in text.splitlines()[: n * 2] if line.strip()][:n]
            return _columns(rows), rows, "JSON Lines"
        data = parse_json(text, path.name)
    except InputError as exc:
        return [], [], "not readable: " + "; ".join(p.message for p in exc.problems)
    except (json.JSONDecodeError, csv.Error, ValueError, RecursionError) as exc:
        return [], [], f"not readable: {str(exc)[:PREVIEW_CHARS]}"
    if isinstance(data, list):
        rows = [_flat(r) for r in data[:n]]
        note = "LaMP file" if rows and isinstance(data[0], dict) and "profile" in data[0] else "JSON list of records"
        return _columns(rows), rows, note
    if isinstance(data, dict):
        if "golds" in data:
            golds = data.get("golds")
            rows = [_flat(r) for r in (golds if isinstance(golds, list) else [])[:n]]
            return _columns(rows), rows, f"LaMP outputs ({str(data.get('task', ''))[:40]})"
        rows = []
        for user, items in data.items():
            for it in items if isinstance(items, list) else []:
                if len(rows) >= n:
                    break
                rows.append({"user": user[:PREVIEW_CHARS], **_flat(it)})
        return _columns(rows), rows, "JSON {user: [items]}"
    return [], [], "JSON with no records"


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    return cols


def guess_mapping(columns: list[str]) -> dict[str, str | None]:
    """Return the column auto-detection would pick for each field (None when none matches).

    Mirrors :func:`core.data.loaders.records.resolve_fields` without raising, so the mapping form
    can start from the loader's own guess.
    """
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(norm(col), col)
    chosen: dict[str, str | None] = {}
    taken: set[str] = set()
    for fld in FIELDS:
        chosen[fld] = None
        for alias in ALIASES[fld]:
            col = by_norm.get(norm(alias))
            if col is not None and col not in taken:
                chosen[fld] = col
                taken.add(col)
                break
    return chosen


def explicit_mapping(form: dict[str, str | None], guessed: dict[str, str | None]) -> dict[str, str]:
    """Return only the fields the user changed from the guess (the loader auto-detects the rest)."""
    return {f: c for f, c in form.items() if c and c != guessed.get(f)}


def dataset_id_for(paths: list[Path]) -> str:
    """Suggest a dataset id from the first file's name (``reviews.csv`` -> ``reviews``)."""
    if not paths:
        return "dataset"
    stem = paths[0].name
    for suffix in ("_questions.json", "_outputs.json"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return Path(stem).stem


def display_problem(problem: Problem, folder: Path | None) -> str:
    """Render a problem as ``file:row:field: message`` with the upload folder stripped from the file name."""
    if folder is not None:
        try:
            rel = Path(problem.file).resolve().relative_to(folder.resolve())
        except (ValueError, OSError):
            rel = None
        if rel is not None:
            problem = Problem(str(rel), problem.row, problem.field, problem.message)
    return str(problem)


def user_datasets(datasets: list[dict[str, Any]], active: str | None = None) -> list[dict[str, Any]]:
    """Return the datasets a person chose to load, without an evaluation's internal copies.

    The active dataset stays listed even if internal, so the sidebar can show what is selected.
    """
    return [d for d in datasets if d.get("source") != EVALUATION_SOURCE or d["id"] == active]


def free_dataset_id(taken: Iterable[str], base: str) -> str:
    """Return ``base`` if no dataset has that id, else the first free ``base_2``, ``base_3``, ..."""
    used = set(taken)
    if base not in used:
        return base
    k = 2
    while f"{base}_{k}" in used:
        k += 1
    return f"{base}_{k}"


def clash_message(info: dict[str, Any], escape: Callable[[str], str] = str) -> str:
    """Say what loading under an existing id would replace (the stored dataset's task and size).

    Args:
        info: The stored dataset's ``ws.list_datasets()`` row.
        escape: Applied to the id and task name (text from the user's files) before they go into
            the Markdown message (the pages pass their escaping helper).
    """
    task = info["task"]
    return (f"A dataset **{escape(info['id'])}** is already in this workspace ({task.kind} task “{escape(task.name)}”, "
            f"{info['n_users']:,} users, {info['n_items']:,} items). Loading under the same id replaces it.")


def files_signature(names: Iterable[str]) -> str:
    """Return a key for a set of uploaded file names (the suggested dataset id follows a file swap)."""
    return "|".join(sorted(names))
