"""The method-comparison harness: run answering methods and no-model baselines on queries, score them.

:func:`evaluate` takes a history dataset and queries with known golds, and for each query's user

1. builds (or reuses, through the workspace's stage runs and caches) the user's profile from that
   user's history with :func:`core.stages.pipeline.build_profile`. In the LaMP format every question
   is its own user holding the question's profile; with :func:`core.data.model.split_last` a
   user's queries share the profile built from the earlier items;
2. runs every method (:mod:`core.methods.registry`) on every query, and the baselines of
   :mod:`core.evaluate.baselines`;
3. scores predictions with the LaMP metrics (:mod:`core.metrics`).

A method's prediction is its parsed answer (``Answer.value``: the in-range score or the matched
label) when it has one, else its raw text, which the metrics then count as wrong (labels) or as
the farther score bound (scores). Beside it each query keeps the method's raw completion
(``raw``: the whole text the model returned for the final call) and whether the prediction is a
*parse rescue* (``rescued``: the parser had to change the model's answer to get it, e.g. ``"4 stars"``
-> ``4``, ``"comedy."`` -> ``comedy``, ``"The user's response: hi"`` -> ``hi``); each method counts its
``rescues``. Every system is scored twice, by Inflow's rule and by the official LaMP evaluator's
(``"lamp"`` inside each system's metrics; see :mod:`core.metrics`). A method that fails
on a query (e.g. the endpoint gave up) predicts ``""`` for it; the failure is listed in
``per_query[i]["errors"]`` and counted in the method's ``errors``.

A query may narrow the label set of a label task with ``meta["labels"]`` (the MovieLens tagging
proxy gives each user their own tags); macro-F1 still runs over the task's whole label set.

The result (an :class:`~core.evaluate.result.EvalResult`) is stored as an eval run in the workspace and can be exported
with :func:`export_json` and :func:`export_csv`.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from core.data.model import Dataset, Query, Task, User
from core.embed.base import Embedder
from core.embed.cached import CachedEmbedder
from core.errors import Cancelled, InputError, Problem
from core.evaluate.baselines import BASELINE_NAMES, UserBaselines, format_score, global_majority, normalise_output
from core.evaluate.faithfulness import probe, summarize
from core.evaluate.portability import port_summary, portability_summary
from core.evaluate.result import EvalResult
from core.llm.client import LLMClient
from core.methods.context import AnswerContext
from core.methods.pool_store import load_pool
from core.methods.registry import get_method
from core.metrics import METRICS, SCORINGS, metrics_for
from core.stages.pipeline import build_profile, load_profile
from core.stages.profile import PipelineSettings
from core.store.workspace import EVALUATION_SOURCE, Workspace, stable_hash

OPEN_USERS = 8  # users whose profile and retrievers stay in memory (round-robin runs revisit them)



class UserEngine(Protocol):
    """Runs an evaluation's users as units of work (:class:`core.engine.base.EngineRun` is one).

    A protocol here, so the harness does not import the engines, whose workers call back into
    :func:`answer_user_queries`.
    """

    report: Any
    """What the last run did (``outcomes`` with each user's ``records``, ``cancelled``, ``to_dict()``)."""

    def answer_users(self, ws: Workspace, dataset_id: str, queries: Mapping[str, Sequence[Query]],
                     eval_params: dict[str, Any], *, cancel: CancelCheck | None = None) -> Any:
        """Answer each user's queries (see :meth:`core.engine.base.EngineRun.answer_users`); return the report."""
        ...


EvalProgress = Callable[[int, int], None]
"""``progress(done, total)``: queries finished so far, out of all."""

CancelCheck = Callable[[], bool]
"""Returns True when the caller wants the run stopped (finished queries are kept)."""


class _UserState:
    """One user's built profile, pool and answer contexts (one per label set) during a run."""

    def __init__(self, profile: Any, pool: Any) -> None:
        self.profile = profile
        self.pool = pool
        self.contexts: dict[tuple[str, ...], tuple[AnswerContext, UserBaselines | None]] = {}


def dataset_key(dataset: Dataset) -> str:
    """Return the workspace dataset id an evaluation stores ``dataset`` under (content-addressed).

    The same histories always get the same id, so stage runs and LLM calls are reused across runs.
    """
    return f"{dataset.name}-{stable_hash(dataset.to_dict())[:10]}"


def select_queries(queries: Sequence[Query], *, limit: int | None = None, limit_per_user: int | None = None,
                   order: str = "user") -> list[Query]:
    """Return the queries to run: the first ``limit_per_user`` of each user, then the first ``limit`` overall.

    Queries without a gold are skipped. ``order="user"`` keeps each user's queries together (users
    in order of first appearance, queries in their given order); ``order="round_robin"`` takes
    every user's first query, then every user's second one, and so on, so a run stopped early
    covers all users evenly.

    Raises:
        ValueError: Unknown ``order``.
    """
    if order not in ("user", "round_robin"):
        raise ValueError(f"order must be 'user' or 'round_robin', got {order!r}")
    per_user: dict[str, list[Query]] = {}
    for q in queries:
        if q.gold is None:
            continue
        mine = per_user.setdefault(q.user_id, [])
        if limit_per_user is None or len(mine) < limit_per_user:
            mine.append(q)
    if order == "user":
        out = [q for mine in per_user.values() for q in mine]
    else:
        depth = max((len(m) for m in per_user.values()), default=0)
        out = [mine[i] for i in range(depth) for mine in per_user.values() if i < len(mine)]
    return out[:limit] if limit is not None else out


def _prediction(task: Task, text: str, value: Any) -> str:
    if value is None:
        return (text or "").strip()
    if task.kind == "score":
        try:
            return format_score(float(value))
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def is_rescue(task: Task, text: str, value: Any) -> bool:
    """Tell whether a parsed answer differs from the model's answer text (the parser rescued it).

    A schema-constrained answer is the ``answer`` field of the call, so it is only a rescue when
    even that had to be changed; a score counts as unchanged when the text reads as the same number.

    Examples:
        >>> t = Task(kind="score")
        >>> is_rescue(t, "4", 4.0), is_rescue(t, "4 stars", 4.0), is_rescue(t, "seven", None)
        (False, True, False)
    """
    if value is None:
        return False
    said = (text or "").strip()
    if task.kind == "score":
        try:
            return float(said) != float(value)
        except (TypeError, ValueError):
            return True
    return said != str(value).strip()


def raw_completion(answer: Any) -> str:
    """Return the whole completion of a method's final model call (``""`` when it made none)."""
    for step in reversed(answer.trace.steps):
        if step.kind in ("llm", "rewrite"):
            raw = step.detail.raw
            return str(raw if raw is not None else step.output or "")
    return ""


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def label_set(task: Task, users: Sequence[User], queries: Sequence[Query]) -> list[str]:
    """Return the label set macro-F1 runs over: the task's, else every label seen in histories and golds."""
    if task.labels:
        return list(task.labels)
    seen = [normalise_output(it.output, task) for u in users for it in u.items]
    seen += [normalise_output(q.gold or "", task) for q in queries]
    return list(dict.fromkeys(s for s in seen if s))


def query_task(task: Task, query: Query) -> Task:
    """Return the task a query is answered under (a label query with its own label set gets those labels)."""
    labels = query.meta.get("labels") if task.kind == "label" else None
    if labels:
        return replace(task, labels=tuple(str(x) for x in labels))
    return task


def backend_info(client: LLMClient | None, embedder: Embedder, settings: PipelineSettings | None,
                 profile_settings: dict[str, Any] | None) -> dict[str, Any]:
    """Return what an evaluation ran on: backend, model, capabilities, embedder, stage settings (no key)."""
    info: dict[str, Any] = {}
    if client is not None:
        caps = client.capabilities
        info.update({"kind": caps.backend, "model": caps.model, "structured_output": caps.structured_output,
                     "free_text_quality": caps.free_text_quality})
    else:
        info.update({"kind": None, "model": None})
    info["embedder"] = getattr(embedder, "name", str(embedder))
    if settings is not None and hasattr(settings, "to_dict"):
        info["pipeline"] = settings.to_dict()
    if profile_settings:
        for key, name in (("extractor_kind", "extractor"), ("paths_kind", "paths")):
            if key in profile_settings:
                info[name] = profile_settings[key]
    return info


def aggregate(task: Task, per_query: list[dict[str, Any]], systems: Sequence[str], *, key: str,
              labels: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """Score every system's predictions over the finished queries.

    Args:
        task: The task.
        per_query: Per-query records (see :func:`evaluate`).
        systems: Method or baseline names.
        key: ``"predictions"`` (methods) or ``"baselines"``.
        labels: Label set for label tasks.

    Returns:
        ``{system: {metric: value, ..., "n": count, "lamp": {metric: value, ...}}}`` (``lamp``: the
        same predictions under the official LaMP rules); methods also get ``prompt_tokens_mean``,
        ``prompt_tokens_median``, ``latency_ms_mean``, ``errors``, ``unparsed`` and ``rescues``.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in systems:
        rows = [r for r in per_query if name in r.get(key, {})]
        preds = [r[key][name] for r in rows]
        golds = [r["gold"] for r in rows]
        m: dict[str, Any] = dict(metrics_for(task, preds, golds, labels=labels)) if rows else {
            metric: math.nan for metric in METRICS[task.kind]}
        m["n"] = len(rows)
        m["lamp"] = dict(metrics_for(task, preds, golds, labels=labels, scoring="lamp")) if rows else {
            metric: math.nan for metric in METRICS[task.kind]}
        if key == "predictions":
            toks = sorted(r["tokens"].get(name, 0) for r in rows)
            lat = [r["latency_ms"].get(name, 0.0) for r in rows]
            m["prompt_tokens_mean"] = float(sum(toks) / len(toks)) if toks else math.nan
            m["prompt_tokens_median"] = float(_median(toks)) if toks else math.nan
            m["latency_ms_mean"] = float(sum(lat) / len(lat)) if lat else math.nan
            m["errors"] = sum(1 for r in rows if name in r.get("errors", {}))
            m["unparsed"] = sum(1 for r in rows if r["values"].get(name) is None)
            m["rescues"] = sum(1 for r in rows if r.get("rescued", {}).get(name))
        out[name] = m
    return out


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def evaluate(ws: Workspace, dataset: Dataset, queries: Sequence[Query], *, methods: Sequence[str],
             client: LLMClient | None, embedder: Embedder, settings: PipelineSettings | None = None,
             limit: int | None = None, limit_per_user: int | None = None, k: int = 4, baselines: bool = True,
             progress: EvalProgress | None = None,
             cancel: CancelCheck | None = None, store: bool = True, order: str = "user",
             profile_progress: Callable[[str, str, int, int], None] | None = None,
             engine: UserEngine | None = None, scoring: str = "inflow", faithfulness: bool = False,
             summary_client: LLMClient | None = None,
             answer_progress: Callable[[int, int, str], None] | None = None,
             method_progress: Callable[[int, int, str], None] | None = None) -> EvalResult:
    """Run methods and baselines on queries and score them with the LaMP metrics.

    Args:
        ws: Workspace: holds the dataset, stage runs, LLM cache, traces and the eval run.
        dataset: The history dataset (its users' items are the histories; queries are not read from it).
        queries: The queries with golds; each ``user_id`` must name a user of ``dataset``.
        methods: Method names (see :data:`core.methods.registry.METHOD_NAMES`).
        client: The LLM client every call goes through.
        embedder: The embedder (wrapped in the workspace's embedding cache).
        settings: :class:`core.stages.profile.PipelineSettings` for the profile builds (None: defaults).
        limit: Run at most this many queries (after ``limit_per_user``), in the given order.
        limit_per_user: Run at most this many queries per user (each user's first ones).
        k: History items / pool entries retrieved per query (methods and kNN baselines).
        baselines: Also run the no-model baselines.
        progress: ``progress(done, total)`` after each query.
        cancel: Checked before each query; True stops the run and keeps the finished queries. A
            :class:`core.errors.Cancelled` raised mid-query (a client that refuses calls after a
            cancel) stops it the same way: the query in flight is dropped, never scored as a failure.
        store: Store the result as an eval run (its id is returned as ``result.eval_id``).
        profile_progress: ``profile_progress(user_id, stage, done, total)`` while profiles build.
        answer_progress: ``answer_progress(done, total, method)`` before each method answers a query:
            answers finished so far, out of queries times methods (so a display moves while methods
            answer, not only between queries). Not called with an ``engine``.
        method_progress: ``(done, total, label)`` from inside one answer (``rpm`` fitting a user's
            decision rule; :attr:`core.methods.context.AnswerContext.progress`). Not with an ``engine``.
        order: ``"user"`` (each user's queries together) or ``"round_robin"`` (see :func:`select_queries`).
        engine: Run each user's build and answering as one unit of an engine (e.g. a Ray task per user,
            see :mod:`core.engine`); ``progress`` then counts the queries of finished users, and
            ``profile_progress`` is not called. None: query by query in this process.
        scoring: Which scoring the text table leads with (``"inflow"`` or ``"lamp"``); both are computed.
        faithfulness: Also probe every answer's evidence (:mod:`core.evaluate.faithfulness`): up to six
            more answers per method and query; per query in ``faithfulness``, aggregated in
            ``result.faithfulness``.
        summary_client: Portability (POPI): the client of another model that writes every user's summary
            (:func:`core.evaluate.portability.port_summary`); ``client`` answers with it. Described in
            ``result.portability``. Not with an ``engine`` (the ported summaries are written in
            this process).

    Returns:
        The :class:`~core.evaluate.result.EvalResult` (``eval_id`` set when stored; ``faithfulness``,
        ``portability`` and ``engine`` when asked for). Metrics are NaN (``null`` in JSON) for a
        system with no finished query.

    Raises:
        core.errors.InputError: An unknown method, a query whose user is not in the dataset, or an engine
            together with ``summary_client``.
    """
    if engine is not None and summary_client is not None:
        raise InputError(Problem("summary_backend", None, None, "a summary written by another model (portability) "
                                 "is measured on the local engine only: drop the engine or the summary backend"))
    if scoring not in SCORINGS:
        raise InputError(Problem("arguments", None, "scoring", f"--scoring must be one of {', '.join(SCORINGS)}"))
    t0 = time.perf_counter()
    method_objs = {name: get_method(name) for name in methods}
    chosen = select_queries(queries, limit=limit, limit_per_user=limit_per_user, order=order)
    users = {u.id: u for u in dataset.users}
    missing = sorted({q.user_id for q in chosen if q.user_id not in users})
    if missing:
        raise InputError(Problem(dataset.name, None, "user_id",
                                 f"queries name users without a history: {', '.join(missing[:5])}"))
    settings = settings or PipelineSettings()
    task = dataset.task
    emb = embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder, ws)
    dataset_id = dataset_key(dataset)
    if not ws.has_dataset(dataset_id):
        ws.add_dataset(dataset, dataset_id=dataset_id, source=EVALUATION_SOURCE)
    params = {"dataset": dataset.name, "dataset_id": dataset_id, "task": task.to_dict(), "methods": list(methods),
              "k": k, "limit": limit, "limit_per_user": limit_per_user, "n_queries": len(chosen),
              "settings": settings.to_dict() if hasattr(settings, "to_dict") else None,
              "embedder": emb.name, "backend": backend_info(client, emb, None, None), "faithfulness": faithfulness,
              "summary_from": backend_info(summary_client, emb, None, None) if summary_client is not None else None}
    # The run protocol closes the eval run on every exit path: a backend error marks it failed (it
    # used to stay "running"); an interrupt is caught in the loop and ends as a cancelled, partial result.
    with ws.run("eval", params, dataset_id=dataset_id) as run:
        run_id = run.id
        majority = global_majority((u.items for u in dataset.users), task) if baselines else None
        baseline_names = list(BASELINE_NAMES[task.kind]) if baselines else []

        per_query: list[dict[str, Any]] = []
        profile_settings: dict[str, Any] | None = None
        users_open: OrderedDict[str, _UserState] = OrderedDict()  # a few users' profiles and retrievers, LRU
        cancelled = False
        ported: dict[str, dict[str, Any]] = {}
        total = len(chosen)
        try:
            if engine is not None:  # one unit of work per user, spread by the engine (see core.engine)
                per_query, cancelled, profile_settings = _run_on_engine(
                    engine, ws, dataset_id, chosen, methods, k, baselines, majority, run_id, cancel, progress,
                    faithfulness)
            for q in ([] if engine is not None else chosen):  # the local, query-by-query path
                if cancel is not None and cancel():
                    cancelled = True
                    break
                state = users_open.get(q.user_id)
                if state is None:

                    def on_stage(stage: str, done: int, n: int, _uid: str = q.user_id) -> None:
                        if profile_progress is not None:
                            profile_progress(_uid, stage, done, n)

                    profile = build_profile(ws, dataset_id, q.user_id, client=client, embedder=emb, settings=settings,
                                            progress=on_stage)
                    profile_settings = profile_settings or dict(profile.settings)
                    if summary_client is not None:  # the summary another model wrote replaces the user's own
                        profile, ported[q.user_id] = port_summary(profile, summary_client)
                    state = _UserState(profile, load_pool(ws, dataset_id, q.user_id))
                    users_open[q.user_id] = state
                    while len(users_open) > OPEN_USERS:
                        users_open.popitem(last=False)
                users_open.move_to_end(q.user_id)
                qtask = query_task(task, q)
                ctx, base = _contexts(state, qtask, client, emb, k, run_id, majority, baselines,
                                      progress=method_progress)
                on_method = None
                if answer_progress is not None:
                    answered, n_answers = len(per_query) * len(method_objs), total * len(method_objs)

                    def on_method(i: int, name: str, _base: int = answered, _n: int = n_answers) -> None:
                        answer_progress(_base + i, _n, name)

                per_query.append(run_query(q, qtask, ctx, method_objs, base, faithfulness=faithfulness,
                                            on_method=on_method))
                if answer_progress is not None:
                    answer_progress(len(per_query) * len(method_objs), total * len(method_objs), "")
                if progress is not None:
                    progress(len(per_query), total)
        except (KeyboardInterrupt, Cancelled):  # a cancel inside a query drops that query, keeps the rest
            cancelled = True

        labels = label_set(task, dataset.users, chosen) if task.kind == "label" else None
        result = EvalResult(
            task=task.name, task_kind=task.kind, task_spec=task.to_dict(), labels=labels,
            dataset=dataset.name, dataset_id=dataset_id,
            n=len(per_query), n_planned=total, n_users=len({r["user_id"] for r in per_query}),
            backend=backend_info(client, emb, settings, profile_settings), k=k,
            metric_names=list(METRICS[task.kind]),
            methods=aggregate(task, per_query, list(methods), key="predictions", labels=labels),
            baselines=aggregate(task, per_query, baseline_names, key="baselines", labels=labels),
            per_query=per_query, cancelled=cancelled, runtime_s=round(time.perf_counter() - t0, 2),
            run_id=run_id, scoring=scoring,
        )
        if engine is not None and engine.report is not None:
            result.engine = engine.report.to_dict()
        if summary_client is not None:
            result.portability = portability_summary(list(ported.values()), params["summary_from"])
        if faithfulness:
            result.faithfulness = summarize(per_query, list(methods))
        run.status = "cancelled" if cancelled else "done"
    if store:  # stored without its own id, as always
        result.eval_id = ws.add_eval_run(params, result.to_dict())
    return result


def _contexts(state: _UserState, qtask: Task, client: LLMClient | None, emb: Embedder, k: int, run_id: str | None,
              majority: str | None, baselines: bool,
              progress: Callable[[int, int, str], None] | None = None) -> tuple[AnswerContext, UserBaselines | None]:
    """Return (creating once per label set) a user's answer context and baselines for a query's task.

    ``progress`` becomes the context's :attr:`~core.methods.context.AnswerContext.progress`.
    """
    key = tuple(qtask.labels)
    if key not in state.contexts:
        ctx = AnswerContext(task=qtask, profile=state.profile, client=client, embedder=emb, k=k,
                            run_id=run_id, pool=state.pool, progress=progress)
        base = None
        if baselines:
            retrievers = {"bm25": ctx.bm25_retriever(), "feature": ctx.feature_retriever()}
            base = UserBaselines(qtask, state.profile.items, majority, retrievers, k=k)
        state.contexts[key] = (ctx, base)
    return state.contexts[key]


def answer_user_queries(ws: Workspace, dataset_id: str, user_id: str, queries: Sequence[Query], *,
                        methods: Sequence[str], client: LLMClient | None, embedder: Embedder,
                        settings: PipelineSettings, k: int, baselines: bool,
                        majority: str | None, run_id: str | None,
                        cancel: CancelCheck | None = None, faithfulness: bool = False) -> list[dict[str, Any]]:
    """Build (or reuse) one user's profile and answer their queries: an engine's unit of evaluation work.

    Returns:
        One per-query record per answered query (see :func:`evaluate`), in the given order.
    """
    emb = embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder, ws)
    task = ws.get_dataset(dataset_id, user_ids=[]).task
    method_objs = {name: get_method(name) for name in methods}
    profile = build_profile(ws, dataset_id, user_id, client=client, embedder=emb, settings=settings)
    state = _UserState(profile, load_pool(ws, dataset_id, user_id))
    records = []
    for q in queries:
        if cancel is not None and cancel():
            break
        qtask = query_task(task, q)
        ctx, base = _contexts(state, qtask, client, emb, k, run_id, majority, baselines)
        records.append(run_query(q, qtask, ctx, method_objs, base, faithfulness=faithfulness))
    return records


def _run_on_engine(run: UserEngine, ws: Workspace, dataset_id: str, chosen: list[Query], methods: Sequence[str],
                   k: int, baselines: bool, majority: str | None, run_id: str, cancel: CancelCheck | None,
                   progress: EvalProgress | None,
                   faithfulness: bool = False) -> tuple[list[dict[str, Any]], bool, dict[str, Any] | None]:
    """Answer each user's queries as one engine unit; return the records (in query order), cancelled, settings.

    The engine's report is left in ``run.report`` (users that failed are listed there with the reason).
    """
    by_user: dict[str, list[Query]] = {}
    for q in chosen:
        by_user.setdefault(q.user_id, []).append(q)
    report = run.answer_users(ws, dataset_id, by_user, {"methods": list(methods), "k": k, "baselines": baselines,
                                                        "majority": majority, "run_id": run_id,
                                                        "faithfulness": faithfulness}, cancel=cancel)
    by_id = {(r["id"], r["user_id"]): r for o in report.outcomes for r in o.records}
    records = [by_id[q.id, q.user_id] for q in chosen if (q.id, q.user_id) in by_id]
    if progress is not None:
        progress(len(records), len(chosen))
    done = next((o.user_id for o in report.outcomes if o.status == "done"), None)
    profile = load_profile(ws, dataset_id, done) if done is not None else None
    cancelled = report.cancelled or any(o.status == "cancelled" for o in report.outcomes)
    return records, cancelled, dict(profile.settings) if profile is not None else None


def mark_failed(rec: dict[str, Any], system: str, message: str, *, latency_ms: float = 0.0) -> None:
    """Record in a query's record that ``system`` gave no answer, with why (scored as an error)."""
    rec["predictions"][system] = ""
    rec["values"][system] = None
    rec["raw"][system] = ""
    rec["rescued"][system] = False
    rec["tokens"][system] = 0
    rec["tokens_out"][system] = 0
    rec["latency_ms"][system] = latency_ms
    rec["errors"][system] = message


def run_query(q: Query, task: Task, ctx: AnswerContext, methods: dict[str, Any],
              base: UserBaselines | None, *, faithfulness: bool = False,
              on_method: Callable[[int, str], None] | None = None) -> dict[str, Any]:
    """Answer one query with every method (and the baselines) and return its per-query record.

    A failing method is recorded as an error (:func:`mark_failed`), never stops the evaluation (a
    :class:`core.errors.Cancelled` is no failure: it propagates); ``on_method(i, name)`` is called
    before each method answers.
    """
    gold = normalise_output(q.gold or "", task)
    rec: dict[str, Any] = {"id": q.id, "user_id": q.user_id, "gold": gold, "predictions": {}, "values": {},
                           "raw": {}, "rescued": {}, "tokens": {}, "tokens_out": {}, "latency_ms": {}, "errors": {},
                           "baselines": {}}
    for i, (name, method) in enumerate(methods.items()):
        if on_method is not None:
            on_method(i, name)
        t0 = time.perf_counter()
        try:
            ans = method.answer(q.input, ctx)
        except Cancelled:  # the user stopped the evaluation: not this method's failure
            raise
        except Exception as exc:  # one failing method must not stop a long evaluation
            mark_failed(rec, name, f"{type(exc).__name__}: {exc}",
                        latency_ms=round((time.perf_counter() - t0) * 1000.0, 1))
            continue
        rec["predictions"][name] = _prediction(task, ans.text, ans.value)
        rec["values"][name] = _json_value(ans.value)
        rec["raw"][name] = raw_completion(ans)
        rec["rescued"][name] = is_rescue(task, ans.text, ans.value)
        if faithfulness:
            try:
                rec.setdefault("faithfulness", {})[name] = probe(method, q.input, ctx, ans)
            except Cancelled:
                raise
            except Exception as exc:  # a failed probe is reported, the query's scores stand
                rec.setdefault("faithfulness", {})[name] = {"error": f"{type(exc).__name__}: {exc}"}
        rec["tokens"][name] = int(ans.trace.tokens_in)
        rec["tokens_out"][name] = int(ans.trace.tokens_out)
        rec["latency_ms"][name] = round((time.perf_counter() - t0) * 1000.0, 1)
    if base is not None:
        for name, b in base.predict(q.input).items():
            rec["baselines"][name] = b["prediction"]
    return rec


def export_json(result: EvalResult, path: str | Path) -> None:
    """Write an evaluation result as JSON (NaN metrics become ``null``)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(_nan_to_none(result.to_dict()), ensure_ascii=False, indent=2), encoding="utf-8")


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


CSV_COLUMNS = ("id", "user_id", "gold", "system", "kind", "prediction", "value", "prompt_tokens", "latency_ms",
               "error", "raw", "rescued")


def export_csv(result: EvalResult, path: str | Path) -> None:
    """Write per-query predictions as CSV: one row per (query, method or baseline), see :data:`CSV_COLUMNS`."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for r in result.per_query:
            for name, pred in r["predictions"].items():
                w.writerow([r["id"], r["user_id"], r["gold"], name, "method", pred, r["values"].get(name),
                            r["tokens"].get(name), r["latency_ms"].get(name), r["errors"].get(name, ""),
                            r.get("raw", {}).get(name, ""), r.get("rescued", {}).get(name, "")])
            for name, pred in r.get("baselines", {}).items():
                w.writerow([r["id"], r["user_id"], r["gold"], name, "baseline", pred, "", "", "", "", "", ""])


def export_metrics_csv(result: EvalResult, path: str | Path) -> None:
    """Write the metric table as CSV: one row per method and baseline."""
    metrics = list(result.metric_names)
    extra = ["n", "prompt_tokens_mean", "prompt_tokens_median", "latency_ms_mean", "errors", "unparsed", "rescues"]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["system", "kind", *metrics, *[f"lamp:{x}" for x in metrics], *extra])
        for kind, table in (("method", result.methods), ("baseline", result.baselines)):
            for name, m in table.items():
                lamp = m.get("lamp") or {}
                w.writerow([name, kind, *[m.get(x) for x in metrics], *[lamp.get(x) for x in metrics],
                            *[m.get(x, "") for x in extra]])


def format_table(result: EvalResult) -> str:
    """Render the metric table as aligned text (methods, then baselines).

    The metrics are those of ``result.scoring`` (``inflow`` or ``lamp``); the other scoring
    follows in columns marked with its name.
    """
    metrics = list(result.metric_names)
    lead = result.scoring
    other = next(x for x in SCORINGS if x != lead)
    head = ["system", *metrics, *[f"{x} ({other})" for x in metrics], "n", "tokens/query", "errors", "rescues"]
    rows = []
    for kind, table in (("", result.methods), ("baseline: ", result.baselines)):
        for name, m in table.items():
            by = {"inflow": m, "lamp": m.get("lamp") or {}}
            vals = [_fmt(by[lead].get(x)) for x in metrics] + [_fmt(by[other].get(x)) for x in metrics]
            toks = _fmt(m.get("prompt_tokens_mean"), 0) if "prompt_tokens_mean" in m else "-"
            errs = str(m.get("errors", "-"))
            rows.append([kind + name, *vals, str(m.get("n", "")), toks, errs, str(m.get("rescues", "-"))])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=False)]
    lines = ["  ".join(str(c).ljust(wd) for c, wd in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * wd for wd in widths))
    lines += ["  ".join(str(c).ljust(wd) for c, wd in zip(r, widths, strict=True)) for r in rows]
    b = result.backend
    lines.append(f"task {result.task}, n={result.n} queries ({result.n_users} users), backend "
                 f"{b.get('kind')} / {b.get('model')}, embedder {b.get('embedder')}, scored by the {lead} rule "
                 f"(other columns: the {other} rule)")
    return "\n".join(lines)


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)
