"""Cross-model portability (POPI): every writer's summary used by every answering model, on the same queries.

:func:`cross_model_evaluate` builds each user's profile once, has every writer model write each
user's summary (:func:`core.evaluate.portability.port_summary`), and has every answering model
answer each chosen query with reference methods (full history, BM25), the profile's own template
summary, and each writer's summary, scored like :func:`core.evaluate.harness.evaluate`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.embed.cached import CachedEmbedder
from core.errors import BackendError, InputError, Problem
from core.evaluate.baselines import BASELINE_NAMES, UserBaselines, global_majority, normalise_output
from core.evaluate.harness import (
    aggregate,
    backend_info,
    dataset_key,
    label_set,
    mark_failed,
    query_task,
    run_query,
    select_queries,
)
from core.evaluate.portability import port_summary, portability_summary
from core.methods.context import AnswerContext
from core.methods.registry import get_method
from core.metrics import METRICS
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings
from core.stages.summary import summary_token_report
from core.store.workspace import EVALUATION_SOURCE

TEMPLATE_SOURCE = "template"
"""The ``summary by`` name of the profile's own deterministic (template) summary: written by no model."""


def system_name(answerer: str, method: str, summary_by: str | None = None) -> str:
    """Return the table name of a cross-model system, e.g. ``"0.5b: summary by 1.5b"``.

    Examples:
        >>> system_name("0.5b", "bm25"), system_name("0.5b", "summary", "1.5b")
        ('0.5b: bm25', '0.5b: summary by 1.5b')
    """
    return f"{answerer}: {method}" + (f" by {summary_by}" if summary_by else "")


def cross_model_evaluate(ws: Any, dataset: Any, queries: Sequence[Any], *, answerers: Mapping[str, Any],
                         writers: Mapping[str, Any], embedder: Any, settings: Any = None,
                         methods: Sequence[str] = ("zero", "history", "bm25"), template_summary: bool = True,
                         limit_per_user: int | None = None, k: int = 4, baselines: bool = True,
                         progress: Callable[[int, int], None] | None = None,
                         cancel: Callable[[], bool] | None = None,
                         on_summary: Callable[[str, str, float], None] | None = None) -> dict[str, Any]:
    """Measure POPI's portability claim: every writer's summary used by every answering model.

    Each user's profile is built once (so every system sees the same factors, items and retrieval;
    pass deterministic ``settings`` to keep the build independent of the models), every writer
    writes each user's summary once (:func:`port_summary`), and each answering model answers every
    chosen query with ``methods`` (e.g. the full-history prompt and BM25), with the profile's own
    template summary, and with ``summary`` over each writer's summary. A query is answered by all
    systems before the next one starts, so a run stopped by ``cancel`` still covers the same queries
    for every system.

    Args:
        ws: The :class:`core.store.workspace.Workspace` (dataset, stage runs, LLM cache, traces).
        dataset: The history dataset.
        queries: Queries with golds; each ``user_id`` names a user of ``dataset``.
        answerers: ``{short name: client}`` of the models that answer.
        writers: ``{short name: client}`` of the models that write summaries (usually the same models,
            so each answerer meets its own summary and the others').
        embedder: The embedder (wrapped in the workspace's embedding cache).
        settings: :class:`core.stages.profile.PipelineSettings` of the profile builds.
        methods: Reference methods every answerer also runs (names of :mod:`core.methods.registry`).
        template_summary: Also answer with the profile's own deterministic summary (no writer).
        limit_per_user: Each user's first queries only (taken round-robin over users).
        k: History items retrieved per query.
        baselines: Also run the no-model baselines on the same queries.
        progress: ``progress(done, total)`` after each query.
        cancel: Checked before each query; True stops the run and keeps the finished queries.
        on_summary: ``on_summary(writer, user_id, seconds)`` after each summary is written.

    Returns:
        ``{"task", "task_kind", "task_spec", "labels", "dataset", "dataset_id", "metric_names", "k",
        "n", "n_planned", "n_users", "cancelled", "runtime_s", "answerers": {name: backend},
        "writers": {name: {"backend", "summaries": {user_id: port info + "seconds"},
        "failures": {user_id: message}, "summary_tokens_mean", "history_tokens_mean", "ratio_mean"}},
        "template": {user_id: token report}, "systems": {name: {"answerer", "method", "summary_by"}},
        "methods": {system: metrics}, "baselines": {name: metrics}, "per_query": [...]}`` with the
        per-query records and metrics of :func:`core.evaluate.harness.evaluate` keyed by system name.
        A writer that failed for a user leaves its systems with an error (prediction ``""``) on that
        user's queries; it is listed in ``failures``.

    Raises:
        core.errors.InputError: An unknown method, or a query whose user is not in the dataset.
    """
    t0 = time.perf_counter()
    settings = settings or PipelineSettings()
    method_objs = {m: get_method(m) for m in methods}
    summary_obj = get_method("summary")
    chosen = select_queries(queries, limit_per_user=limit_per_user, order="round_robin")
    users = {u.id: u for u in dataset.users}
    missing = sorted({q.user_id for q in chosen if q.user_id not in users})
    if missing:
        raise InputError(Problem(dataset.name, None, "user_id",
                                 f"queries name users without a history: {', '.join(missing[:5])}"))
    task = dataset.task
    emb = embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder, ws)
    dataset_id = dataset_key(dataset)
    if not ws.has_dataset(dataset_id):
        ws.add_dataset(dataset, dataset_id=dataset_id, source=EVALUATION_SOURCE)
    first = next(iter(answerers.values()))
    run_id = ws.start_run("eval", {"portability": True, "dataset_id": dataset_id, "methods": list(methods),
                                   "answerers": {a: backend_info(c, emb, None, None) for a, c in answerers.items()},
                                   "writers": {w: backend_info(c, emb, None, None) for w, c in writers.items()},
                                   "k": k, "limit_per_user": limit_per_user, "n_queries": len(chosen)},
                          dataset_id=dataset_id)
    majority = global_majority((u.items for u in dataset.users), task) if baselines else None
    systems: dict[str, dict[str, Any]] = {}
    for a in answerers:
        for m in methods:
            systems[system_name(a, m)] = {"answerer": a, "method": m, "summary_by": None}
        if template_summary:
            systems[system_name(a, "summary", TEMPLATE_SOURCE)] = {"answerer": a, "method": "summary",
                                                                   "summary_by": TEMPLATE_SOURCE}
        for w in writers:
            systems[system_name(a, "summary", w)] = {"answerer": a, "method": "summary", "summary_by": w}
    written: dict[str, dict[str, Any]] = {w: {"summaries": {}, "failures": {}} for w in writers}
    template: dict[str, dict[str, Any]] = {}
    profiles: dict[str, Any] = {}
    contexts: dict[tuple[str, str, str, tuple[str, ...]], AnswerContext] = {}
    bases: dict[tuple[str, tuple[str, ...]], UserBaselines] = {}
    per_query: list[dict[str, Any]] = []
    cancelled = False

    def context(uid: str, answerer: str, source: str, qtask: Any) -> AnswerContext:
        key = (uid, answerer, source, tuple(qtask.labels))
        if key not in contexts:
            profile = profiles[uid] if source == TEMPLATE_SOURCE else written[source]["profiles"][uid]
            contexts[key] = AnswerContext(task=qtask, profile=profile, client=answerers[answerer], embedder=emb,
                                          k=k, run_id=run_id)
        return contexts[key]

    try:
        for q in chosen:
            if cancel is not None and cancel():
                cancelled = True
                break
            uid = q.user_id
            if uid not in profiles:
                profiles[uid] = profile = build_profile(ws, dataset_id, uid, client=first, embedder=emb,
                                                        settings=settings)
                template[uid] = summary_token_report(profile.summary or "", profile.items)
                for w, wclient in writers.items():
                    ts = time.perf_counter()
                    try:
                        ported, info = port_summary(profile, wclient)
                    except BackendError as exc:  # reported per user; its systems show the error
                        written[w]["failures"][uid] = str(exc)
                        continue
                    info["seconds"] = round(time.perf_counter() - ts, 2)
                    written[w]["summaries"][uid] = info
                    written[w].setdefault("profiles", {})[uid] = ported
                    if on_summary is not None:
                        on_summary(w, uid, info["seconds"])
            qtask = query_task(task, q)
            rec: dict[str, Any] | None = None
            for a in answerers:
                runs: list[tuple[str, dict[str, Any]]] = [(TEMPLATE_SOURCE, {system_name(a, m): o for m, o in
                                                                             method_objs.items()})]
                if template_summary:
                    runs[0][1][system_name(a, "summary", TEMPLATE_SOURCE)] = summary_obj
                runs += [(w, {system_name(a, "summary", w): summary_obj}) for w in writers]
                for source, objs in runs:
                    if source != TEMPLATE_SOURCE and uid in written[source]["failures"]:
                        part = _failed(q, qtask, objs, written[source]["failures"][uid])
                    else:
                        ctx = context(uid, a, source, qtask)
                        base = None
                        if rec is None and baselines:
                            bkey = (uid, tuple(qtask.labels))
                            if bkey not in bases:
                                bases[bkey] = UserBaselines(qtask, profiles[uid].items, majority,
                                                            {"bm25": ctx.bm25_retriever(),
                                                             "feature": ctx.feature_retriever()}, k=k)
                            base = bases[bkey]
                        part = run_query(q, qtask, ctx, objs, base)
                    rec = part if rec is None else _merge(rec, part)
            if rec is not None:
                per_query.append(rec)
            if progress is not None:
                progress(len(per_query), len(chosen))
    except KeyboardInterrupt:
        cancelled = True
    ws.finish_run(run_id, "cancelled" if cancelled else "done")

    labels = label_set(task, dataset.users, chosen) if task.kind == "label" else None
    writer_out: dict[str, Any] = {}
    for w, wclient in writers.items():
        infos = list(written[w]["summaries"].values())
        agg = portability_summary(infos, backend_info(wclient, emb, None, None))
        writer_out[w] = {"backend": agg["source"], "summaries": written[w]["summaries"],
                         "failures": written[w]["failures"], "summary_tokens_mean": agg["summary_tokens_mean"],
                         "history_tokens_mean": agg["history_tokens_mean"], "ratio_mean": agg["ratio_mean"],
                         "seconds_mean": (sum(i["seconds"] for i in infos) / len(infos)) if infos else float("nan")}
    return {
        "task": task.name, "task_kind": task.kind, "task_spec": task.to_dict(), "labels": labels,
        "dataset": dataset.name, "dataset_id": dataset_id, "metric_names": list(METRICS[task.kind]), "k": k,
        "n": len(per_query), "n_planned": len(chosen), "n_users": len({r["user_id"] for r in per_query}),
        "cancelled": cancelled, "runtime_s": round(time.perf_counter() - t0, 2), "run_id": run_id,
        "answerers": {a: backend_info(c, emb, settings, None) for a, c in answerers.items()},
        "writers": writer_out, "template": template, "systems": systems,
        "methods": aggregate(task, per_query, list(systems), key="predictions", labels=labels),
        "baselines": aggregate(task, per_query, list(BASELINE_NAMES[task.kind]) if baselines else [],
                               key="baselines", labels=labels),
        "per_query": per_query,
    }


_RECORD_MAPS = ("predictions", "values", "raw", "rescued", "tokens", "tokens_out", "latency_ms", "errors", "baselines")


def _merge(rec: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """Fold one query's record of some systems into the query's record of the others."""
    for key in _RECORD_MAPS:
        rec.setdefault(key, {}).update(part.get(key, {}))
    return rec


def _failed(q: Any, task: Any, systems: Mapping[str, Any], message: str) -> dict[str, Any]:
    """A query record in which every system failed with ``message`` (their summary was never written)."""
    rec: dict[str, Any] = {"id": q.id, "user_id": q.user_id, "gold": normalise_output(q.gold or "", task),
                           **{key: {} for key in _RECORD_MAPS}}
    for name in systems:
        mark_failed(rec, name, f"the summary was not written: {message}")
    return rec
