"""Turn a method's :class:`~core.methods.types.Trace` into what the step-by-step page shows.

A :class:`TraceCursor` is the "Next step" / "Play" state: how many steps are revealed. Each step
becomes a :class:`StepCard` with display-ready text and, for retrieve steps, a table of documents
with their scores and matched feature pairs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core.methods.types import Step, StepDetail, Trace
from core.viz.trace_timeline import TimelineStep

KIND_TITLES: dict[str, str] = {
    "features": "Query features",
    "retrieve": "Retrieved items",
    "reason": "Reasoning",
    "llm": "Model call",
    "rewrite": "Rewrite",
}


@dataclass
class StepCard:
    """One step ready to display.

    Attributes:
        index: 0-based position in the trace.
        title: ``"<n>. <step name>"``.
        kind: Step kind.
        kind_title: Human name of the kind.
        input_text: The step's input rendered as text (the final prompt for llm steps).
        output_text: The step's output rendered as text.
        documents: Rows ``{rank, id, score, response, text, matched, path}`` for retrieve steps.
        matched: Rows ``{item, query feature, item feature, similarity, factor}``.
        factors: Factor records from the step detail (``detail.factors``), if any.
        paths: Reasoning path texts from the step detail or the documents.
        tokens_in: Prompt tokens.
        tokens_out: Completion tokens.
        latency_ms: Wall time.
        status: ``ok`` or ``error``.
        detail: The step's typed detail (``detail.pool`` is set for the pool method's retrieve step).
        more: The detail fields not shown elsewhere on the card (JSON-ready), for a "Details" view.
        decision: ``rpm``'s decision step: ``{"rule": text, "rows": [{option, model, knn, prior,
            total}]}`` (each term's weighted contribution per option), else None.
        wording: ``rpm``'s wording step (:func:`wording_view`), else None.
    """

    index: int
    title: str
    kind: str
    kind_title: str
    input_text: str
    output_text: str
    documents: list[dict[str, Any]] = field(default_factory=list)
    matched: list[dict[str, Any]] = field(default_factory=list)
    factors: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    status: str = "ok"
    detail: StepDetail = field(default_factory=StepDetail)
    more: dict[str, Any] = field(default_factory=dict)
    decision: dict[str, Any] | None = None
    wording: dict[str, Any] | None = None


SHOWN_ON_CARD = frozenset({"decision", "wording", "factors", "paths", "system", "raw", "removed", "entries",
                           "candidates", "pool_size", "pool_source", "reranker", "ranking"})
"""Detail fields a card shows in its own sections (the rest go to :attr:`StepCard.more`)."""


def decision_view(record: dict[str, Any]) -> dict[str, Any]:
    """Render a decision record (:func:`core.methods.decision.decide` plus the fitted rule) for display."""
    rule = record.get("rule") or {}
    w = rule.get("weights") or {}
    name = str(rule.get("name", ""))
    if name == "fusion":
        name += (f": {w.get('model', 0):g} x {rule.get('source')} model + {w.get('knn', 0):g} x retrieved "
                 f"items + {w.get('prior', 0):g} x the user's prior, {rule.get('estimator')}")
    elif name == "prior":
        name += f": the user's own response distribution, {rule.get('estimator')} (the model did not beat it on dev)"
    errs = ", ".join(f"{k} {float(v):.3f}" for k, v in (record.get("dev_errors") or {}).items())
    lowest = record.get("lowest")
    choice = ("" if not lowest or lowest == rule.get("name") else
              f"; {lowest} was lower, by less than one standard error, so the user's prior decides")
    text = (f"{name} (leave-one-out {record.get('metric', 'error')} on {record.get('n_dev', 0)} of the user's "
            f"items: {errs}{choice})" if errs else f"{name} (too few history items to fit a rule)")
    parts = record.get("contributions") or {}
    total = record.get("distribution") or {}
    rows = [{"option": o, "model": (parts.get("model") or {}).get(o), "knn": (parts.get("knn") or {}).get(o),
             "prior": (parts.get("prior") or {}).get(o), "total": p} for o, p in total.items()]
    return {"rule": text, "rows": rows, "answer": record.get("answer"),
            "alternatives": dict(record.get("alternatives") or {})}


def wording_view(record: dict[str, Any], given: str, rewrite: str) -> dict[str, Any]:
    """Render ``rpm``'s wording choice (:class:`core.methods.style.WordingChoice`) for display.

    Returns:
        ``{"verdict": text, "rows": [{candidate, text, mean log-prob, share of words never written}],
        "added": text, "removed": text, "meaning": text}``: why the rewrite was kept or not, in
        words ("meaning" is empty when the step did not check it).
    """
    p, alpha = record.get("p_value"), record.get("alpha")
    dropped = list(record.get("dropped") or [])
    meaning = record.get("meaning") or None
    kept = record.get("chosen") == "rewrite"
    if dropped:
        why = "it drops " + ", ".join(dropped) + " of the given text"
    elif meaning is not None and not meaning.get("restates"):
        why = (f"it does not restate the given text: it is nearer to an earlier text of the user (cosine "
               f"{float(meaning['to_nearest_own']):.2f}) than to the given text ({float(meaning['to_given']):.2f})")
    elif not record.get("added") and not record.get("removed"):
        why = "it has the given text's words (nothing to choose)"
    elif p is None:
        why = "too few changed words to test whether they are the user's"
    else:
        relation = "<" if kept else ">="
        why = (f"p = {float(p):.3g} {relation} {alpha} that the words it brings in are likelier for this user than "
               "the words it takes out")
    verdict = ("The rewrite was kept: " if kept else "The given text was kept: the rewrite was not, because ") + why
    scores, unseen = record.get("scores") or {}, record.get("unseen") or {}
    rows = [{"candidate": name, "text": text, "mean log-prob": scores.get(name),
             "share of words never written": unseen.get(name)}
            for name, text in (("given", given), ("rewrite", rewrite))]
    return {"verdict": verdict, "rows": rows, "added": " ".join(record.get("added") or []),
            "removed": " ".join(record.get("removed") or []), "meaning": _meaning_line(meaning)}


def _meaning_line(meaning: dict[str, Any] | None) -> str:
    """The rewrite's cosines to the given text and to the user's nearest earlier text, in words."""
    if meaning is None:
        return ""
    line = f"Cosine of the rewrite to the given text: {float(meaning['to_given']):.2f}"
    if meaning.get("to_nearest_own") is None:
        return line + " (the user wrote nothing else to compare with)"
    return (f"{line}; to the nearest earlier text of the user: {float(meaning['to_nearest_own']):.2f} "
            f"(\"{meaning.get('nearest_own') or ''}\")")


def render_value(value: Any) -> str:
    """Render a step input / output as readable text.

    Strings stay as they are, chat messages become role blocks, other data indented JSON.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        return "\n\n".join(f"[{m['role']}]\n{m.get('content', '')}" for m in value)
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _feature_label(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("phrase") or value.get("text") or value)
    return str(value)


def step_card(step: Step, index: int) -> StepCard:
    """Build the card of one step."""
    docs, matched, paths = [], [], []
    for rank, d in enumerate(step.documents, 1):
        docs.append({"rank": rank, "id": d.id, "score": round(float(d.score), 4), "response": d.output,
                     "text": d.text, "matched": len(d.matched), "path": d.path or ""})
        for m in d.matched:
            matched.append({"item": d.id, "query feature": _feature_label(m.get("query", "")),
                            "item feature": _feature_label(m.get("item", "")),
                            "similarity": round(float(m.get("similarity", 0.0) or 0.0), 3),
                            "factor": m.get("factor") or ""})
        if d.path:
            paths.append(f"{d.id}: {d.path}")
    detail = step.detail
    decision = detail.decision
    factors = detail.factors
    factors = [f if isinstance(f, dict) else {"name": str(f)} for f in factors] if isinstance(factors, list) else []
    extra_paths = detail.paths
    if isinstance(extra_paths, list):
        for p in extra_paths:
            text = p.get("text") if isinstance(p, dict) else str(p)
            if text and not any(text in q for q in paths):
                paths.append(f"{p.get('item_id')}: {text}" if isinstance(p, dict) and p.get("item_id") else text)
    return StepCard(
        index=index, title=f"{index + 1}. {step.name}", kind=step.kind,
        kind_title="Pool entries" if detail.pool is not None else KIND_TITLES.get(step.kind, step.kind),
        input_text=render_value(step.input), output_text=render_value(step.output), documents=docs,
        matched=matched, factors=factors, paths=paths, tokens_in=int(step.tokens_in or 0),
        tokens_out=int(step.tokens_out or 0), latency_ms=float(step.latency_ms or 0.0), status=step.status,
        detail=detail, more={k: v for k, v in detail.to_dict().items() if k not in SHOWN_ON_CARD},
        decision=decision_view(decision) if isinstance(decision, dict) else None,
        wording=_wording(step))


def _wording(step: Step) -> dict[str, Any] | None:
    record, texts = step.detail.extra.get("wording"), step.input
    if not isinstance(record, dict) or not isinstance(texts, dict):
        return None
    return wording_view(record, str(texts.get("given", "")), str(texts.get("rewrite", "")))


def step_cards(trace: Trace) -> list[StepCard]:
    """Build the cards of all steps of a trace, in order."""
    return [step_card(s, i) for i, s in enumerate(trace.steps)]


def timeline_steps(trace: Trace) -> list[TimelineStep]:
    """Return the trace's steps in the shape the timeline figure draws."""
    return [TimelineStep(name=s.name, kind=s.kind, latency_ms=float(s.latency_ms or 0.0),
                         tokens_in=int(s.tokens_in or 0), tokens_out=int(s.tokens_out or 0), status=s.status)
            for s in trace.steps]


@dataclass
class TraceCursor:
    """How far the step-by-step player has walked a trace.

    Attributes:
        n_steps: Steps in the trace.
        shown: Steps revealed so far (0 = none, ``n_steps`` = all, the answer shown).
    """

    n_steps: int
    shown: int = 0

    @property
    def done(self) -> bool:
        """True when every step is revealed."""
        return self.shown >= self.n_steps

    @property
    def current(self) -> int | None:
        """Index of the newest revealed step, or None before the first."""
        return self.shown - 1 if self.shown > 0 else None

    def next(self) -> TraceCursor:
        """Reveal one more step (no-op when done)."""
        return TraceCursor(self.n_steps, min(self.shown + 1, self.n_steps))

    def play(self) -> TraceCursor:
        """Reveal every step."""
        return TraceCursor(self.n_steps, self.n_steps)

    def reset(self) -> TraceCursor:
        """Hide every step."""
        return TraceCursor(self.n_steps, 0)


def trace_totals(trace: Trace) -> dict[str, float]:
    """Return ``{steps, tokens_in, tokens_out, latency_ms}`` of a trace."""
    return {"steps": len(trace.steps), "tokens_in": trace.tokens_in, "tokens_out": trace.tokens_out,
            "latency_ms": round(trace.latency_ms, 1)}
