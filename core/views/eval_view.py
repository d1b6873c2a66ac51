"""Evaluation for the pages: what to evaluate, metric tables, per-query rows and drill-down targets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from core.data.model import Dataset, Query, split_last
from core.embed.base import Embedder
from core.engine import make_engine, prepare_run
from core.evaluate.harness import UserEngine, evaluate, select_queries
from core.evaluate.result import EvalResult
from core.llm.client import LLMClient, activity_note, stats_snapshot
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from core.views.jobs import CancelGuard, Job
from core.views.progress import BUILD_STAGES, nested_reporter

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


def plan_text(queries: Sequence[Query], how: str, *, limit_per_user: int | None) -> str:
    """Say what an evaluation will answer, e.g. ``"5 queries (1 per user, of 110 in the time split: …)"``.

    Why: the held-out split's size is not what runs when a per-user limit applies; a label saying
    "110 queries" for a run of 5 misled.
    """
    n = len(select_queries(queries, limit_per_user=limit_per_user))
    head = f"{n} quer{'y' if n == 1 else 'ies'}"
    if n == len(queries):
        return f"{head} ({how})"
    return f"{head} (at most {limit_per_user} per user, of {how})"


def start_eval_job(ws: Workspace, history: Dataset, queries: Sequence[Query], *, methods: Sequence[str],
                   client: LLMClient, embedder: Embedder, settings: PipelineSettings, limit_per_user: int,
                   k: int, faithfulness: bool = False, engine_run: UserEngine | None = None) -> Job:
    """Run :func:`core.evaluate.harness.evaluate` in a background job with stage-by-stage progress.

    The job's tracker counts answers (queries times methods) in its ``answering`` stage, moving as
    each method answers, with an estimate from the measured rate; while a user's profile builds,
    that build's stages show as its nested progress. With an engine (Ray), the stage counts users
    and carries the engine's one-line status. ``rpm`` fitting a user's decision rule (inside that
    user's first rpm answer) shows as a nested part. Cancel refuses the next model call (in this
    process; an engine stops before its next user): the query in flight is dropped, the finished
    ones are kept. The result is the evaluation result dict.
    """
    methods = list(methods)

    def work(job: Job) -> EvalResult:
        # the engine's workers use their own clients; in this process every call goes through the guard
        guarded = CancelGuard(client, job.cancelled) if client is not None and engine_run is None else client
        base = stats_snapshot(client)
        job.tracker.live_note = lambda: activity_note(client, base)
        building: dict[str, Any] = {}
        current = [""]  # the method answering, named in a nested part's title

        def on_profile(uid: str, stage: str, done: int, total: int) -> None:
            if building.get("user") != uid:
                building["user"] = uid
                building["tracker"] = job.tracker.nest(f"Building the profile of {uid}", BUILD_STAGES)
            building["tracker"].update(stage, done, total)

        def on_answer(done: int, total: int, method: str) -> None:
            if building:
                job.tracker.end_nested()
                building.clear()
            current[0] = method or current[0]
            job.report(done, total, f"Answering with {method}" if method else "Answering", stage="answering")

        if engine_run is not None:  # progress over users: done / failed / calls / cache hits / calls per second
            engine_run.progress = lambda p: job.tracker.update("answering", p.finished, p.total, unit="users",
                                                               text=f"{engine_run.engine.name}: {p.line()}")
        return evaluate(ws, history, queries, methods=methods, client=guarded, embedder=embedder, settings=settings,
                        limit_per_user=int(limit_per_user), k=int(k), cancel=job.cancelled,
                        profile_progress=on_profile, answer_progress=on_answer, engine=engine_run,
                        faithfulness=bool(faithfulness),
                        method_progress=nested_reporter(job.tracker, lambda: f"Answering with {current[0]}"))

    return Job(work, "evaluation", ("answering",)).start()


def finished_text(result: EvalResult) -> str:
    """Say how an evaluation ended: ``"Evaluated 1 query in 3.2 s."`` or the cancelled count kept."""
    n, planned = int(result.n or 0), int(result.n_planned or 0)
    if result.cancelled:
        return f"Cancelled: {n} of {planned} quer{'y' if planned == 1 else 'ies'} finished and were kept."
    return f"Evaluated {n} quer{'y' if n == 1 else 'ies'} in {float(result.runtime_s or 0):.1f} s."
