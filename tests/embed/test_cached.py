from __future__ import annotations

import numpy as np

from core.embed.cached import CachedEmbedder
from core.embed.hashing import HashingEmbedder
from core.store.workspace import Workspace


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(dim=32)
        self.seen: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        return super().embed(texts)


def test_cache_hits_skip_the_inner_embedder(tmp_path) -> None:
    ws = Workspace(tmp_path / "ws.sqlite")
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, ws)
    first = cached.embed(["a b", "c", "a b"])
    assert inner.seen == ["a b", "c"] and (cached.hits, cached.misses) == (1, 2)
    second = cached.embed(["c", "new", "a b"])
    assert inner.seen == ["a b", "c", "new"] and (cached.hits, cached.misses) == (3, 3)
    assert np.array_equal(second[0], first[1]) and np.array_equal(second[2], first[0])
    assert np.array_equal(second, inner.embed(["c", "new", "a b"]))
    assert second.dtype == np.float32 and cached.name == inner.name
    ws.close()


def test_cache_survives_reopening_and_is_keyed_by_model(tmp_path) -> None:
    path = tmp_path / "ws.sqlite"
    with Workspace(path) as ws:
        CachedEmbedder(CountingEmbedder(), ws).embed(["kept"])
    with Workspace(path) as ws:
        inner = CountingEmbedder()
        CachedEmbedder(inner, ws).embed(["kept"])
        assert inner.seen == []
        other = HashingEmbedder(dim=16)
        v = CachedEmbedder(other, ws).embed(["kept"])
        assert v.shape == (1, 16)


def test_empty_input(tmp_path) -> None:
    with Workspace(tmp_path / "ws.sqlite") as ws:
        assert CachedEmbedder(HashingEmbedder(dim=8), ws).embed([]).shape == (0, 8)
