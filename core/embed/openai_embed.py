"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import numpy as np

from core.embed.base import l2_normalise
from core.llm.openai_common import call_openai, make_openai_client, resolve_connection
from core.llm.retry import RetryPolicy, call_with_retries

ENV_EMBED_MODEL = "INFLOW_EMBED_MODEL"
BATCH = 128


class OpenAIEmbedder:
    """Embed texts through the official ``openai`` client, in batches, retrying transient faults.

    Args:
        base_url: API base URL; default ``$OPENAI_BASE_URL``, else the OpenAI API.
        api_key: API key; default ``$OPENAI_API_KEY`` (kept in memory only, never in ``name``).
        model: Embedding model; default ``$INFLOW_EMBED_MODEL``.
        timeout_s: Per-request timeout.
        max_retries: Retries of a transient fault per batch.
        backoff_base_s: First retry delay.

    Raises:
        core.errors.InputError: No model, or no key for the OpenAI API.
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, model: str | None = None, *,
                 timeout_s: float = 60.0, max_retries: int = 4, backoff_base_s: float = 0.5) -> None:
        """Create the embedder (no network call is made)."""
        url, key, name = resolve_connection(base_url, api_key, model, model_env=ENV_EMBED_MODEL)
        self.base_url = url
        self.model = name
        self.endpoint = f"{url}/embeddings"
        self.name = f"openai:{name}@{urlparse(url).netloc}"
        self.policy = RetryPolicy(max_retries=max_retries, backoff_base_s=backoff_base_s)
        self.dim: int | None = None
        self._api_key = key
        self._client = make_openai_client(url, key, timeout_s)

    def __repr__(self) -> str:
        """Show endpoint and model, never the key."""
        return f"OpenAIEmbedder(base_url={self.base_url!r}, model={self.model!r})"

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts; see :class:`core.embed.base.Embedder`.

        Raises:
            core.errors.BackendError: The endpoint failed after retries (endpoint, status, message).
        """
        if not texts:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        parts = [self._batch(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)]
        out = l2_normalise(np.vstack(parts))
        self.dim = int(out.shape[1])
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        def once() -> Any:
            return call_openai(lambda: self._client.embeddings.create(model=self.model, input=texts),
                               self.endpoint, self._api_key)

        resp, _ = call_with_retries(once, self.policy, self.endpoint)
        rows = sorted(resp.data, key=lambda d: d.index)
        return np.asarray([r.embedding for r in rows], dtype=np.float32)
