"""The prompt pool (PILLOW) for the pages: the pool in use, editor rows, and the pool step of a trace."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.methods.context import PoolEntry
from core.methods.pool import default_pool
from core.methods.pool_store import load_pool
from core.methods.types import PoolMatch
from core.stages.profile import Profile
from core.store.workspace import Workspace

EDITOR_COLUMNS = ("id", "kind", "text", "factor_id", "item_id", "source")
SOURCE_TITLES = {"summary": "summary sentence", "factor": "factor line", "demo": "demonstration",
                 "user": "written by hand"}


@dataclass
class PoolInUse:
    """The pool the ``pool`` method uses for a user.

    Attributes:
        entries: The entries.
        stored: True for the user's stored pool, False for the default pool built from the profile.
    """

    entries: list[PoolEntry]
    stored: bool

    @property
    def caption(self) -> str:
        """One line saying which pool is in use and what it holds."""
        counts = {k: sum(1 for e in self.entries if e.kind == k) for k in ("instruction", "demo")}
        what = f"{len(self.entries)} entries: {counts['instruction']} instructions, {counts['demo']} demonstrations"
        if self.stored:
            return f"In use: this user's own pool ({what})."
        return (f"In use: the default pool built from the profile ({what}) — summary sentences, one line per "
                "factor and representative past responses.")


def pool_in_use(ws: Workspace, profile: Profile) -> PoolInUse:
    """Return the user's stored pool, else the default pool of the profile."""
    stored = load_pool(ws, profile.dataset_id, profile.user_id)
    if stored is not None:
        return PoolInUse(stored, True)
    return PoolInUse(default_pool(profile, profile.task), False)


def editor_rows(entries: Iterable[PoolEntry]) -> list[dict[str, Any]]:
    """Return one editable row per entry (all of :data:`EDITOR_COLUMNS`, blanks as ``None``)."""
    return [{c: getattr(e, c) for c in EDITOR_COLUMNS} for e in entries]


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def rows_from_editor(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Turn edited table rows back into pool entries' dicts.

    Blank cells (``None``, ``""``, NaN) are dropped so validation fills defaults; rows left entirely
    blank (an added row never filled in) are skipped.
    """
    out = []
    for rec in records:
        row = {str(k): _clean(v) for k, v in rec.items() if str(k) in EDITOR_COLUMNS}
        if all(v is None for v in row.values()):
            continue
        out.append({k: v for k, v in row.items() if v is not None})
    return out


def pool_step_tables(pool: PoolMatch, factor_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return what the step-by-step page shows for a ``pool`` retrieve step.

    Args:
        pool: The step's ``detail.pool``.
        factor_names: Factor id -> name, to name the factor an entry speaks for.

    Returns:
        ``{"chosen": rows, "candidates": rows, "caption": str, "weights": {feature: weight} or {}}``;
        rows are ``{rank, id, kind, source, factor, similarity, score, text}``.
    """
    names = factor_names or {}

    def rows(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [{"rank": n, "id": r.get("id"), "kind": r.get("kind"),
                 "source": SOURCE_TITLES.get(str(r.get("source")), r.get("source")),
                 "factor": names.get(str(r.get("factor_id")), r.get("factor_id") or ""),
                 "similarity": round(float(r.get("similarity") or 0.0), 3),
                 "score": round(float(r.get("score") or 0.0), 3), "text": r.get("text")}
                for n, r in enumerate(records, 1)]

    source = pool.pool_source
    size = pool.pool_size
    which = ("this user's own pool" if source == "stored" else "the default pool built from the profile"
             if source == "default" else "the pool")
    rr = pool.reranker or {}
    if pool.ranking == "reranker" and rr:
        how = (f"ranked by the re-ranker fit on this user's history ({rr.get('n_pairs')} training pairs, "
               f"{rr.get('n_positive')} helpful): the score is the predicted chance an entry helps")
    else:
        how = "ranked by embedding similarity to the query (too little history signal for the re-ranker)"
    caption = f"Picked from {which}" + (f" ({size} entries)" if size is not None else "") + f", {how}."
    return {"chosen": rows(pool.entries), "candidates": rows(pool.candidates),
            "caption": caption, "weights": dict(rr.get("weights") or {})}
