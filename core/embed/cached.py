"""An embedder wrapper that caches vectors in the workspace by (embedder name, text hash)."""

from __future__ import annotations

import threading

import numpy as np

from core.embed.base import Embedder
from core.store.workspace import Workspace, text_hash


class CachedEmbedder:
    """Serve vectors from the workspace cache and embed only the texts not seen before.

    Duplicate texts inside one call are embedded once. The wrapper has the same ``name`` as the
    inner embedder, since it returns the same vectors.

    Args:
        inner: The embedder that computes missing vectors.
        workspace: Where vectors are cached (``embed_cache`` table).

    Attributes:
        hits: Texts served from the cache so far.
        misses: Texts embedded by the inner embedder so far.
    """

    def __init__(self, inner: Embedder, workspace: Workspace) -> None:
        """Wrap ``inner`` with the cache in ``workspace``."""
        self.inner = inner
        self.workspace = workspace
        self.name = inner.name
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts; see :class:`core.embed.base.Embedder`."""
        if not texts:
            return self.inner.embed([])
        hashes = [text_hash(t) for t in texts]
        found = self.workspace.embeddings_get(self.name, sorted(set(hashes)))
        missing: dict[str, str] = {}
        for h, t in zip(hashes, texts, strict=True):
            if h not in found:
                missing.setdefault(h, t)
        if missing:
            vectors = self.inner.embed(list(missing.values()))
            new = dict(zip(missing.keys(), vectors, strict=True))
            self.workspace.embeddings_put(self.name, new)
            found.update(new)
        with self._lock:
            self.misses += len(missing)
            self.hits += len(texts) - len(missing)
        return np.stack([found[h] for h in hashes]).astype(np.float32)
