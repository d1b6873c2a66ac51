"""Evaluation for the pages: what to evaluate, metric tables, per-query rows and drill-down targets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from core.data.model import Dataset, Query, split_last
from core.embed.base import Embedder
from core.engine import make_engine, prepare_run
from core.evaluate.result import EvalResult
from core.llm.client import LLMClient
from core.store.workspace import Workspace

EXTRA_COLUMNS = ("n", "prompt_tokens_mean", "latency_ms_mean", "errors", "unparsed", "rescues")


def eval_inputs(dataset: Dataset, dataset_id: str, *, fraction: float = 0.2,
                user_ids: Sequence[str] | None = None) -> tuple[Dataset, list[Query], str]:
    """Return the history dataset, the queries and a description of the split.

    A dataset with its own queries (LaMP questions) is evaluated on them; otherwise the last
    ``fraction`` of each user's items are held out (:func:`core.data.model.split_last`). The history
    dataset is named ``dataset_id`` so results can be traced back to the workspace dataset.
    """
    users = [u for u in dataset.users if user_ids is None or u.id in set(user_ids)]
    keep = {u.id for u in users}
    base = replace(dataset, name=dataset_id, users=users,
                   queries=[q for q in dataset.queries if q.user_id in keep])
    if base.queries:
        return replace(base, queries=[]), list(base.queries), f"the dataset's own {len(base.queries)} queries"
    history, queries = split_last(replace(base, queries=[]), fraction)
    return history, queries, f"time split: the last {fraction:.0%} of each user's items ({len(queries)} queries)"


def _num(x: Any, digits: int = 4) -> Any:
    if isinstance(x, float):
        return None if not math.isfinite(x) else round(x, digits)
    return x


def metric_rows(result: EvalResult) -> list[dict[str, Any]]:
    """Return one row per method and baseline: the task's metrics, counts and token cost.

    Score tasks also get the metrics by the official LaMP rule (the only kind where the rules differ).
    """
    metrics = list(result.metric_names)
    rows = []
    for kind, table in (("method", result.methods), ("baseline", result.baselines)):
        for name, m in table.items():
            row: dict[str, Any] = {"system": name, "kind": kind}
            row.update({x: _num(m.get(x)) for x in metrics})
            if result.task_kind == "score":  # the official LaMP rule differs only for scores
                row.update({f"{x} (LaMP rule)": _num((m.get("lamp") or {}).get(x)) for x in metrics})
            row.update({x: _num(m.get(x), 1) for x in EXTRA_COLUMNS if x in m})
            rows.append(row)
    return rows


def per_query_rows(result: EvalResult, *, max_text: int = 60) -> list[dict[str, Any]]:
    """Return one row per query: id, user, gold and every method's / baseline's prediction."""
    rows = []
    for r in result.per_query:
        row: dict[str, Any] = {"id": r["id"], "user": r["user_id"], "gold": r["gold"]}
        for name, pred in (r.get("predictions") or {}).items():
            text = str(pred)
            row[name] = (text[: max_text - 1] + "…") if len(text) > max_text else text
            if name in (r.get("errors") or {}):
                row[name] = "⚠ " + row[name]
        for name, pred in (r.get("baselines") or {}).items():
            row[f"baseline:{name}"] = pred
        rows.append(row)
    return rows


def drill_target(ws: Workspace, result: EvalResult, query_id: str, method: str) -> dict[str, Any] | None:
    """Return what the step-by-step page needs to replay one evaluated query, or None when it cannot be found.

    Returns:
        ``{"dataset", "user", "pick", "query", "gold", "method", "k", "item_id"}``: ``pick`` is the
        query picker's key (``q:<id>`` for a dataset query, ``i:<id>`` for a held-out history item).
    """
    row = next((r for r in result.per_query if str(r["id"]) == str(query_id)), None)
    dataset_id = result.dataset
    if row is None or not dataset_id or not ws.has_dataset(dataset_id):
        return None
    user = row["user_id"]
    ds = ws.get_dataset(dataset_id, user_ids=[user])
    base = {"dataset": dataset_id, "user": user, "gold": row["gold"], "method": method, "k": result.k}
    for q in ds.queries:
        if q.id == row["id"]:
            return {**base, "pick": f"q:{q.id}", "query": q.input, "item_id": None}
    for u in ds.users:
        for it in u.items:
            if it.id == row["id"]:
                return {**base, "pick": f"i:{it.id}", "query": it.input, "item_id": it.id}
    return None


def configured_engine_run(client: LLMClient | None, embedder: Embedder, settings: Any, *,
                          environ: dict[str, str] | None = None) -> Any | None:
    """Return the engine the pages evaluate with, from ``$INFLOW_ENGINE`` and ``$INFLOW_RAY_ADDRESS``.

    ``INFLOW_ENGINE=ray`` runs each user's build and answering as a Ray task (``INFLOW_RAY_ADDRESS``:
    ``auto`` or ``ray://host:port``; unset starts a local Ray instance); unset or ``local`` returns
    None: the page answers query by query in the app's process, as always.

    Raises:
        core.errors.InputError: An unknown engine name, or limits that are not integers (variable named).
    """
    import os

    env = os.environ if environ is None else environ
    name = (env.get("INFLOW_ENGINE") or "local").strip().lower()
    if name == "local":
        return None
    engine = make_engine(name, address=env.get("INFLOW_RAY_ADDRESS") or None)
    return prepare_run(engine, client, embedder, settings, environ=dict(env))
