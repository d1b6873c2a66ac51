"""The one policy for "stage mode -> pipeline settings", used by the CLI and the pages.

A *stage mode* (``$INFLOW_STAGES``, the sidebar, ``--stages``) says which implementation each model
stage uses: ``deterministic`` the lexicon extractor, keyword names, the template summary and
templated paths (no model calls); ``llm`` the LLM for all four; ``auto`` follows the backend's
capabilities. Which embedder to use is :func:`core.embed.factory.embedder_choice`.
"""

from __future__ import annotations

from typing import Any

from core.stages.profile import PipelineSettings
from core.ui_state import default_stage_mode


def pipeline_settings(mode: str | None, embedder_kind: str, *,
                      overrides: dict[str, Any] | None = None) -> PipelineSettings:
    """Return the settings of a build for a stage mode.

    Args:
        mode: ``auto``, ``deterministic`` or ``llm``; None = :func:`core.ui_state.default_stage_mode`.
        embedder_kind: The :func:`core.embed.factory.make_embedder` kind the build embeds with (recorded).
        overrides: Other :class:`~core.stages.profile.PipelineSettings` fields (HDBSCAN, factor count...).
    """
    mode = mode or default_stage_mode()
    det = mode == "deterministic"
    choice = "llm" if mode == "llm" else "auto"
    return PipelineSettings(extractor="lexicon" if det else choice, namer="keywords" if det else choice,
                            summarizer="template" if det else choice, paths="template" if det else choice,
                            embedder="hash" if embedder_kind == "hashing" else embedder_kind, **(overrides or {}))
