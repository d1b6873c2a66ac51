"""Stage 3, the preference summary (POPI): a concise description of the user from the factors.

Two :class:`Summarizer` implementations: :class:`TemplateSummarizer` (deterministic, from the
strongest factors) and :class:`LLMSummarizer` (a chat model given the factors and their statistics).
Summaries are versioned in the workspace: a generated text is a new ``generated`` version, an
analyst's edit (:func:`edit_summary`) a new ``edited`` version; answers record the version they used.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from core.data.model import Item, Task
from core.errors import BackendError
from core.llm.client import LLMClient
from core.llm.fence import quote, with_data_rule
from core.llm.tokens import count_tokens
from core.llm.types import ChatRequest
from core.stages.failures import StageFailure, finish_stage, short
from core.stages.stats import effect, strength, user_mean
from core.stages.types import Factor
from core.store.workspace import Workspace, stable_hash

MAX_FACTORS = 5


@runtime_checkable
class Summarizer(Protocol):
    """Writes the preference summary from curated factors with statistics."""

    name: str

    def identity(self) -> dict[str, Any]:
        """Return what identifies this summarizer's output."""
        ...

    def summarize(self, factors: list[Factor], items: list[Item], task: Task, *, run_id: str | None = None) -> str:
        """Return the summary text (``run_id``: the summary run a model call is filed under)."""
        ...


def unit(task: Task) -> str:
    """Return the unit of score differences: ``stars`` for 0-10 rating scales, else ``points``."""
    return "stars" if task.score_min >= 0 and task.score_max <= 10 else "points"


def ranked_factors(factors: list[Factor], limit: int = MAX_FACTORS) -> list[Factor]:
    """Return the factors that matter most: pinned first, then by ``|effect| * coverage``; no noise."""
    real = [f for f in factors if not f.is_noise and f.stats.n_items > 0]
    real.sort(key=lambda f: (not f.pinned, -strength(f), f.id))
    return real[:limit]


def is_significant(f: Factor) -> bool:
    """True when a factor's 95% interval of influence excludes zero (True when it has no interval)."""
    s = f.stats
    if s.ci_low is None or s.ci_high is None:
        return True
    return s.ci_low > 0 or s.ci_high < 0


def summary_factors(factors: list[Factor], task: Task, limit: int = MAX_FACTORS) -> list[Factor]:
    """The factors a summary states: pinned ones, then (score tasks) those whose effect is significant.

    Factors whose interval includes zero follow only when fewer than two significant ones exist, so
    the summary does not assert effects the data cannot tell from chance.
    """
    ranked = ranked_factors(factors, len(factors))
    if task.kind != "score":
        return ranked[:limit]
    sure = [f for f in ranked if f.pinned or is_significant(f)]
    if len(sure) < 2:
        sure += [f for f in ranked if f not in sure][: 2 - len(sure)]
    return sure[:limit]


def _quote(name: str) -> str:
    return f"\u201c{name}\u201d"


def _score_sentence(f: Factor, task: Task, noun: str) -> str:
    s = f.stats
    infl = s.influence
    cov = f"{s.coverage:.0%} of {noun}"
    if infl is None:
        return f"Mentions {_quote(f.name)} in {cov}."
    if not is_significant(f):
        return (f"May {'raise' if infl > 0 else 'lower'} ratings when {_quote(f.name)} comes up "
                f"({infl:+.1f} {unit(task)}, {cov}; not significant).")
    mag = abs(infl)
    if mag < 0.25:
        return f"Mentions {_quote(f.name)} often ({cov}) with little effect on ratings ({infl:+.1f} {unit(task)})."
    adverb = "Strongly " if mag >= 1.0 else ("Slightly " if mag < 0.5 else "")
    verb = "raises" if infl > 0 else "lowers"
    verb = verb if adverb else verb.capitalize()
    return f"{adverb}{verb} ratings when {_quote(f.name)} comes up ({infl:+.1f} {unit(task)}, {cov})."


def _label_sentence(f: Factor, noun: str) -> str:
    s = f.stats
    cov = f"{s.coverage:.0%} of {noun}"
    if s.top_label is None:
        return f"Mentions {_quote(f.name)} in {cov}."
    lift = s.lift.get(s.top_label, 1.0)
    return f"Leans to '{s.top_label}' when {_quote(f.name)} comes up (lift {lift:.1f}x, {cov})."


class TemplateSummarizer:
    """A deterministic summary from the strongest factors (pinned first).

    Examples:
        The text reads like: "Rates 3.4 on average over 40 reviews. Strongly lowers ratings when
        "Durability, broke" comes up (-1.8 stars, 24% of reviews). ..."
    """

    name = "template"

    def __init__(self, max_factors: int = MAX_FACTORS) -> None:
        """Create the summarizer."""
        self.max_factors = max_factors

    def identity(self) -> dict[str, Any]:
        """Return what identifies this summarizer's output."""
        return {"kind": "template", "version": 2, "max_factors": self.max_factors}

    def summarize(self, factors: list[Factor], items: list[Item], task: Task, *, run_id: str | None = None) -> str:
        """Return the summary text (``run_id`` is unused: no model is called)."""
        noun = "reviews" if task.kind == "score" else "items"
        parts: list[str] = []
        if task.kind == "score":
            mean = user_mean(items, task)
            if mean is not None:
                parts.append(f"Rates {mean:.1f} on average over {len(items)} {noun} "
                             f"(scale {task.score_min:g}-{task.score_max:g}).")
        elif task.kind == "label":
            labels = [it.output.strip() for it in items if it.output.strip()]
            if labels:
                top = max(sorted(set(labels)), key=labels.count)
                share = labels.count(top) / len(labels)
                parts.append(f"Most often answers '{top}' ({share:.0%} of {len(labels)} items).")
        else:
            parts.append(f"History of {len(items)} items.")
        ranked = summary_factors(factors, task, self.max_factors)
        for f in ranked:
            if task.kind == "score":
                sentence = _score_sentence(f, task, noun)
            elif task.kind == "label":
                sentence = _label_sentence(f, noun)
            else:
                sentence = f"Often writes about {_quote(f.name)} ({f.stats.coverage:.0%} of items)."
            parts.append(sentence + (" (pinned)" if f.pinned else ""))
        if not ranked:
            parts.append("No recurring factor was found yet.")
        return " ".join(parts)


def factor_lines(factors: list[Factor], task: Task, limit: int = 12) -> str:
    """Render factors with their statistics as prompt lines (shared by the LLM summarizer and methods)."""
    lines = []
    for f in ranked_factors(factors, limit):
        s = f.stats
        bits = [f"coverage {s.coverage:.0%}"]
        if s.influence is not None:
            has_ci = s.ci_low is not None and s.ci_high is not None
            ci = f" [95% CI {s.ci_low:+.2f}, {s.ci_high:+.2f}]" if has_ci else ""
            bits.append(f"influence {s.influence:+.2f} {unit(task)}{ci}")
        if s.top_label is not None:
            bits.append(f"top label {s.top_label} (lift {s.lift.get(s.top_label, 1.0):.1f}x)")
        bits.append(f"polarity {s.polarity:+.2f}")
        pin = " [pinned]" if f.pinned else ""
        lines.append(f"- {quote(f.name)}{pin}: {quote(f.description)} ({'; '.join(bits)})")  # data fenced
    return "\n".join(lines)


_SUMMARY_SYSTEM = (
    "You write a concise preference summary of one user from statistics about what influences their responses. "
    "Use only the statistics given; do not invent preferences. Write 2-5 sentences in the third person, "
    "most influential factors first, mentioning direction and size of each effect."
)


class LLMSummarizer:
    """Write the summary with a chat model from the factors and their statistics.

    Args:
        client: An :class:`core.llm.client.LLMClient`.
        max_words: Target length.
    """

    name = "llm"

    def __init__(self, client: LLMClient, max_words: int = 120) -> None:
        """Create the summarizer."""
        self.client = client
        self.max_words = max_words

    def identity(self) -> dict[str, Any]:
        """Return the model identity and prompt version."""
        caps = self.client.capabilities
        return {"kind": "llm", "version": 1, "backend": caps.backend, "model": caps.model, "words": self.max_words}

    def request(self, factors: list[Factor], items: list[Item], task: Task, *,
                run_id: str | None = None) -> ChatRequest:
        """Build the summary request (filed under the summary run ``run_id``)."""
        head = TemplateSummarizer(max_factors=0).summarize([], items, task)
        head = head.replace(" No recurring factor was found yet.", "")
        user = (f"Task: {quote(task.instruction or task.name)} ({task.kind})\nOverview: {quote(head)}\n\n"
                f"Factors (strongest first):\n{factor_lines(factors, task) or '- none'}\n\n"
                f"Write the summary in at most {self.max_words} words.")
        return ChatRequest(messages=[{"role": "system", "content": with_data_rule(_SUMMARY_SYSTEM)},
                                     {"role": "user", "content": user}],
                           max_tokens=int(self.max_words * 2.2) + 40, stage="summary", run_id=run_id)

    def summarize(self, factors: list[Factor], items: list[Item], task: Task, *, run_id: str | None = None) -> str:
        """Return the summary text (the call filed under the summary run ``run_id``).

        Raises:
            core.errors.BackendError: The call failed.
        """
        return " ".join(self.client.chat(self.request(factors, items, task, run_id=run_id)).text.split())


def factors_digest(factors: list[Factor]) -> str:
    """Return a digest of curated factors (membership, names, pins, effects) for stage reuse."""
    return stable_hash([[f.id, f.name, f.description, f.pinned, sorted(f.feature_ids), round(effect(f.stats), 4)]
                        for f in factors])[:16]


def run_summary(ws: Workspace, factors_run_id: str, factors: list[Factor], items: list[Item], task: Task,
                summarizer: Summarizer, *, dataset_id: str, user_id: str, reuse: bool = True) -> tuple[str, str, int]:
    """Generate the summary (a new ``generated`` version), or reuse the run for the same factors (``reuse``).

    When an LLM summarizer's call fails, the template summary is stored instead (artifact ``fallback``,
    and a ``failures`` entry that makes the run ``partial``: the next build asks the model again).

    Returns:
        The ``summary`` run id, the text and its version number.
    """
    params = {"summarizer": summarizer.identity(), "factors": factors_digest(factors)}
    with ws.run("summary", params, dataset_id=dataset_id, user_id=user_id, parents=[factors_run_id],
                reuse=reuse) as run:
        if run.reused:
            return run.id, ws.get_artifact(run.id, "text", ""), int(ws.get_artifact(run.id, "version", 0))
        fallback = None
        try:
            text = summarizer.summarize(factors, items, task, run_id=run.id)
        except BackendError as exc:
            text, fallback = TemplateSummarizer().summarize(factors, items, task), str(exc)
        if not text.strip():
            text, fallback = TemplateSummarizer().summarize(factors, items, task), "empty model output"
        version = ws.add_summary_version(dataset_id, user_id, text, source="generated", run_id=run.id,
                                         note=f"fallback to template: {fallback}" if fallback else None)
        ws.put_artifact(run.id, "text", text)
        ws.put_artifact(run.id, "version", version)
        if fallback:
            ws.put_artifact(run.id, "fallback", fallback)
        finish_stage(ws, run, [StageFailure("summary", "summary", "summary", "fell back",
                                            short(f"template summary: {fallback}"))] if fallback else [])
    return run.id, text, version


def edit_summary(ws: Workspace, dataset_id: str, user_id: str, text: str, note: str | None = None) -> int:
    """Store an analyst's edited summary as a new version and return its number."""
    return ws.add_summary_version(dataset_id, user_id, " ".join(text.split()), source="edited", note=note)


def summary_token_report(summary: str, items: list[Item]) -> dict[str, Any]:
    """Compare the summary's size with the raw history's.

    Token counts use :func:`core.llm.tokens.count_tokens` (a documented word/punctuation heuristic).

    Returns:
        ``{"summary_tokens", "history_tokens", "ratio"}`` (ratio = summary / history).
    """
    s = count_tokens(summary)
    h = sum(count_tokens(it.input) + count_tokens(it.output) for it in items)
    return {"summary_tokens": s, "history_tokens": h, "ratio": (s / h) if h else 0.0}
