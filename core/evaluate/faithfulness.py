"""Faithfulness over a dataset: whether the evidence a method shows drives its answer.

For every evaluated query and method, three kinds of evidence are probed (:data:`KINDS`):

* ``factor``: the query's top factor (the first factor the method's trace names, e.g. ``rpm``'s
  chosen factors; else the user's strongest active factor);
* ``items``: the history items the method retrieved for the query;
* ``summary``: the preference summary.

and for each two re-answers are made (ERASER's measures, DeYoung et al., 2020):

* **comprehensiveness**: the evidence removed, everything else kept. ``moved`` is the share of
  queries whose answer changed, ``shift`` how far it moved on average (``|score shift|`` for scores,
  1 for a changed label, ``1 - ROUGE-L`` to the original for text; an unparsed answer counts 1 if it
  changed);
* **sufficiency**: only the evidence kept (the other two kinds removed: other factors, the summary,
  every history item outside the kept ones; keeping the summary keeps all of it, including the
  sentences that name factors). ``kept_same`` is the share of queries whose answer is
  reproduced, ``kept_distance`` the mean distance to the original, in the units above.

Evidence a method did not show is *not used* for that query (removing it leaves every prompt of
the method unchanged, so the client's cache answers and nothing is measured): it is counted in
``not_used`` and left out of the shares. A method that shows none of the three (``zero``) gets no
measurements. Both re-answers go through the client, so repeating a run costs no model call.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

from core.evaluate.result import EvalResult
from core.methods.ablation import compare
from core.methods.context import AnswerContext
from core.methods.types import Answer, Method

KINDS = ("factor", "items", "summary")
MEASURES = ("moved", "shift", "kept_same", "kept_distance")


def _prompts(answer: Answer) -> list[Any]:
    return [s.input for s in answer.trace.steps if s.kind in ("llm", "rewrite")]


def _retrieved(answer: Answer) -> list[str]:
    ids: list[str] = []
    for step in answer.trace.steps:
        if step.kind == "retrieve":
            ids += [d.id for d in step.documents if d.id not in ids]
    return ids


def top_factor(context: AnswerContext, answer: Answer) -> str | None:
    """Return the factor to remove for this answer: the first its trace names, else the strongest active one."""
    active = {f.id: f for f in context.active_factors()}
    for step in answer.trace.steps:
        for fid in step.detail.factor_ids or [r.get("id") for r in step.detail.factors or []
                                              if isinstance(r, dict)]:
            if fid in active:
                return fid
    if not active:
        return None

    def strength(f: Any) -> tuple[float, float, float]:
        s = f.stats
        return (abs(s.influence or 0.0), s.mutual_info or 0.0, s.coverage)

    return max(active.values(), key=strength).id


def _without(context: AnswerContext, *, factors: Iterable[str] = (), items: Iterable[str] = (),
             summary: bool = False, no_factors: bool = False) -> AnswerContext:
    """Return a copy of ``context`` with factors and items disabled and, if ``summary``, the summary off.

    ``no_factors`` hides every factor by giving the copy a profile without factors, rather than
    disabling them: disabling would also drop the summary's sentences that name them, and the
    summary alone must stay whole.
    """
    ctx = context.ablated(summary=summary)  # a copy sharing the retrievers and caches, even with nothing removed
    if no_factors:
        ctx.profile = dataclasses.replace(context.profile, factors=[])
    for fid in factors:
        ctx = ctx.ablated(factor=fid)
    for iid in items:
        ctx = ctx.ablated(item=iid)
    return ctx


def _distance(original: Answer, other: Answer, context: AnswerContext) -> tuple[bool, float]:
    changed, shift, flipped, rouge_l = compare(original, other, context.task)
    if shift is not None:
        return changed, abs(shift)
    if flipped is not None:
        return changed, float(flipped)
    if rouge_l is not None:
        return changed, 1.0 - rouge_l
    return changed, float(changed)


def probe(method: Method, query: str, context: AnswerContext, original: Answer) -> list[dict[str, Any]]:
    """Measure comprehensiveness and sufficiency of one method's answer for each kind of evidence.

    Args:
        method: The method that produced ``original``.
        query: The query text.
        context: The full context the original answer was made with.
        original: The method's answer with everything in.

    Returns:
        One record per kind: ``{"kind", "target", "used", "moved", "shift", "kept_same",
        "kept_distance"}`` (measures are None when the evidence was not used or is absent).

    Raises:
        core.errors.BackendError: A re-answer failed after the client's retries.
    """
    factor = top_factor(context, original)
    retrieved = _retrieved(original)
    all_items = [it.id for it in context.profile.items]
    factors = [f.id for f in context.active_factors()]
    targets: dict[str, Any] = {"factor": factor, "items": retrieved or None,
                               "summary": "summary" if context.summary_text else None}
    removals = {"factor": {"factors": [factor] if factor else []}, "items": {"items": retrieved},
                "summary": {"summary": True}}
    keeps = {"factor": {"factors": [f for f in factors if f != factor], "items": all_items, "summary": True},
             "items": {"factors": factors, "items": [i for i in all_items if i not in retrieved], "summary": True},
             "summary": {"items": all_items, "no_factors": True}}
    out = []
    for kind in KINDS:
        rec: dict[str, Any] = {"kind": kind, "target": targets[kind], "used": False,
                               **{m: None for m in MEASURES}}
        if targets[kind] is None:
            out.append(rec)
            continue
        removed = method.answer(query, _without(context, **removals[kind]))
        if _prompts(removed) == _prompts(original):
            out.append(rec)  # the method never showed this evidence
            continue
        kept = method.answer(query, _without(context, **keeps[kind]))
        moved, shift = _distance(original, removed, context)
        changed, distance = _distance(original, kept, context)
        rec.update(used=True, moved=moved, shift=shift, kept_same=not changed, kept_distance=distance)
        out.append(rec)
    return out


def summarize(per_query: Sequence[dict[str, Any]], methods: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Aggregate the probes stored in ``per_query[i]["faithfulness"][method]``.

    Returns:
        ``{method: {kind: {"n", "not_used", "errors", "moved", "shift", "kept_same", "kept_distance"}}}``:
        ``n`` queries where the evidence was used, the rest in ``not_used`` (or ``errors`` when the probe
        failed); shares and means over the ``n`` (NaN when ``n`` is 0).
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name in methods:
        table: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            recs, not_used, errors = [], 0, 0
            for row in per_query:
                probes = (row.get("faithfulness") or {}).get(name)
                if probes is None:
                    continue
                if isinstance(probes, dict) and "error" in probes:
                    errors += 1
                    continue
                rec = next((p for p in probes if p["kind"] == kind), None)
                if rec is None or not rec["used"]:
                    not_used += 1
                else:
                    recs.append(rec)
            agg: dict[str, Any] = {"n": len(recs), "not_used": not_used, "errors": errors}
            for m in MEASURES:
                vals = [float(r[m]) for r in recs]
                agg[m] = sum(vals) / len(vals) if vals else math.nan
            table[kind] = agg
        out[name] = table
    return out


def faithfulness_rows(result: EvalResult) -> list[dict[str, Any]]:
    """Return one row per (method, kind) of an evaluation result's faithfulness table, for tables and CSV."""
    rows = []
    for name, table in (result.faithfulness or {}).items():
        for kind, agg in table.items():
            row: dict[str, Any] = {"method": name, "removed": kind, "n": agg["n"], "not used": agg["not_used"]}
            for m in MEASURES:
                v = agg.get(m)
                row[m] = None if v is None or (isinstance(v, float) and not math.isfinite(v)) else round(v, 4)
            rows.append(row)
    return rows


def format_faithfulness(result: EvalResult) -> str:
    """Render the faithfulness table as aligned text (one line per method and kind of evidence)."""
    rows = faithfulness_rows(result)
    if not rows:
        return "no faithfulness measured"
    head = list(rows[0])
    cells = [[("-" if r[h] is None else str(r[h])) for h in head] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *cells, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.append("moved / shift: the answer with the evidence removed (comprehensiveness); kept_same / "
                 "kept_distance: the evidence alone (sufficiency)")
    return "\n".join(lines)
