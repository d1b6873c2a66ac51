"""Text renderings shared by methods and the CLI: factors with statistics, reasoning paths, traces."""

from __future__ import annotations

import json
from typing import Any

from core.data.model import Task
from core.methods.types import Answer, Step
from core.stages.paths import render
from core.stages.types import Factor, ReasoningPath


def _polarity_words(polarity: float, task: Task) -> str:
    if task.kind != "score":
        return ""
    if polarity >= 0.2:
        return "mostly raises responses"
    if polarity <= -0.2:
        return "mostly lowers responses"
    return "mixed direction"


def factor_stats_text(factor: Factor, task: Task) -> str:
    """Return the factor's statistics in one parenthetical-ready phrase.

    Examples: ``influence -1.40 (95% CI -2.10 to -0.70); coverage 30%; mostly lowers responses (90%
    consistent)`` for scores; ``points to 'comedy' (lift 2.10); MI 0.051 nats; coverage 25%`` for labels.
    """
    s = factor.stats
    parts: list[str] = []
    if task.kind == "score" and s.influence is not None:
        ci = ""
        if s.ci_low is not None and s.ci_high is not None:
            ci = f" (95% CI {s.ci_low:+.2f} to {s.ci_high:+.2f})"
        parts.append(f"influence {s.influence:+.2f}{ci}")
    if task.kind == "label" and s.top_label:
        lift = s.lift.get(s.top_label)
        parts.append(f"points to '{s.top_label}'" + (f" (lift {lift:.2f})" if lift is not None else ""))
        if s.mutual_info is not None:
            parts.append(f"MI {s.mutual_info:.3f} nats")
    parts.append(f"coverage {s.coverage:.0%}")
    pol = _polarity_words(s.polarity, task)
    if pol:
        parts.append(f"{pol} ({s.consistency:.0%} consistent)")
    return "; ".join(parts)


def describe_factor(factor: Factor, task: Task) -> str:
    """Return one prompt line for a factor: name, description and statistics."""
    desc = factor.description.strip() or ", ".join(factor.keywords[:5])
    head = f"{factor.name}: {desc}" if desc else factor.name
    return f"{head} [{factor_stats_text(factor, task)}]"


def factor_record(factor: Factor, reason: str) -> dict[str, Any]:
    """Return the JSON-ready record of a factor used by a method (for trace details and the UI)."""
    s = factor.stats
    return {"id": factor.id, "name": factor.name, "description": factor.description, "reason": reason,
            "pinned": factor.pinned, "influence": s.influence, "ci_low": s.ci_low, "ci_high": s.ci_high,
            "coverage": s.coverage, "polarity": s.polarity, "consistency": s.consistency,
            "top_label": s.top_label, "lift": dict(s.lift), "mutual_info": s.mutual_info}


def path_text(path: ReasoningPath, disabled_factors: frozenset[str] | set[str] = frozenset()) -> str:
    """Return a path's text, re-rendered without the hops through disabled factors.

    When no hop goes through a disabled factor the stored text is returned unchanged; otherwise
    the remaining hops are rendered the way the paths stage renders them
    (:func:`core.stages.paths.render`), so removing a factor removes it from the paths too; a path
    left without hops is just its response (e.g. ``rated 2``).
    """
    if not any(h.get("factor_id") in disabled_factors for h in path.steps):
        return path.text
    kept = [dict(h) for h in path.steps if h.get("factor_id") not in disabled_factors]
    if not kept:
        return path.response
    for h in kept:
        h.setdefault("feature", "")
        h.setdefault("hop", str(h.get("factor") or h.get("factor_id") or ""))
    return render(kept, path.response)


def _short(value: Any, limit: int = 400) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_step(index: int, step: Step, *, prompt_chars: int = 600) -> list[str]:
    """Return the readable lines of one step."""
    head = f"[{index}] {step.kind}: {step.name} ({step.status}, {step.latency_ms:.0f} ms"
    if step.tokens_in or step.tokens_out:
        head += f", {step.tokens_in} in / {step.tokens_out} out tokens"
    if step.detail.cache_hit:
        head += ", cached"
    lines = [head + ")"]
    if step.kind in ("llm", "rewrite"):
        lines.append("    prompt: " + _short(step.input, prompt_chars))
        lines.append("    answer: " + _short(step.output))
    else:
        if step.input is not None:
            lines.append("    input: " + _short(step.input))
        if step.output is not None and not step.documents:
            lines.append("    output: " + _short(step.output))
    for doc in step.documents:
        lines.append(f"    - {doc.id} (score {doc.score:.3f}, response {doc.output!r}): {_short(doc.text, 120)}")
        for m in doc.matched[:3]:
            lines.append(f"        match: {m.get('query')!r} ~ {m.get('item')!r} "
                         f"({float(m.get('similarity', 0.0)):.2f}, {m.get('factor') or '-'})")
        if doc.path:
            lines.append(f"        path: {_short(doc.path, 200)}")
    for f in step.detail.factors or []:
        lines.append(f"    * factor {f['id']} {f['name']} ({f.get('reason', '')}): "
                     f"influence {f.get('influence')}, coverage {f.get('coverage', 0.0):.0%}")
    dec = step.detail.decision
    if isinstance(dec, dict):
        rule = dec.get("rule") or {}
        lines.append(f"    rule: {rule.get('name')} {json.dumps(rule.get('weights'))} {rule.get('estimator')}; "
                     f"leave-one-out dev errors {json.dumps(dec.get('dev_errors'))} on {dec.get('n_dev')} items")
        for term, values in (dec.get("contributions") or {}).items():
            lines.append(f"    {term}: {_short(values, 200)}")
    for e in [] if step.documents or step.detail.pool is None else step.detail.pool.entries:
        lines.append(f"    * {e['kind']} {e['id']} (score {e['score']:.3f}): {_short(e['text'], 120)}")
    return lines


def format_answer(answer: Answer) -> str:
    """Return the answer and its trace as readable text (the CLI's output)."""
    tr = answer.trace
    lines = [f"answer: {answer.text}" + (f"  (parsed: {answer.value})" if answer.value != answer.text else ""),
             f"method: {tr.method}  tokens: {tr.tokens_in} in / {tr.tokens_out} out  latency: {tr.latency_ms:.0f} ms"
             + (f"  summary v{tr.summary_version}" if tr.summary_version is not None else ""),
             "trace:"]
    for i, step in enumerate(tr.steps, 1):
        lines.extend(format_step(i, step))
    return "\n".join(lines)
