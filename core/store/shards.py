"""One user's slice of a workspace, moved between the driver's workspace and a worker's scratch one.

The driver is the workspace file's only writer. A worker (a Ray task) builds a user in a scratch
in-memory :class:`Workspace` that :func:`seed_rows` filled with what the stages need to read and
reuse: the dataset's task, the user's items and queries, curation edits, summary versions, prompt
pool, and every stage run of the user with its artifacts (so a finished stage is reused, not
redone). When the build ends, :func:`new_rows` collects what the worker added (runs, artifacts, LLM
and embedding cache entries, traces, summary versions) and the driver :func:`ingest_rows` them in
one transaction.

A shard is ``{table: [row dict, ...]}``: plain data that pickles, so Ray moves it as it is.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from core.store.workspace import Workspace, next_run_label

Shard = dict[str, list[dict[str, Any]]]

SEEDED = "_seeded"
"""Key of a seed shard that lists what was seeded (``{"runs": [...], "summaries": max version}``)."""


def _rows(ws: Workspace, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with ws.transaction() as c:  # the workspace's lock and connection; reads only
        return [dict(r) for r in c.execute(sql, args).fetchall()]


def seed_rows(ws: Workspace, dataset_id: str, user_id: str) -> Shard:
    """Return what a worker needs to build (or answer for) one user.

    Raises:
        KeyError: No such dataset.
    """
    datasets = _rows(ws, "SELECT * FROM datasets WHERE id=?", (dataset_id,))
    if not datasets:
        raise KeyError(f"no dataset {dataset_id!r} in workspace {ws.path}")
    key = (dataset_id, user_id)
    runs = _rows(ws, "SELECT * FROM runs WHERE dataset_id=? AND user_id=?", key)
    artifacts = _rows(ws, "SELECT a.* FROM artifacts a JOIN runs r ON r.id=a.run_id WHERE r.dataset_id=? "
                          "AND r.user_id=?", key)
    summaries = _rows(ws, "SELECT * FROM summaries WHERE dataset_id=? AND user_id=?", key)
    return {
        "datasets": datasets,
        "users": _rows(ws, "SELECT * FROM users WHERE dataset_id=? AND user_id=?", key),
        "items": _rows(ws, "SELECT * FROM items WHERE dataset_id=? AND user_id=?", key),
        "queries": _rows(ws, "SELECT * FROM queries WHERE dataset_id=? AND user_id=?", key),
        "edits": _rows(ws, "SELECT * FROM edits WHERE dataset_id=? AND user_id=?", key),
        "pools": _rows(ws, "SELECT * FROM pools WHERE dataset_id=? AND user_id=?", key),
        "summaries": summaries, "runs": runs, "artifacts": artifacts,
        SEEDED: [{"runs": [r["id"] for r in runs], "summary_version": max((s["version"] for s in summaries),
                                                                           default=0)}],
    }


def _insert(c: sqlite3.Connection, table: str, rows: list[dict[str, Any]], *, verb: str = "INSERT") -> None:
    if not rows:
        return
    cols = list(rows[0])
    sql = f"{verb} INTO {table}({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"
    c.executemany(sql, [tuple(r[k] for k in cols) for r in rows])


def load_seed(ws: Workspace, shard: Shard) -> None:
    """Fill an empty scratch workspace with a seed shard."""
    with ws.transaction() as c:
        for table in ("datasets", "users", "items", "queries", "edits", "pools", "summaries", "runs", "artifacts"):
            _insert(c, table, shard.get(table, []))


def new_rows(ws: Workspace, seed: Shard) -> Shard:
    """Return what was added to a scratch workspace since :func:`load_seed` (the worker's result)."""
    seeded = seed[SEEDED][0]
    old_runs = set(seeded["runs"])
    runs = [r for r in _rows(ws, "SELECT * FROM runs") if r["id"] not in old_runs]
    new_ids = {r["id"] for r in runs}
    artifacts = [a for a in _rows(ws, "SELECT * FROM artifacts") if a["run_id"] in new_ids]
    traces = _rows(ws, "SELECT * FROM traces ORDER BY id")
    for t in traces:
        t.pop("id")
    summaries = _rows(ws, "SELECT * FROM summaries WHERE version>? ORDER BY version", (seeded["summary_version"],))
    for s in summaries:
        s.pop("id")
    return {"runs": runs, "artifacts": artifacts, "llm_cache": _rows(ws, "SELECT * FROM llm_cache"),
            "embed_cache": _rows(ws, "SELECT * FROM embed_cache"), "traces": traces, "summaries": summaries}


def ingest_rows(ws: Workspace, shard: Shard) -> None:
    """Write a worker's result into the driver's workspace, all in one transaction.

    Runs and artifacts keep their ids (random, so they never collide); cache entries already
    present are kept; traces get new ids. A run's readable label (``features-003``) is numbered
    again after the driver's runs of its stage and user, in the order the runs were made: two workers
    (or a worker and another session) may have numbered theirs from the same seed. A summary version
    is renumbered after the newest one stored (another session may have added one meanwhile) and its
    run's ``version`` artifact follows.
    """
    import json

    with ws.transaction() as c:
        for r in sorted(shard.get("runs", []), key=lambda r: (r["created_at"], r["id"])):
            if c.execute("SELECT 1 FROM runs WHERE id=?", (r["id"],)).fetchone():
                continue  # ingested before: kept as it is
            _insert(c, "runs", [{**r, "label": next_run_label(c, r["stage"], r["dataset_id"], r["user_id"])}])
        _insert(c, "artifacts", shard.get("artifacts", []), verb="INSERT OR REPLACE")
        _insert(c, "llm_cache", shard.get("llm_cache", []), verb="INSERT OR IGNORE")
        _insert(c, "embed_cache", shard.get("embed_cache", []), verb="INSERT OR IGNORE")
        _insert(c, "traces", shard.get("traces", []))
        for s in shard.get("summaries", []):
            top = c.execute("SELECT COALESCE(MAX(version),0) FROM summaries WHERE dataset_id=? AND user_id=?",
                            (s["dataset_id"], s["user_id"])).fetchone()[0]
            version = int(top) + 1
            _insert(c, "summaries", [{**s, "version": version}])
            if s.get("run_id") and version != s["version"]:
                c.execute("UPDATE artifacts SET value_json=? WHERE run_id=? AND key='version'",
                          (json.dumps(version), s["run_id"]))
