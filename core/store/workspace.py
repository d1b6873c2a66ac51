"""The SQLite workspace: one file holding datasets, stage runs, caches, traces, summaries, edits, evals.

Every write is its own transaction, so a crash loses at most the write in flight. The file is in
WAL mode with foreign keys on; its schema version lives in ``PRAGMA user_version`` and is moved
forward by :mod:`core.store.schema` migrations when the file is opened.

One :class:`Workspace` may be shared by threads (the LLM client's pool, Streamlit sessions): every
statement runs under one re-entrant lock on one connection.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.data.model import Dataset, Item, Query, Task, User
from core.errors import Cancelled
from core.store.records import RunRecord
from core.store.schema import MIGRATIONS, SCHEMA_VERSION

EXPORT_FORMAT = "inflow-workspace"
EVALUATION_SOURCE = "evaluation"
"""``source`` of the datasets an evaluation stores for itself (history split off a user's data)."""


def stable_hash(obj: Any) -> str:
    """Return a SHA-256 hex digest of ``obj`` rendered as canonical JSON."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def text_hash(text: str) -> str:
    """Return the SHA-256 hex digest of a text (the embedding cache key)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class RunHandle:
    """An open run, as :meth:`Workspace.run` yields it.

    Attributes:
        id: The run id.
        reused: True when an earlier finished run was found and nothing is to be computed.
        status: The status the run gets on a normal exit (``done``; the body may set ``partial`` or
            ``cancelled``).
        label: The readable label (``features-003``), see :meth:`Workspace.run_label`.
    """

    id: str
    reused: bool = False
    status: str = "done"
    label: str = ""


class Workspace:
    """A workspace file.

    Args:
        path: The SQLite file (created if missing), or ``":memory:"``.

    Examples:
        >>> ws = Workspace(":memory:")
        >>> ws.schema_version() == SCHEMA_VERSION
        True
    """

    def __init__(self, path: str | Path) -> None:
        """Open (creating and migrating as needed) the workspace at ``path``."""
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self.migrate()

    # -- plumbing ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Workspace:
        """Use as a context manager."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on exit."""
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements in one transaction (nested calls join the outer one)."""
        with self._lock:
            if self._conn.in_transaction:
                yield self._conn
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def schema_version(self) -> int:
        """Return the file's schema version."""
        return int(self._query("PRAGMA user_version")[0][0])

    def migrate(self, target: int = SCHEMA_VERSION) -> None:
        """Apply forward migrations up to ``target``, each in its own transaction.

        Raises:
            RuntimeError: The file is newer than this program knows.
        """
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise RuntimeError(f"workspace {self.path} has schema v{current}; this Inflow knows v{SCHEMA_VERSION}")
        for version in range(current, target):
            with self.transaction() as c:
                for step in MIGRATIONS[version]:
                    if callable(step):
                        step(c)
                    else:
                        c.execute(step)
                c.execute(f"PRAGMA user_version={version + 1}")

    # -- datasets ---------------------------------------------------------------------------------
    def add_dataset(self, dataset: Dataset, *, dataset_id: str | None = None, source: str | None = None,
                    replace: bool = True) -> str:
        """Store a dataset with its users, items and queries.

        Args:
            dataset: The dataset.
            dataset_id: Id to store it under (defaults to its name).
            source: Where it came from (file paths), for provenance.
            replace: Replace an existing dataset with this id; otherwise raise ``ValueError``.

        Returns:
            The dataset id.
        """
        did = dataset_id or dataset.name
        now = time.time()
        with self.transaction() as c:
            exists = c.execute("SELECT 1 FROM datasets WHERE id=?", (did,)).fetchone()
            if exists and not replace:
                raise ValueError(f"dataset {did!r} already exists")
            c.execute("DELETE FROM datasets WHERE id=?", (did,))
            c.execute("DELETE FROM items WHERE dataset_id=?", (did,))
            c.execute("INSERT INTO datasets(id,name,task_json,source,created_at) VALUES (?,?,?,?,?)",
                      (did, dataset.name, json.dumps(dataset.task.to_dict()), source, now))
            for u in dataset.users:
                c.execute("INSERT INTO users(dataset_id,user_id) VALUES (?,?)", (did, u.id))
                c.executemany(
                    "INSERT INTO items(dataset_id,user_id,item_id,pos,input,output,timestamp,meta_json)"
                    " VALUES (?,?,?,?,?,?,?,?)",
                    [(did, u.id, it.id, pos, it.input, it.output, it.timestamp, json.dumps(it.meta))
                     for pos, it in enumerate(u.items)])
            c.executemany(
                "INSERT INTO queries(dataset_id,query_id,pos,user_id,input,gold,meta_json) VALUES (?,?,?,?,?,?,?)",
                [(did, q.id, pos, q.user_id, q.input, q.gold, json.dumps(q.meta))
                 for pos, q in enumerate(dataset.queries)])
        return did

    def list_datasets(self) -> list[dict[str, Any]]:
        """Return ``[{id, name, task, source, n_users, n_items, n_queries, created_at}]``."""
        rows = self._query(
            "SELECT d.*, (SELECT COUNT(*) FROM users u WHERE u.dataset_id=d.id) AS n_users,"
            " (SELECT COUNT(*) FROM items i WHERE i.dataset_id=d.id) AS n_items,"
            " (SELECT COUNT(*) FROM queries q WHERE q.dataset_id=d.id) AS n_queries"
            " FROM datasets d ORDER BY d.created_at")
        return [{"id": r["id"], "name": r["name"], "task": Task.from_dict(json.loads(r["task_json"])),
                 "source": r["source"], "n_users": r["n_users"], "n_items": r["n_items"],
                 "n_queries": r["n_queries"], "created_at": r["created_at"]} for r in rows]

    def has_dataset(self, dataset_id: str) -> bool:
        """True when a dataset with this id is stored."""
        return bool(self._query("SELECT 1 FROM datasets WHERE id=?", (dataset_id,)))

    def get_dataset(self, dataset_id: str, *, user_ids: list[str] | None = None) -> Dataset:
        """Load a stored dataset (optionally only some users).

        Raises:
            KeyError: No such dataset.
        """
        rows = self._query("SELECT * FROM datasets WHERE id=?", (dataset_id,))
        if not rows:
            raise KeyError(f"no dataset {dataset_id!r} in workspace {self.path}")
        d = rows[0]
        uids = user_ids if user_ids is not None else [
            r["user_id"] for r in self._query("SELECT user_id FROM users WHERE dataset_id=? ORDER BY rowid",
                                              (dataset_id,))]
        users = [User(id=uid, items=self.get_items(dataset_id, uid)) for uid in uids]
        qrows = self._query("SELECT * FROM queries WHERE dataset_id=? ORDER BY pos", (dataset_id,))
        queries = [Query(id=r["query_id"], user_id=r["user_id"], input=r["input"], gold=r["gold"],
                         meta=json.loads(r["meta_json"])) for r in qrows
                   if user_ids is None or r["user_id"] in user_ids]
        return Dataset(name=d["name"], task=Task.from_dict(json.loads(d["task_json"])), users=users,
                       queries=queries)

    def get_items(self, dataset_id: str, user_id: str) -> list[Item]:
        """Return one user's history items in order."""
        rows = self._query("SELECT * FROM items WHERE dataset_id=? AND user_id=? ORDER BY pos",
                           (dataset_id, user_id))
        return [Item(id=r["item_id"], input=r["input"], output=r["output"], timestamp=r["timestamp"],
                     meta=json.loads(r["meta_json"])) for r in rows]

    def list_users(self, dataset_id: str) -> list[str]:
        """Return a dataset's user ids in stored order."""
        return [r["user_id"] for r in self._query("SELECT user_id FROM users WHERE dataset_id=? ORDER BY rowid",
                                                  (dataset_id,))]

    def user_item_counts(self, dataset_id: str) -> dict[str, int]:
        """Return ``{user id: history items}`` of a dataset, users in stored order (one query, for pickers)."""
        rows = self._query("SELECT u.user_id AS uid, COUNT(i.item_id) AS n FROM users u LEFT JOIN items i "
                           "ON i.dataset_id=u.dataset_id AND i.user_id=u.user_id WHERE u.dataset_id=? "
                           "GROUP BY u.user_id ORDER BY u.rowid", (dataset_id,))
        return {r["uid"]: int(r["n"]) for r in rows}

    def delete_dataset(self, dataset_id: str, *, builds: bool = False) -> None:
        """Delete a dataset and its items and queries.

        Args:
            dataset_id: The dataset.
            builds: Also delete everything built from it: runs (with their artifacts and LLM traces),
                summary versions, curation edits and prompt pools. Otherwise they are kept for audit.
        """
        with self.transaction() as c:
            if builds:
                runs = "SELECT id FROM runs WHERE dataset_id=?"
                c.execute(f"DELETE FROM traces WHERE run_id IN ({runs})", (dataset_id,))
                c.execute(f"DELETE FROM artifacts WHERE run_id IN ({runs})", (dataset_id,))
                for table in ("runs", "summaries", "edits", "pools"):
                    c.execute(f"DELETE FROM {table} WHERE dataset_id=?", (dataset_id,))  # table names are fixed above
            c.execute("DELETE FROM items WHERE dataset_id=?", (dataset_id,))
            c.execute("DELETE FROM datasets WHERE id=?", (dataset_id,))

    # -- runs and artifacts -----------------------------------------------------------------------
    def start_run(self, stage: str, params: dict[str, Any], *, dataset_id: str | None = None,
                  user_id: str | None = None, parents: list[str] | None = None) -> str:
        """Record the start of a stage run and return its id (``stage-<8 hex>``).

        Args:
            stage: Stage name (``features``, ``factors``, ``summary``, ``paths``, ...).
            params: The run's parameters (JSON-serialisable); hashed for reuse lookups.
            dataset_id: Dataset it ran on.
            user_id: User it ran on.
            parents: Ids of the runs whose outputs it used (provenance).
        """
        run_id = f"{stage}-{uuid.uuid4().hex[:8]}"
        with self.transaction() as c:  # the label is numbered inside the write transaction: no two alike
            c.execute("INSERT INTO runs(id,stage,dataset_id,user_id,params_json,params_hash,parents_json,status,"
                      "created_at,label) VALUES (?,?,?,?,?,?,?,?,?,?)",
                      (run_id, stage, dataset_id, user_id, json.dumps(params, sort_keys=True, default=str),
                       stable_hash({"params": params, "parents": parents or []}), json.dumps(parents or []),
                       "running", time.time(), next_run_label(c, stage, dataset_id, user_id)))
        return run_id

    def finish_run(self, run_id: str, status: str = "done") -> None:
        """Mark a run finished (``done``, ``failed`` or ``cancelled``)."""
        with self.transaction() as c:
            c.execute("UPDATE runs SET status=?, finished_at=? WHERE id=?", (status, time.time(), run_id))

    @contextmanager
    def run(self, stage: str, params: dict[str, Any], *, dataset_id: str | None = None,
            user_id: str | None = None, parents: list[str] | None = None, reuse: bool = False,
            run_id: str | None = None) -> Iterator[RunHandle]:
        """Open a stage run and close it on every exit path: the one run protocol.

        Finds a finished run with the same stage, params and parents (when ``reuse``) or starts a new
        one, and yields a :class:`RunHandle`. On a normal exit the run is marked ``handle.status``
        (``done`` unless the body set ``partial`` or ``cancelled``); on ``KeyboardInterrupt`` or
        :class:`core.errors.Cancelled` it is ``cancelled``; on any other exception ``failed`` and the
        exception propagates. A reused run is left as it was. So no run is left ``running`` whatever
        the body does.

        Args:
            stage: Stage name (``features``, ``factors``, ``answer``, ``eval``, ...).
            params: The run's parameters (JSON-serialisable), hashed for reuse.
            dataset_id: Dataset it runs on.
            user_id: User it runs on.
            parents: Ids of the runs whose outputs it uses.
            reuse: Yield an existing ``done`` run with the same identity instead of starting one.
            run_id: Continue this existing run (e.g. resuming a crashed one) instead of starting one.

        Examples:
            >>> ws = Workspace(":memory:")
            >>> with ws.run("demo", {"a": 1}) as r:
            ...     ws.put_artifact(r.id, "x", 1)
            >>> ws.get_run(r.id).status
            'done'
        """
        if reuse:
            found = self.find_run(stage, params, dataset_id=dataset_id, user_id=user_id, parents=parents)
            if found is not None:
                yield RunHandle(found.id, reused=True, status=found.status, label=found.label)
                return
        if run_id is None:
            run_id = self.start_run(stage, params, dataset_id=dataset_id, user_id=user_id, parents=parents)
        handle = RunHandle(run_id, label=self.run_label(run_id))
        try:
            yield handle
        except (KeyboardInterrupt, Cancelled):
            self.finish_run(run_id, "cancelled")
            raise
        except BaseException:
            self.finish_run(run_id, "failed")
            raise
        self.finish_run(run_id, handle.status)

    def get_run(self, run_id: str) -> RunRecord:
        """Return a run's record (``id, stage, dataset_id, user_id, params, parents, status, ...``).

        Raises:
            KeyError: No such run.
        """
        rows = self._query("SELECT * FROM runs WHERE id=?", (run_id,))
        if not rows:
            raise KeyError(f"no run {run_id!r}")
        return RunRecord.from_row(rows[0])

    def run_label(self, run_id: str | None) -> str:
        """Return a run's readable label (``features-003``); its id when it has none or is unknown.

        Labels are numbered per stage within one (dataset, user); the id stays the unique key.
        """
        if not run_id:
            return ""
        rows = self._query("SELECT label FROM runs WHERE id=?", (run_id,))
        return str(rows[0][0]) if rows and rows[0][0] else run_id

    def resolve_run(self, ref: str, *, dataset_id: str | None = None, user_id: str | None = None) -> RunRecord:
        """Return the run named by ``ref``: its id, or its readable label (``features-003``).

        A label is unique within one (dataset, user); ``dataset_id`` / ``user_id`` narrow the search
        when several users have a run with that label.

        Raises:
            KeyError: No run with that id or label (the message lists a few labels of that stage), or
                the label names runs of several datasets / users (the message lists them).
        """
        rows = self._query("SELECT * FROM runs WHERE id=?", (ref,))
        if rows:
            return RunRecord.from_row(rows[0])
        sql, args = "SELECT * FROM runs WHERE label=?", [ref]
        for col, val in (("dataset_id", dataset_id), ("user_id", user_id)):
            if val is not None:
                sql += f" AND {col}=?"  # column names are fixed above
                args.append(val)
        rows = self._query(sql + " ORDER BY created_at", tuple(args))
        if len(rows) == 1:
            return RunRecord.from_row(rows[0])
        if len(rows) > 1:
            owners = ", ".join(f"{r['id']} (dataset {r['dataset_id']}, user {r['user_id']})" for r in rows[:5])
            raise KeyError(f"run label {ref!r} names {len(rows)} runs: {owners}; pass the dataset and user, or an id")
        stage = ref.rsplit("-", 1)[0]
        known = [r["label"] for r in self._query("SELECT label FROM runs WHERE stage=? AND label IS NOT NULL "
                                                 "ORDER BY created_at DESC LIMIT 5", (stage,))]
        hint = f"; latest {stage} runs: {', '.join(known)}" if known else ""
        raise KeyError(f"no run {ref!r} in workspace {self.path}{hint}")

    def find_run(self, stage: str, params: dict[str, Any], *, dataset_id: str | None = None,
                 user_id: str | None = None, parents: list[str] | None = None,
                 status: str | None = "done") -> RunRecord | None:
        """Return the newest run of ``stage`` with exactly these params and parents, or None."""
        h = stable_hash({"params": json.loads(json.dumps(params, sort_keys=True, default=str)),
                         "parents": parents or []})
        sql = "SELECT * FROM runs WHERE stage=? AND params_hash=? AND dataset_id IS ? AND user_id IS ?"
        args: list[Any] = [stage, h, dataset_id, user_id]
        if status is not None:
            sql += " AND status=?"
            args.append(status)
        rows = self._query(sql + " ORDER BY created_at DESC LIMIT 1", tuple(args))
        return RunRecord.from_row(rows[0]) if rows else None

    def list_runs(self, stage: str | None = None, *, dataset_id: str | None = None,
                  user_id: str | None = None) -> list[RunRecord]:
        """Return runs, newest first, optionally filtered."""
        sql, args = "SELECT * FROM runs WHERE 1=1", []
        for col, val in (("stage", stage), ("dataset_id", dataset_id), ("user_id", user_id)):
            if val is not None:
                sql += f" AND {col}=?"
                args.append(val)
        return [RunRecord.from_row(r) for r in self._query(sql + " ORDER BY created_at DESC", tuple(args))]

    def put_artifact(self, run_id: str, key: str, value: Any) -> None:
        """Store (or replace) one JSON artifact of a run, in its own transaction."""
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO artifacts(run_id,key,value_json) VALUES (?,?,?)",
                      (run_id, key, json.dumps(value, default=_json_default)))

    def get_artifact(self, run_id: str, key: str, default: Any = None) -> Any:
        """Return one artifact of a run, or ``default``."""
        rows = self._query("SELECT value_json FROM artifacts WHERE run_id=? AND key=?", (run_id, key))
        return json.loads(rows[0][0]) if rows else default

    def get_artifacts(self, run_id: str, prefix: str = "") -> dict[str, Any]:
        """Return all artifacts of a run whose key starts with ``prefix``."""
        rows = self._query("SELECT key, value_json FROM artifacts WHERE run_id=? AND key LIKE ? ORDER BY rowid",
                           (run_id, prefix.replace("%", r"\%") + "%"))
        return {r["key"]: json.loads(r["value_json"]) for r in rows}

    # -- LLM cache ---------------------------------------------------------------------------------
    def cache_get(self, key: str) -> dict[str, Any] | None:
        """Return a cached LLM response, or None."""
        rows = self._query("SELECT value_json FROM llm_cache WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def cache_put(self, key: str, value: dict[str, Any], *, backend: str = "", model: str = "") -> None:
        """Store an LLM response under a content-addressed key."""
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO llm_cache(key,backend,model,value_json,created_at) VALUES (?,?,?,?,?)",
                      (key, backend, model, json.dumps(value, default=_json_default), time.time()))

    def cache_size(self) -> int:
        """Number of cached LLM responses."""
        return int(self._query("SELECT COUNT(*) FROM llm_cache")[0][0])

    # -- embedding cache ---------------------------------------------------------------------------
    def embeddings_get(self, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
        """Return cached vectors by text hash (missing hashes are absent from the result)."""
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 500):
            chunk = hashes[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._query(f"SELECT text_hash, vector FROM embed_cache WHERE model=? AND text_hash IN ({marks})",
                                 (model, *chunk)):
                out[r["text_hash"]] = np.frombuffer(r["vector"], dtype=np.float32).copy()
        return out

    def embeddings_put(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        """Cache vectors by text hash."""
        with self.transaction() as c:
            c.executemany("INSERT OR REPLACE INTO embed_cache(model,text_hash,dim,vector) VALUES (?,?,?,?)",
                          [(model, h, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes())
                           for h, v in vectors.items()])

    # -- traces -----------------------------------------------------------------------------------
    def add_trace(self, record: dict[str, Any]) -> int:
        """Store one LLM call record and return its id.

        Args:
            record: Keys ``run_id, stage, backend, model, messages, output, parsed, choice_scores, tokens_in,
                tokens_out, latency_ms, cache_hit, retries, error`` (missing keys stored as NULL).
                ``choice_scores`` is a closed-choice answer's option distributions (the local backend's
                ``extra["choice_scores"]``).
        """
        scores = record.get("choice_scores")
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO traces(run_id,stage,backend,model,messages_json,output,parsed_json,choice_scores_json,"
                "tokens_in,tokens_out,latency_ms,cache_hit,retries,error,created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.get("run_id"), record.get("stage"), record.get("backend"), record.get("model"),
                 json.dumps(record.get("messages"), default=_json_default), record.get("output"),
                 json.dumps(record.get("parsed"), default=_json_default),
                 json.dumps(scores, default=_json_default) if scores is not None else None, record.get("tokens_in"),
                 record.get("tokens_out"), record.get("latency_ms"), int(bool(record.get("cache_hit"))),
                 record.get("retries"), record.get("error"), time.time()))
            return int(cur.lastrowid or 0)

    def list_traces(self, run_id: str | None = None, *, stage: str | None = None,
                    limit: int = 1000) -> list[dict[str, Any]]:
        """Return trace records (the keys :meth:`add_trace` takes, plus ``id`` and ``created_at``), newest first."""
        sql, args = "SELECT * FROM traces WHERE 1=1", []
        if run_id is not None:
            sql += " AND run_id=?"
            args.append(run_id)
        if stage is not None:
            sql += " AND stage=?"
            args.append(stage)
        rows = self._query(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [{"id": r["id"], "run_id": r["run_id"], "stage": r["stage"], "backend": r["backend"],
                 "model": r["model"], "messages": json.loads(r["messages_json"] or "null"), "output": r["output"],
                 "parsed": json.loads(r["parsed_json"] or "null"),
                 "choice_scores": json.loads(r["choice_scores_json"] or "null"), "tokens_in": r["tokens_in"],
                 "tokens_out": r["tokens_out"], "latency_ms": r["latency_ms"], "cache_hit": bool(r["cache_hit"]),
                 "retries": r["retries"], "error": r["error"], "created_at": r["created_at"]} for r in rows]

    # -- summary versions --------------------------------------------------------------------------
    def add_summary_version(self, dataset_id: str, user_id: str, text: str, *, source: str,
                            run_id: str | None = None, note: str | None = None) -> int:
        """Append a new summary version (``source``: ``generated`` or ``edited``); return its number."""
        with self.transaction() as c:
            row = c.execute("SELECT COALESCE(MAX(version),0) FROM summaries WHERE dataset_id=? AND user_id=?",
                            (dataset_id, user_id)).fetchone()
            version = int(row[0]) + 1
            c.execute("INSERT INTO summaries(dataset_id,user_id,version,text,source,run_id,note,created_at)"
                      " VALUES (?,?,?,?,?,?,?,?)", (dataset_id, user_id, version, text, source, run_id, note,
                                                    time.time()))
        return version

    def list_summary_versions(self, dataset_id: str, user_id: str) -> list[dict[str, Any]]:
        """Return all summary versions of a user, oldest first."""
        rows = self._query("SELECT * FROM summaries WHERE dataset_id=? AND user_id=? ORDER BY version",
                           (dataset_id, user_id))
        return [{"version": r["version"], "text": r["text"], "source": r["source"], "run_id": r["run_id"],
                 "note": r["note"], "created_at": r["created_at"]} for r in rows]

    def latest_summary(self, dataset_id: str, user_id: str) -> dict[str, Any] | None:
        """Return the newest summary version of a user, or None."""
        versions = self.list_summary_versions(dataset_id, user_id)
        return versions[-1] if versions else None

    # -- curation edits ----------------------------------------------------------------------------
    def add_edit(self, dataset_id: str, user_id: str, op: str, payload: dict[str, Any]) -> int:
        """Append a curation edit (``rename``, ``merge``, ``split``, ...) and return its id."""
        with self.transaction() as c:
            cur = c.execute("INSERT INTO edits(dataset_id,user_id,op,payload_json,created_at) VALUES (?,?,?,?,?)",
                            (dataset_id, user_id, op, json.dumps(payload, default=_json_default), time.time()))
            return int(cur.lastrowid or 0)

    def list_edits(self, dataset_id: str, user_id: str, *, include_undone: bool = False) -> list[dict[str, Any]]:
        """Return a user's curation edits in the order they were made."""
        sql = "SELECT * FROM edits WHERE dataset_id=? AND user_id=?"
        if not include_undone:
            sql += " AND undone=0"
        rows = self._query(sql + " ORDER BY id", (dataset_id, user_id))
        return [{"id": r["id"], "op": r["op"], "payload": json.loads(r["payload_json"]), "undone": bool(r["undone"]),
                 "created_at": r["created_at"]} for r in rows]

    def set_edit_undone(self, edit_id: int, undone: bool = True) -> None:
        """Mark an edit undone (or redone); it stays in the audit list."""
        with self.transaction() as c:
            c.execute("UPDATE edits SET undone=? WHERE id=?", (int(undone), edit_id))

    # -- prompt pools -----------------------------------------------------------------------------
    def set_pool(self, dataset_id: str, user_id: str, entries: list[dict[str, Any]]) -> None:
        """Store (replace) a user's prompt pool: a list of JSON-ready entries."""
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO pools(dataset_id,user_id,entries_json,updated_at) VALUES (?,?,?,?)",
                      (dataset_id, user_id, json.dumps(entries, default=_json_default), time.time()))

    def get_pool(self, dataset_id: str, user_id: str) -> list[dict[str, Any]] | None:
        """Return a user's stored prompt pool, or None when they have none."""
        rows = self._query("SELECT entries_json FROM pools WHERE dataset_id=? AND user_id=?", (dataset_id, user_id))
        return json.loads(rows[0][0]) if rows else None

    def delete_pool(self, dataset_id: str, user_id: str) -> None:
        """Remove a user's stored prompt pool (the default pool built from the profile applies again)."""
        with self.transaction() as c:
            c.execute("DELETE FROM pools WHERE dataset_id=? AND user_id=?", (dataset_id, user_id))

    # -- eval runs --------------------------------------------------------------------------------
    def add_eval_run(self, params: dict[str, Any], result: dict[str, Any]) -> str:
        """Store an evaluation result and return its id (``eval-<8 hex>``)."""
        eid = f"eval-{uuid.uuid4().hex[:8]}"
        with self.transaction() as c:
            c.execute("INSERT INTO eval_runs(id,params_json,result_json,created_at) VALUES (?,?,?,?)",
                      (eid, json.dumps(params, default=_json_default), json.dumps(result, default=_json_default),
                       time.time()))
        return eid

    def get_eval_run(self, eval_id: str) -> dict[str, Any]:
        """Return ``{id, params, result, created_at}``.

        Raises:
            KeyError: No such eval run.
        """
        rows = self._query("SELECT * FROM eval_runs WHERE id=?", (eval_id,))
        if not rows:
            raise KeyError(f"no eval run {eval_id!r}")
        r = rows[0]
        return {"id": r["id"], "params": json.loads(r["params_json"]), "result": json.loads(r["result_json"]),
                "created_at": r["created_at"]}

    def list_eval_runs(self) -> list[dict[str, Any]]:
        """Return all eval runs, newest first."""
        return [self.get_eval_run(r["id"]) for r in self._query("SELECT id FROM eval_runs ORDER BY created_at DESC")]


def next_run_label(c: sqlite3.Connection, stage: str, dataset_id: str | None, user_id: str | None) -> str:
    """Return the next readable label of a ``stage`` run of (dataset, user): ``features-001``, ``-002``, ...

    Call it inside the transaction that inserts the run, so two writers never take the same number.
    """
    prefix = f"{stage}-"
    row = c.execute("SELECT MAX(CAST(substr(label, ?) AS INTEGER)) FROM runs WHERE stage=? AND dataset_id IS ? "
                    "AND user_id IS ? AND substr(label, 1, ?)=?",
                    (len(prefix) + 1, stage, dataset_id, user_id, len(prefix), prefix)).fetchone()
    return f"{prefix}{int(row[0] or 0) + 1:03d}"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
