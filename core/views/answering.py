"""Answer a query with one method or all of them, score it against the true response, ablate it.

The one policy for recording an answer, used by the pages and by ``python -m core answer`` /
``ablate``: an ``answer`` run (parents: the profile's stage runs) whose LLM calls carry its id, with
the answer and trace stored as its ``answer`` artifact, so traces can be exported later; an
ablation is an ``ablation`` run (parent: the answer run it ablates, when there is one) with its
results stored as its ``ablation`` artifact. Both are opened with :meth:`Workspace.run`, so a failing
method leaves its run ``failed``, never ``running``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.data.model import Task
from core.embed.base import Embedder
from core.errors import Cancelled, InputError
from core.llm.client import LLMClient
from core.methods.ablation import AblationResult, ablate, ablate_all_factors
from core.methods.context import AnswerContext, PoolEntry
from core.methods.pool_store import load_pool
from core.methods.registry import get_method
from core.methods.types import Answer
from core.metrics import parse_score, score_value, text_metrics
from core.stages.profile import Profile
from core.store.workspace import Workspace


@dataclass
class AnswerRecord:
    """One answered query as the pages keep it.

    Attributes:
        method: Method name.
        query: The query text.
        answer: The answer with its trace.
        run_id: The workspace ``answer`` run.
        gold: The true response, when known.
        error: See :func:`answer_error` (None without a gold).
        run_label: The run's readable label (``answer-003``), shown instead of its id.
    """

    method: str
    query: str
    answer: Answer
    run_id: str | None
    gold: str | None = None
    error: dict[str, Any] | None = field(default=None)
    run_label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"method": self.method, "query": self.query, "run_id": self.run_id, "run_label": self.run_label,
                "gold": self.gold, "error": self.error, **self.answer.to_dict()}


def answer_error(task: Task, text: str, gold: str | None) -> dict[str, Any] | None:
    """Score one answer against the true response the way LaMP's metrics do.

    Returns:
        ``None`` without a gold; scores: ``{"abs_error", "parsed"}`` (an unparsable answer counts as the
        farther end of the scale, as in LaMP); labels: ``{"correct"}``; text: ``{"rouge-1", "rouge-l"}``.
    """
    if gold is None or str(gold).strip() == "":
        return None
    if task.kind == "score":
        g = parse_score(gold, task.score_min, task.score_max)
        if g is None:
            return None
        value = score_value(text, g, task.score_min, task.score_max)
        parsed = parse_score(text, task.score_min, task.score_max) is not None
        return {"abs_error": abs(value - g), "parsed": parsed}
    if task.kind == "label":
        return {"correct": str(text).strip() == str(gold).strip()}
    return text_metrics([str(text)], [str(gold)])


def error_text(error: dict[str, Any] | None) -> str:
    """Render an error dict in a few characters (``"|err| 1.0"``, ``"correct"``, ``"ROUGE-L 0.41"``)."""
    if not error:
        return "—"
    if "abs_error" in error:
        return f"|err| {error['abs_error']:.2f}" + ("" if error.get("parsed", True) else " (unparsed)")
    if "correct" in error:
        return "correct" if error["correct"] else "wrong"
    if "rouge-l" in error:
        return f"ROUGE-L {error['rouge-l']:.2f}"
    return str(error)


def make_context(profile: Profile, *, client: LLMClient, embedder: Embedder, k: int = 4,
                 disabled_factors: Iterable[str] = (), disabled_items: Iterable[str] = (),
                 use_summary: bool = True, run_id: str | None = None, ws: Workspace | None = None,
                 pool: list[PoolEntry] | None = None, reason_first: bool = False,
                 method_progress: Callable[[int, int, str], None] | None = None) -> AnswerContext:
    """Return the answer context of a profile with the given ablation switches.

    Args:
        profile: The user's profile.
        client: The LLM client.
        embedder: The embedder.
        k: Items / pool entries to retrieve.
        disabled_factors: Factor ids switched off.
        disabled_items: History item ids switched off.
        use_summary: Whether the summary may be shown.
        run_id: The run the LLM calls are recorded under.
        ws: When given (and ``pool`` is not), the user's stored prompt pool is loaded from it.
        pool: The prompt pool to use (None: the stored one, else the default built from the profile).
        reason_first: ``rpm`` reasons in free text before answering.
        method_progress: ``(done, total, label)`` from inside an answer (``rpm`` fitting its rule;
            see :attr:`core.methods.context.AnswerContext.progress`).
    """
    if pool is None and ws is not None:
        pool = load_pool(ws, profile.dataset_id, profile.user_id)
    return AnswerContext(task=profile.task, profile=profile, client=client, embedder=embedder, k=int(k),
                         disabled_factors=frozenset(disabled_factors), disabled_items=frozenset(disabled_items),
                         use_summary=use_summary, run_id=run_id, pool=pool, reason_first=reason_first,
                         progress=method_progress)


def profile_parents(profile: Profile) -> list[str]:
    """Return the run ids an answer on ``profile`` uses (its stage runs), sorted: the answer run's parents."""
    return sorted({str(r) for r in (profile.run_ids or {}).values() if r})


def answer_params(method: str, query: str, k: int, *, pool: list[PoolEntry] | None,
                  disabled_factors: list[str] | None = None, disabled_items: list[str] | None = None,
                  use_summary: bool = True, summary_from: dict[str, Any] | None = None, reason_first: bool = False,
                  source: str = "workbench") -> dict[str, Any]:
    """Return the parameters an ``answer`` run records (``source``: ``workbench`` or ``cli``)."""
    return {"method": method, "query": query, "k": int(k), "disabled_factors": sorted(set(disabled_factors or [])),
            "disabled_items": sorted(set(disabled_items or [])), "use_summary": use_summary, "source": source,
            "pool": "default" if pool is None else f"stored ({len(pool)} entries)",
            **({"summary_from": summary_from} if summary_from else {}),
            **({"reason_first": True} if reason_first else {})}


def answer_query(ws: Workspace, profile: Profile, *, method: str, query: str, client: LLMClient, embedder: Embedder,
                 k: int = 4, gold: str | None = None, disabled_factors: Iterable[str] = (),
                 disabled_items: Iterable[str] = (), use_summary: bool = True,
                 summary_from: dict[str, Any] | None = None, reason_first: bool = False,
                 source: str = "workbench",
                 method_progress: Callable[[int, int, str], None] | None = None) -> AnswerRecord:
    """Answer ``query`` with one method, recorded as an ``answer`` run (with the user's stored pool, if any).

    ``summary_from`` names the model that wrote the profile's summary when it is not the user's own
    (portability); it is recorded in the run's parameters, as is ``source`` (``workbench`` or ``cli``).
    ``method_progress`` hears how far a long answer is (``rpm`` fitting its rule, see :func:`make_context`).

    Raises:
        core.errors.InputError: Unknown method; backend failures (``BackendError``).
    """
    m = get_method(method)
    disabled_factors, disabled_items = sorted(set(disabled_factors)), sorted(set(disabled_items))
    pool = load_pool(ws, profile.dataset_id, profile.user_id)
    params = answer_params(method, query, k, pool=pool, disabled_factors=disabled_factors,
                           disabled_items=disabled_items, use_summary=use_summary, summary_from=summary_from,
                           reason_first=reason_first, source=source)
    with ws.run("answer", params, dataset_id=profile.dataset_id, user_id=profile.user_id,
                parents=profile_parents(profile)) as run:
        ctx = make_context(profile, client=client, embedder=embedder, k=k, disabled_factors=disabled_factors,
                           disabled_items=disabled_items, use_summary=use_summary, run_id=run.id, pool=pool,
                           reason_first=reason_first, method_progress=method_progress)
        answer = m.answer(query, ctx)
        record = AnswerRecord(method=method, query=query, answer=answer, run_id=run.id, gold=gold,
                              error=answer_error(profile.task, answer.text, gold), run_label=run.label)
        ws.put_artifact(run.id, "answer", {"dataset": profile.dataset_id, "user": profile.user_id,
                                           **record.to_dict()})
    return record


@dataclass
class AblationRecord:
    """One recorded ablation: its ``ablation`` run (id and readable label) and the results, strongest first.

    ``planned`` counts the ablations there were to run (each active factor with ``all_factors``, else
    1); fewer results than that means Cancel stopped it (:attr:`cancelled`).
    """

    method: str
    query: str
    run_id: str
    results: list[AblationResult]
    run_label: str = ""
    planned: int = 0

    @property
    def cancelled(self) -> bool:
        """True when Cancel stopped the ablation before every planned one was done."""
        return len(self.results) < self.planned

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"method": self.method, "query": self.query, "run_id": self.run_id, "run_label": self.run_label,
                "planned": self.planned, "results": [r.to_dict() for r in self.results]}


def ablate_query(ws: Workspace, profile: Profile, *, method: str, query: str, client: LLMClient, embedder: Embedder,
                 k: int = 4, factor: str | None = None, item: str | None = None, summary: bool = False,
                 all_factors: bool = False, disabled_items: Iterable[str] = (), reason_first: bool = False,
                 answer_run_id: str | None = None, source: str = "workbench",
                 progress: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None,
                 method_progress: Callable[[int, int, str], None] | None = None) -> AblationRecord:
    """Ablate a method's answer, recorded as an ``ablation`` run whose LLM calls carry its id.

    With ``all_factors`` every active factor is removed in turn; otherwise ``factor``, ``item`` and / or
    ``summary`` are removed together (see :func:`core.methods.ablation.ablate`).

    Args:
        ws: The workspace.
        profile: The user's profile.
        method: Method name.
        query: The query text.
        client: The LLM client.
        embedder: The embedder.
        k: Items / pool entries to retrieve.
        factor: Factor id or name to remove.
        item: History item id to remove.
        summary: Remove the summary.
        all_factors: Remove each factor in turn instead.
        disabled_items: Items left out of both the original and the ablated answers.
        reason_first: ``rpm`` reasons in free text before answering.
        answer_run_id: The ``answer`` run being ablated (the run's parent); None: the profile's stage runs.
        source: ``workbench`` or ``cli``.
        progress: ``progress(done, total)`` in answers (``all_factors``: the full one, then one per factor).
        cancel: Checked between answers (``all_factors``); True stops, keeps the factors finished and
            ends the run ``cancelled``.
        method_progress: ``(done, total, label)`` from inside an answer (``rpm`` fitting its rule on
            the full answer; the ablated ones reuse it).

    Raises:
        core.errors.InputError: Nothing to remove, an unknown factor / item / method; backend failures.
    """
    get_method(method)  # an unknown method is an input error before any run is opened
    disabled_items = sorted(set(disabled_items))
    pool = load_pool(ws, profile.dataset_id, profile.user_id)
    params = {**answer_params(method, query, k, pool=pool, disabled_items=disabled_items, reason_first=reason_first,
                              source=source),
              "remove": "each factor" if all_factors else {"factor": factor, "item": item, "summary": summary}}
    parents = [answer_run_id] if answer_run_id else profile_parents(profile)
    with ws.run("ablation", params, dataset_id=profile.dataset_id, user_id=profile.user_id, parents=parents) as run:
        ctx = make_context(profile, client=client, embedder=embedder, k=k, disabled_items=disabled_items,
                           run_id=run.id, pool=pool, reason_first=reason_first, method_progress=method_progress)
        if all_factors:
            planned = len(ctx.active_factors())
            results = ablate_all_factors(method, query, ctx, progress=progress, cancel=cancel)
        else:
            planned, results = 1, [ablate(method, query, ctx, factor=factor, item=item, summary=summary)]
        record = AblationRecord(method=method, query=query, run_id=run.id, results=results, run_label=run.label,
                                planned=planned)
        if record.cancelled:  # stopped by cancel: what finished is stored, the run says it stopped
            run.status = "cancelled"
        ws.put_artifact(run.id, "ablation", {"dataset": profile.dataset_id, "user": profile.user_id,
                                             **record.to_dict()})
    return record


def answer_all(ws: Workspace, profile: Profile, methods: Iterable[str], *, query: str, client: LLMClient,
               embedder: Embedder, k: int = 4, gold: str | None = None, disabled_items: Iterable[str] = (),
               progress: Callable[[str, int, int], None] | None = None,
               cancel: Callable[[], bool] | None = None,
               method_progress: Callable[[int, int, str], None] | None = None) -> dict[str, AnswerRecord | str]:
    """Answer one query with several methods; a failing method gives its error message instead.

    ``disabled_items`` are left out of every method's retrieval (e.g. the history item being asked).
    ``cancel`` is checked before each method: once it returns True the methods answered so far are
    returned (the others are left out). A method stopped mid-answer by a cancel (a
    :class:`core.errors.Cancelled` from a guarded client: its run ends ``cancelled``) is left out
    the same way. ``method_progress`` hears how far a long answer is (see :func:`make_context`).

    Returns:
        ``{method: AnswerRecord or error message}`` in the given order.
    """
    names = list(methods)
    disabled_items = list(disabled_items)
    out: dict[str, AnswerRecord | str] = {}
    for n, name in enumerate(names):
        if cancel is not None and cancel():
            return out
        if progress:
            progress(name, n, len(names))
        try:
            out[name] = answer_query(ws, profile, method=name, query=query, client=client, embedder=embedder, k=k,
                                     gold=gold, disabled_items=disabled_items, method_progress=method_progress)
        except Cancelled:
            return out
        except InputError as exc:
            out[name] = "; ".join(p.message for p in exc.problems)
    if progress:
        progress("done", len(names), len(names))
    return out


def compare_rows(records: dict[str, AnswerRecord | str]) -> list[dict[str, Any]]:
    """Return one table row per method: answer, tokens in / out, latency, steps and the error."""
    rows = []
    for name, rec in records.items():
        if isinstance(rec, str):
            rows.append({"method": name, "answer": f"failed: {rec}", "tokens in": None, "tokens out": None,
                         "latency ms": None, "steps": None, "error": "—"})
            continue
        t = rec.answer.trace
        rows.append({"method": name, "answer": rec.answer.text, "tokens in": t.tokens_in, "tokens out": t.tokens_out,
                     "latency ms": round(t.latency_ms, 1), "steps": len(t.steps), "error": error_text(rec.error)})
    return rows


def answer_runs(ws: Workspace, dataset_id: str | None = None, user_id: str | None = None) -> list[dict[str, Any]]:
    """Return the stored ``answer`` artifacts (newest first) of finished answer runs."""
    out = []
    for run in ws.list_runs("answer", dataset_id=dataset_id, user_id=user_id):
        if run.status != "done":
            continue
        art = ws.get_artifact(run.id, "answer")
        if art is not None:
            out.append({"run_id": run.id, "created_at": run.created_at, **art, "run_label": run.label})
    return out
