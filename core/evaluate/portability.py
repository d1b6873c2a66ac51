"""Portability (POPI): a preference summary written by one model, used by another to answer.

POPI's claim is that a summary inferred once transfers across models and replaces most of the raw
history in the prompt. :func:`port_summary` has the *source* model write the summary from the
user's (curated) factors and history, exactly as the ``summary`` stage's LLM summarizer would, and
returns a copy of the profile carrying it; the answering model then uses it through the usual
methods (``summary``, ``rpm``, ``reflect``), to be compared with ``history`` (the full-context
prompt) and ``bm25`` in quality and prompt tokens.

The source always writes with the LLM summarizer (a template summary is the same whoever "writes"
it, so it would measure nothing); its free-text quality is recorded beside the result. The ported
summary is not stored as a summary version of the user: it belongs to the evaluation, not to the
profile the analyst curates.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.errors import BackendError, Problem
from core.llm.client import LLMClient
from core.stages.profile import Profile
from core.stages.summary import LLMSummarizer, summary_token_report


def port_summary(profile: Profile, source_client: LLMClient) -> tuple[Any, dict[str, Any]]:
    """Have ``source_client``'s model write the user's summary and return the profile carrying it.

    Args:
        profile: The built :class:`core.stages.profile.Profile` (its factors and items are the input).
        source_client: The :class:`core.llm.client.LLMClient` of the model that writes the summary.

    Returns:
        The profile with ``summary`` replaced (``summary_version`` None: not a stored version) and
        ``{"user_id", "summarizer", "free_text_quality", "text", "summary_tokens", "history_tokens",
        "ratio"}``.

    Raises:
        core.errors.BackendError: The source model failed or wrote nothing.
    """
    summarizer = LLMSummarizer(source_client)
    text = summarizer.summarize(profile.factors, profile.items, profile.task)
    caps = source_client.capabilities
    if not text.strip():
        raise BackendError(Problem(f"{caps.backend}:{caps.model}", None, "summary",
                                   f"the summary model wrote an empty summary for user {profile.user_id}"))
    info = {"user_id": profile.user_id, "summarizer": summarizer.identity(),
            "free_text_quality": caps.free_text_quality, "text": text,
            **summary_token_report(text, profile.items)}
    return replace(profile, summary=text, summary_version=None), info


def portability_summary(infos: list[dict[str, Any]], source: dict[str, Any]) -> dict[str, Any]:
    """Aggregate the ported summaries of an evaluation.

    Args:
        infos: :func:`port_summary` infos, one per user.
        source: The source backend's description (kind, model, free-text quality).

    Returns:
        ``{"source": ..., "users": n, "summary_tokens_mean", "history_tokens_mean", "ratio_mean",
        "summaries": {user_id: text}}``.
    """
    n = len(infos)

    def mean(key: str) -> float:
        return float(sum(i[key] for i in infos) / n) if n else float("nan")

    return {"source": source, "users": n, "summary_tokens_mean": mean("summary_tokens"),
            "history_tokens_mean": mean("history_tokens"), "ratio_mean": mean("ratio"),
            "summaries": {i["user_id"]: i["text"] for i in infos}}
