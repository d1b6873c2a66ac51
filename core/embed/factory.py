"""Pick an embedder by name: ``minilm`` (offline default), ``hashing`` (fast fallback) or ``openai``.

The one policy for *which* embedder, used by the CLI, the pages and the engines' workers:
:func:`default_embedder_kind` (``$INFLOW_EMBEDDER``, else MiniLM when installed, else hashing),
:func:`embedder_kind_of` (the kind that rebuilds an embedder from its name) and
:func:`embedder_choice` (a built profile's embedder, else the default).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from core.embed.base import Embedder
from core.embed.cached import CachedEmbedder
from core.embed.hashing import HashingEmbedder
from core.embed.minilm import ONNX_PACKAGE, TOKENIZER_PACKAGE, MiniLMEmbedder
from core.embed.openai_embed import OpenAIEmbedder
from core.errors import InputError, Problem
from core.store.workspace import Workspace

log = logging.getLogger(__name__)
KINDS = ("minilm", "hashing", "openai")
EMBEDDER_ENV = "INFLOW_EMBEDDER"
_HASHING_NAME = re.compile(r"hashing-v\d+-d(\d+)")


def minilm_installed() -> bool:
    """Whether MiniLM's model packages and ``onnxruntime`` are installed (nothing is imported)."""
    return all(importlib.util.find_spec(p) is not None for p in (ONNX_PACKAGE, TOKENIZER_PACKAGE, "onnxruntime"))


def default_embedder_kind(environ: Mapping[str, str] | None = None) -> str:
    """Return the embedder kind a new build uses.

    ``$INFLOW_EMBEDDER`` (``hash``/``hashing``, ``minilm``, ``openai``) when set, else ``minilm`` when its
    packages are installed, else ``hashing``.
    """
    env = (os.environ if environ is None else environ).get(EMBEDDER_ENV, "").strip().lower()
    if env in ("hash", "hashing"):
        return "hashing"
    if env in ("minilm", "openai"):
        return env
    return "minilm" if minilm_installed() else "hashing"


def embedder_kind_of(name: str) -> tuple[str, dict[str, Any]] | None:
    """Return the kind (and constructor arguments) that rebuild an embedder from its ``name``.

    Names: ``hashing-v<n>-d<dim>``, ``minilm...``, ``openai:...``; None for any other (a test stand-in).
    """
    m = _HASHING_NAME.fullmatch(name)
    if m:
        return "hashing", {"dim": int(m.group(1))}
    if name.startswith("openai:"):
        return "openai", {}
    if name.startswith("minilm"):
        return "minilm", {}
    return None


def embedder_choice(embedder_name: str | None,
                    environ: Mapping[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """Return the embedder kind (and constructor arguments) to use for a user.

    A built profile's embedder is reused (``embedder_name`` is its recorded name); otherwise
    :func:`default_embedder_kind`.
    """
    known = embedder_kind_of(embedder_name) if embedder_name else None
    return known if known is not None else (default_embedder_kind(environ), {})


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
