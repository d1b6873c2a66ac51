"""Export and import a whole workspace, or one user's profile, as a single JSON file.

The export holds every table's rows in a plain JSON form (embedding vectors as lists), so it
round-trips: ``import_workspace(export_workspace(a))`` into an empty file gives the same content.
API keys are never stored in a workspace, so they can never reach an export.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from core.data.model import Dataset
from core.data.pool_schema import parse_pool_entries
from core.errors import InputError, Problem
from core.store.files import write_json_atomic
from core.store.schema import SCHEMA_VERSION, split_choice_scores
from core.store.workspace import EXPORT_FORMAT, Workspace

# Tables in dependency order (parents before children) with their columns.
_TABLES: dict[str, list[str]] = {
    "datasets": ["id", "name", "task_json", "source", "created_at"],
    "users": ["dataset_id", "user_id"],
    "items": ["dataset_id", "user_id", "item_id", "pos", "input", "output", "timestamp", "meta_json"],
    "queries": ["dataset_id", "query_id", "pos", "user_id", "input", "gold", "meta_json"],
    "runs": ["id", "stage", "dataset_id", "user_id", "params_json", "params_hash", "parents_json", "status",
             "created_at", "finished_at", "label"],
    "artifacts": ["run_id", "key", "value_json"],
    "llm_cache": ["key", "backend", "model", "value_json", "created_at"],
    "traces": ["id", "run_id", "stage", "backend", "model", "messages_json", "output", "parsed_json",
               "choice_scores_json", "tokens_in", "tokens_out", "latency_ms", "cache_hit", "retries", "error",
               "created_at"],
    "embed_cache": ["model", "text_hash", "dim", "vector"],
    "summaries": ["id", "dataset_id", "user_id", "version", "text", "source", "run_id", "note", "created_at"],
    "edits": ["id", "dataset_id", "user_id", "op", "payload_json", "undone", "created_at"],
    "eval_runs": ["id", "params_json", "result_json", "created_at"],
    "pools": ["dataset_id", "user_id", "entries_json", "updated_at"],
}
_BLOB_COLUMNS = {("embed_cache", "vector")}


def workspace_to_dict(ws: Workspace) -> dict[str, Any]:
    """Return the whole workspace as a JSON-ready dict."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for table, cols in _TABLES.items():
        rows = ws._query(f"SELECT {', '.join(cols)} FROM {table} ORDER BY rowid")
        out = []
        for r in rows:
            rec = {c: r[c] for c in cols}
            for t, c in _BLOB_COLUMNS:
                if t == table and rec[c] is not None:
                    rec[c] = base64.b64encode(rec[c]).decode("ascii")
            out.append(rec)
        tables[table] = out
    return {"format": EXPORT_FORMAT, "schema_version": SCHEMA_VERSION, "tables": tables}


def export_workspace(ws: Workspace, path: str | Path) -> Path:
    """Write the whole workspace to one JSON file (atomically, strict JSON) and return its path.

    Raises:
        InputError: The file cannot be written (see :func:`core.store.files.write_bytes_atomic`).
    """
    return write_json_atomic(path, workspace_to_dict(ws))


def import_workspace(ws: Workspace, path: str | Path) -> dict[str, int]:
    """Load an export into ``ws`` in one transaction (rows with existing keys are replaced).

    Returns:
        Rows imported per table.

    Raises:
        InputError: The file is not an Inflow workspace export, or is from a newer schema.
    """
    name = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(Problem(name, None, None, f"cannot read workspace export: {exc}")) from exc
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise InputError(Problem(name, None, "format", f"not an Inflow workspace export (format != {EXPORT_FORMAT!r})"))
    if int(data.get("schema_version", 0)) > SCHEMA_VERSION:
        raise InputError(Problem(name, None, "schema_version",
                                 f"export has schema v{data['schema_version']}; this Inflow knows v{SCHEMA_VERSION}"))
    counts: dict[str, int] = {}
    tables = data.get("tables", {})
    with ws.transaction() as c:
        for table, cols in _TABLES.items():
            rows = tables.get(table, [])
            records = []
            for rec in rows:
                if table == "traces" and "choice_scores_json" not in rec:  # an export from schema v3 or older
                    rec = dict(rec)
                    rec["parsed_json"], rec["choice_scores_json"] = split_choice_scores(rec.get("parsed_json"))
                vals = [rec.get(col) for col in cols]
                for t, col in _BLOB_COLUMNS:
                    if t == table:
                        i = cols.index(col)
                        vals[i] = base64.b64decode(vals[i]) if vals[i] is not None else None
                records.append(vals)
            marks = ",".join("?" * len(cols))
            c.executemany(f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({marks})", records)
            counts[table] = len(records)
    return counts


def export_user(ws: Workspace, dataset_id: str, user_id: str, path: str | Path,
                profile: dict[str, Any] | None = None) -> Path:
    """Write one user's history, summary versions, curation edits, prompt pool and (optionally) profile to JSON.

    The profile (factors, statistics, paths) is derived data, included for readers of the file;
    :func:`import_user` restores what it is built from (history, edits, summary versions, pool), and
    the next build reproduces it with the edits replayed.

    Args:
        ws: The workspace.
        dataset_id: Dataset id.
        user_id: User id.
        path: Output file.
        profile: A JSON-ready profile (factors, summary, paths) to include, e.g. from
            ``core.stages.profile.profile_to_json``.

    Raises:
        InputError: The file cannot be written (see :func:`core.store.files.write_bytes_atomic`).
    """
    ds = ws.get_dataset(dataset_id, user_ids=[user_id])
    out = {
        "format": "inflow-user",
        "dataset": ds.to_dict(),
        "summaries": ws.list_summary_versions(dataset_id, user_id),
        "edits": ws.list_edits(dataset_id, user_id, include_undone=True),
        "pool": ws.get_pool(dataset_id, user_id),
        "profile": profile,
    }
    return write_json_atomic(path, out, indent=1)  # NaN in item metadata becomes null: strict JSON


def import_user(ws: Workspace, path: str | Path, *, dataset_id: str | None = None) -> tuple[str, str]:
    """Load a file written by :func:`export_user`: the user's history, summary versions, edits and pool.

    Returns:
        ``(dataset_id, user_id)`` it was stored under.

    Raises:
        InputError: The file is not an Inflow user export, or its pool is invalid (entry and field
            named, see :func:`core.data.pool_schema.parse_pool_entries`); nothing is stored then.
    """
    name = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != "inflow-user":
            raise ValueError("format is not 'inflow-user'")
        ds = Dataset.from_dict(data["dataset"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(Problem(name, None, "format", f"not an Inflow user export: {exc}")) from exc
    if len(ds.users) != 1:
        raise InputError(Problem(name, "$.dataset.users", "users", "a user export holds exactly one user"))
    pool = data.get("pool")
    if pool is not None and not isinstance(pool, list):
        raise InputError(Problem(name, "$.pool", "pool", 'expected a JSON list of {"id", "text", "kind"} objects'))
    # checked before anything is stored, by the same model the CLI and the pool panel use
    entries = parse_pool_entries(pool, source=f"{name} (pool)") if pool is not None else None
    did = dataset_id or ds.name
    uid = ds.users[0].id
    if ws.has_dataset(did):
        existing = ws.get_dataset(did)
        others = [u for u in existing.users if u.id != uid]
        ds = Dataset(name=existing.name, task=existing.task, users=others + ds.users,
                     queries=[q for q in existing.queries if q.user_id != uid] + ds.queries)
    ws.add_dataset(ds, dataset_id=did)
    for v in data.get("summaries", []):
        ws.add_summary_version(did, uid, v["text"], source=v.get("source", "imported"), note=v.get("note"))
    for e in data.get("edits", []):
        eid = ws.add_edit(did, uid, e["op"], e["payload"])
        if e.get("undone"):
            ws.set_edit_undone(eid)
    if entries is not None:
        ws.set_pool(did, uid, [e.model_dump() for e in entries])
    return did, uid
