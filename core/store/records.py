"""Typed records the workspace hands out, instead of loose dicts.

A record is what a caller reads, never what it writes back: each is frozen, so a page or a stage
cannot change a run's status by editing the value it was given (``Workspace.finish_run`` does that).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunRecord:
    """One stage run as stored in the ``runs`` table.

    Attributes:
        id: The run id.
        stage: The stage (``features``, ``projection``, ``answer``...).
        dataset_id: The dataset it ran on, or None.
        user_id: The user it ran for, or None.
        params: The parameters it was started with (what makes two runs the same).
        params_hash: Hash of ``params`` and ``parents``, the lookup key of :meth:`Workspace.find_run`.
        parents: Ids of the runs it was built from.
        status: ``running``, ``done``, ``partial``, ``cancelled`` or ``failed``.
        created_at: Start time (UNIX seconds).
        finished_at: End time, or None while running.
        label: Readable name (``features-003``), numbered per stage within one (dataset, user); the
            id when the run has none (an import of an unlabelled file).
    """

    id: str
    stage: str
    dataset_id: str | None
    user_id: str | None
    params: dict[str, Any] = field(default_factory=dict)
    params_hash: str = ""
    parents: list[str] = field(default_factory=list)
    status: str = "running"
    created_at: float = 0.0
    finished_at: float | None = None
    label: str = ""

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> RunRecord:
        """Build from a ``runs`` row."""
        return cls(id=r["id"], stage=r["stage"], dataset_id=r["dataset_id"], user_id=r["user_id"],
                   params=json.loads(r["params_json"]), params_hash=r["params_hash"],
                   parents=json.loads(r["parents_json"]), status=r["status"], created_at=r["created_at"],
                   finished_at=r["finished_at"], label=r["label"] or r["id"])
