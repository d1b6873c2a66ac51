"""The embedder protocol: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors.

    Attributes:
        name: Identifies the model and its settings; part of the embedding cache key.
    """

    name: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts.

        Args:
            texts: The texts, any length (an empty list gives a ``(0, dim)`` array).

        Returns:
            A ``(len(texts), dim)`` float32 array whose rows have unit L2 norm.
        """
        ...


def l2_normalise(x: np.ndarray, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """Return rows scaled to unit L2 norm (zero rows stay zero), as ``dtype`` (float32 unless asked)."""
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(dtype)
