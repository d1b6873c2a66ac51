"""Which chat backend to use, from arguments or the environment; the API key is never serialised.

Environment variables read by :meth:`BackendSettings.from_env`:

* ``INFLOW_BACKEND``: ``local`` (default) or ``openai``;
* ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``INFLOW_MODEL``: the OpenAI-compatible endpoint;
* ``INFLOW_GGUF``: a GGUF file for the local backend;
* ``INFLOW_LOCAL_MODEL``: which embedded model the local backend runs (:mod:`core.llm.local_models`);
* ``INFLOW_MAX_CONCURRENCY``: calls in flight at once;
* ``INFLOW_CONTEXT_LENGTH``: the model's context window in tokens;
* ``INFLOW_NO_CACHE``: ``1`` bypasses the LLM cache (every call goes to the model, nothing is cached).

:func:`core.llm.factory.make_client` turns settings into a ready client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlparse

from core.env import env_int
from core.errors import InputError, Problem
from core.llm.local_models import MODELS

KINDS = ("local", "openai")
SOURCE = "settings"


@dataclass
class BackendSettings:
    """Chat backend settings.

    Attributes:
        kind: ``"local"`` (embedded llama.cpp model) or ``"openai"`` (any OpenAI-compatible endpoint).
        base_url: Endpoint base URL for ``openai`` (``.../v1``); None = ``$OPENAI_BASE_URL`` or OpenAI.
        model: Model name for ``openai``; None = ``$INFLOW_MODEL``.
        api_key: API key for ``openai``; None = ``$OPENAI_API_KEY``. Held in memory only:
            :meth:`to_dict` leaves it out and ``repr`` hides it.
        gguf_path: GGUF file for ``local``; None = ``$INFLOW_GGUF``, else ``local_model``.
        local_model: Embedded model name for ``local`` (``qwen2.5-coder-1.5b``, ``qwen2.5-coder-0.5b``,
            ``smollm2-135m``); None = ``$INFLOW_LOCAL_MODEL``, else Qwen2.5-Coder-1.5B.
        max_concurrency: Calls in flight at once; None = 8 remote, 1 local.
        context_length: Context window in tokens; None = 8192 remote (unknown, assumed), 2048 local.
        use_cache: Read and write the workspace's LLM cache; False sends every call to the model.
    """

    kind: Literal["local", "openai"] = "local"
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    gguf_path: str | None = None
    max_concurrency: int | None = None
    context_length: int | None = None
    use_cache: bool = True
    local_model: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BackendSettings:
        """Read settings from the environment (see the module docstring).

        Raises:
            InputError: ``INFLOW_MAX_CONCURRENCY`` or ``INFLOW_CONTEXT_LENGTH`` is not an integer.
        """
        env = os.environ if environ is None else environ
        kind = (env.get("INFLOW_BACKEND") or "local").strip().lower()
        return cls(kind=kind,  # type: ignore[arg-type] - checked by validate()
                   base_url=env.get("OPENAI_BASE_URL") or None, model=env.get("INFLOW_MODEL") or None,
                   api_key=env.get("OPENAI_API_KEY") or None, gguf_path=env.get("INFLOW_GGUF") or None,
                   local_model=env.get("INFLOW_LOCAL_MODEL") or None,
                   max_concurrency=env_int(env, "INFLOW_MAX_CONCURRENCY", "max_concurrency"),
                   context_length=env_int(env, "INFLOW_CONTEXT_LENGTH", "context_length"),
                   use_cache=(env.get("INFLOW_NO_CACHE") or "").strip().lower() not in ("1", "true", "yes", "on"))

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-ready data, without the API key."""
        return {"kind": self.kind, "base_url": self.base_url, "model": self.model, "gguf_path": self.gguf_path,
                "local_model": self.local_model, "max_concurrency": self.max_concurrency,
                "context_length": self.context_length, "use_cache": self.use_cache}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackendSettings:
        """Rebuild settings from :meth:`to_dict` output (the key, never stored, stays None)."""
        return cls(**{k: data.get(k) for k in ("base_url", "model", "gguf_path", "local_model", "max_concurrency",
                                                 "context_length")},
                   kind=data.get("kind") or "local", use_cache=bool(data.get("use_cache", True)))

    def validate(self) -> None:
        """Check the settings without touching the network or loading a model.

        Raises:
            InputError: One problem per bad field (field names as in this class).
        """
        problems: list[Problem] = []
        if self.kind not in KINDS:
            problems.append(Problem(SOURCE, None, "kind", f"unknown backend {self.kind!r}; use one of {KINDS}"))
        if self.kind == "local" and self.local_model is not None:
            if self.local_model not in MODELS:
                problems.append(Problem(SOURCE, None, "local_model", f"unknown local model {self.local_model!r}; "
                                                                     f"use one of {', '.join(MODELS)}"))
        if self.max_concurrency is not None and self.max_concurrency < 1:
            problems.append(Problem(SOURCE, None, "max_concurrency", "must be at least 1"))
        if self.context_length is not None and self.context_length < 256:
            problems.append(Problem(SOURCE, None, "context_length", "must be at least 256 tokens"))
        if self.kind == "openai":
            if not (self.model or os.environ.get("INFLOW_MODEL")):
                problems.append(Problem(SOURCE, None, "model", "the openai backend needs a model name "
                                                               "(or set INFLOW_MODEL)"))
            if self.base_url is not None:
                url = urlparse(self.base_url)
                if url.scheme not in ("http", "https") or not url.hostname:
                    problems.append(Problem(SOURCE, None, "base_url",
                                            f"not an http(s) URL: {self.base_url!r} (e.g. http://localhost:8000/v1)"))
        if problems:
            raise InputError(problems)

