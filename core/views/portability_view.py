"""Portability on the Compare page: answer ``summary`` with a summary another model wrote, beside the rest."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.embed.base import Embedder
from core.errors import InputError
from core.evaluate.portability import port_summary
from core.llm.client import LLMClient
from core.llm.settings import BackendSettings
from core.stages.profile import Profile
from core.store.workspace import Workspace
from core.views.answering import AnswerRecord, answer_query

PORTED_PREFIX = "summary ← "


def source_settings(base: BackendSettings, kind: str, model: str | None, base_url: str | None) -> BackendSettings:
    """Return the summary model's backend settings: the session's, with another kind, model and endpoint."""
    return replace(base, kind=kind, model=(model or "").strip() or base.model,  # type: ignore[arg-type]
                   base_url=(base_url or "").strip() or base.base_url)


def ported_label(source_client: LLMClient) -> str:
    """Return the side-by-side row name of the ported answer, e.g. ``summary ← openai / gpt-4o-mini``."""
    caps = source_client.capabilities
    return f"{PORTED_PREFIX}{caps.backend} / {caps.model}"


def ported_answer(ws: Workspace, profile: Profile, source_client: LLMClient, *, query: str, client: LLMClient,
                  embedder: Embedder, k: int = 4, gold: str | None = None,
                  disabled_items: tuple[str, ...] | list[str] = ()) -> tuple[AnswerRecord | str, dict[str, Any] | None]:
    """Have the source model write the summary, then answer with ``summary`` on the session's model.

    Returns:
        The answer record (or the error message, as the side by side shows failures) and the ported
        summary's info (:func:`core.evaluate.portability.port_summary`; None when it failed).
    """
    try:
        ported, info = port_summary(profile, source_client)
        caps = source_client.capabilities
        record = answer_query(ws, ported, method="summary", query=query, client=client, embedder=embedder, k=k,
                              gold=gold, disabled_items=disabled_items,
                              summary_from={"backend": caps.backend, "model": caps.model})
    except InputError as exc:
        return "; ".join(p.message for p in exc.problems), None
    return record, info
