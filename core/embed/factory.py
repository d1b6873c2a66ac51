"""Pick an embedder by name: ``minilm`` (offline default), ``hashing`` (fast fallback) or ``openai``."""

from __future__ import annotations

import logging
from typing import Any

from core.embed.base import Embedder
from core.embed.cached import CachedEmbedder
from core.embed.hashing import HashingEmbedder
from core.embed.minilm import MiniLMEmbedder
from core.embed.openai_embed import OpenAIEmbedder
from core.errors import InputError, Problem
from core.store.workspace import Workspace

log = logging.getLogger(__name__)
KINDS = ("minilm", "hashing", "openai")


def make_embedder(kind: str = "minilm", *, workspace: Workspace | None = None, fallback: bool = True,
                  **kw: Any) -> Embedder:
    """Create an embedder.

    Args:
        kind: ``"minilm"`` (all-MiniLM-L6-v2 int8 ONNX from installed packages), ``"hashing"``
            (:class:`~core.embed.hashing.HashingEmbedder`) or ``"openai"`` (an OpenAI-compatible endpoint).
        workspace: When given, wrap the embedder in a :class:`~core.embed.cached.CachedEmbedder`.
        fallback: For ``minilm``: when its packages are missing, log a warning saying what to install
            and return the hashing embedder instead of raising.
        **kw: Passed to the embedder's constructor.

    Raises:
        InputError: Unknown kind (field ``embedder``); a missing MiniLM package with ``fallback=False``;
            bad OpenAI settings.
    """
    embedder: Embedder
    if kind == "minilm":
        try:
            embedder = MiniLMEmbedder(**kw)
        except InputError as exc:
            if not fallback:
                raise
            log.warning("MiniLM embedder unavailable (%s); using the hashing embedder instead, whose "
                        "neighbourhoods are lexical rather than semantic", exc.problems[0].message)
            embedder = HashingEmbedder()
    elif kind == "hashing":
        embedder = HashingEmbedder(**kw)
    elif kind == "openai":
        embedder = OpenAIEmbedder(**kw)
    else:
        raise InputError(Problem("settings", None, "embedder", f"unknown embedder {kind!r}; use one of {KINDS}"))
    return CachedEmbedder(embedder, workspace) if workspace is not None else embedder
