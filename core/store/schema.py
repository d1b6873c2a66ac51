"""The workspace schema and its forward migrations.

Each migration is a list of steps, SQL statements or Python functions of the open connection (for
moves SQL cannot do safely, e.g. rewriting JSON that may hold ``NaN``); ``MIGRATIONS[i]`` moves a
workspace from version ``i`` to ``i + 1``, in one transaction. Never edit a released migration:
append a new one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

LEGACY_TRACE_CHOICE_KEY = "_choice_scores"
"""Where schema v3 and older kept a closed-choice answer's option distributions: inside the trace's
``parsed`` JSON. Schema v4 gives them the ``choice_scores_json`` column."""


def split_choice_scores(parsed_json: str | None) -> tuple[str | None, str | None]:
    """Split a v3 trace's ``parsed_json`` into ``(parsed_json, choice_scores_json)``.

    Returns the text unchanged and None when it holds no choice scores (or is not a JSON object),
    so the step is safe to run on any row and on rows already split.

    Examples:
        >>> split_choice_scores('{"answer": "4", "_choice_scores": {"chosen": "4"}}')
        ('{"answer": "4"}', '{"chosen": "4"}')
        >>> split_choice_scores('{"answer": "4"}')
        ('{"answer": "4"}', None)
    """
    if not parsed_json:
        return parsed_json, None
    try:
        parsed = json.loads(parsed_json)
    except ValueError:
        return parsed_json, None
    if not isinstance(parsed, dict) or LEGACY_TRACE_CHOICE_KEY not in parsed:
        return parsed_json, None
    scores = parsed.pop(LEGACY_TRACE_CHOICE_KEY)
    return json.dumps(parsed), json.dumps(scores)


def _move_choice_scores(conn: sqlite3.Connection) -> None:
    """Move the choice scores v3 stored inside ``traces.parsed_json`` to ``traces.choice_scores_json``."""
    rows = conn.execute("SELECT id, parsed_json FROM traces WHERE parsed_json LIKE ?",
                        (f'%"{LEGACY_TRACE_CHOICE_KEY}"%',)).fetchall()
    for trace_id, parsed_json in rows:
        parsed, scores = split_choice_scores(parsed_json)
        if scores is not None:
            conn.execute("UPDATE traces SET parsed_json=?, choice_scores_json=? WHERE id=?",
                         (parsed, scores, trace_id))


MigrationStep = str | Callable[[sqlite3.Connection], Any]

MIGRATIONS: list[list[MigrationStep]] = [
    # v0 -> v1: datasets, runs with provenance, LLM cache, traces.
    [
        """CREATE TABLE datasets (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, task_json TEXT NOT NULL,
            source TEXT, created_at REAL NOT NULL)""",
        """CREATE TABLE users (
            dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            user_id TEXT NOT NULL, PRIMARY KEY (dataset_id, user_id))""",
        """CREATE TABLE items (
            dataset_id TEXT NOT NULL, user_id TEXT NOT NULL, item_id TEXT NOT NULL, pos INTEGER NOT NULL,
            input TEXT NOT NULL, output TEXT NOT NULL, timestamp TEXT, meta_json TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (dataset_id, user_id, item_id),
            FOREIGN KEY (dataset_id, user_id) REFERENCES users(dataset_id, user_id) ON DELETE CASCADE)""",
        """CREATE TABLE queries (
            dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            query_id TEXT NOT NULL, pos INTEGER NOT NULL, user_id TEXT NOT NULL, input TEXT NOT NULL,
            gold TEXT, meta_json TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (dataset_id, query_id))""",
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY, stage TEXT NOT NULL, dataset_id TEXT, user_id TEXT,
            params_json TEXT NOT NULL, params_hash TEXT NOT NULL, parents_json TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL, created_at REAL NOT NULL, finished_at REAL)""",
        "CREATE INDEX runs_lookup ON runs(stage, dataset_id, user_id, params_hash)",
        """CREATE TABLE artifacts (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, key TEXT NOT NULL,
            value_json TEXT NOT NULL, PRIMARY KEY (run_id, key))""",
        """CREATE TABLE llm_cache (
            key TEXT PRIMARY KEY, backend TEXT, model TEXT, value_json TEXT NOT NULL, created_at REAL NOT NULL)""",
        """CREATE TABLE traces (
            id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, stage TEXT, backend TEXT, model TEXT,
            messages_json TEXT, output TEXT, parsed_json TEXT, tokens_in INTEGER, tokens_out INTEGER,
            latency_ms REAL, cache_hit INTEGER, retries INTEGER, error TEXT, created_at REAL NOT NULL)""",
        "CREATE INDEX traces_run ON traces(run_id)",
    ],
    # v1 -> v2: embeddings cache, summary versions, curation edits, eval runs.
    [
        """CREATE TABLE embed_cache (
            model TEXT NOT NULL, text_hash TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,
            PRIMARY KEY (model, text_hash))""",
        """CREATE TABLE summaries (
            id INTEGER PRIMARY KEY AUTOINCREMENT, dataset_id TEXT NOT NULL, user_id TEXT NOT NULL,
            version INTEGER NOT NULL, text TEXT NOT NULL, source TEXT NOT NULL, run_id TEXT,
            note TEXT, created_at REAL NOT NULL, UNIQUE (dataset_id, user_id, version))""",
        """CREATE TABLE edits (
            id INTEGER PRIMARY KEY AUTOINCREMENT, dataset_id TEXT NOT NULL, user_id TEXT NOT NULL,
            op TEXT NOT NULL, payload_json TEXT NOT NULL, undone INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL)""",
        """CREATE TABLE eval_runs (
            id TEXT PRIMARY KEY, params_json TEXT NOT NULL, result_json TEXT NOT NULL, created_at REAL NOT NULL)""",
    ],
    # v2 -> v3: the user-defined prompt pool (PILLOW) per user.
    [
        """CREATE TABLE pools (
            dataset_id TEXT NOT NULL, user_id TEXT NOT NULL, entries_json TEXT NOT NULL, updated_at REAL NOT NULL,
            PRIMARY KEY (dataset_id, user_id))""",
    ],
    # v3 -> v4: a closed-choice answer's option distributions get their own trace column, out of ``parsed``.
    [
        "ALTER TABLE traces ADD COLUMN choice_scores_json TEXT",
        _move_choice_scores,
    ],
    # v4 -> v5: readable run labels (``features-003``), numbered per stage within (dataset, user). The id
    # stays the unique key (``stage-<hex>``, random, so runs minted in two scratch workspaces never
    # collide); the label is for people and is renumbered when a worker's runs are ingested. Existing
    # runs are numbered in the order they were created, through a numbered temporary table: a
    # correlated count per run was quadratic (21 s for 10,000 runs of one user and stage).
    [
        "ALTER TABLE runs ADD COLUMN label TEXT",
        """CREATE TEMP TABLE run_numbers AS SELECT id, ROW_NUMBER() OVER (
            PARTITION BY stage, dataset_id, user_id ORDER BY created_at, id) AS n FROM runs""",
        "CREATE UNIQUE INDEX temp.run_numbers_id ON run_numbers(id)",
        """UPDATE runs SET label = stage || '-' || printf('%03d', (
            SELECT n FROM run_numbers WHERE run_numbers.id = runs.id))""",
        "DROP TABLE temp.run_numbers",
        "CREATE INDEX runs_label ON runs(label)",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
