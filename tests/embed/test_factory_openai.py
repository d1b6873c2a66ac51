from __future__ import annotations

import logging

import numpy as np
import pytest

import core.embed.minilm as minilm
from core.embed.cached import CachedEmbedder
from core.embed.factory import make_embedder
from core.embed.hashing import HashingEmbedder
from core.embed.openai_embed import OpenAIEmbedder
from core.errors import BackendError, InputError
from core.store.workspace import Workspace
from tests.fakes.openai_server import (  # noqa: F401 - fixtures
    FakeOpenAIServer,
    fake_embedding,
    openai_server,
    openai_server_session,
)

KEY = "sk-embed-secret-42"


def test_openai_embedder_against_loopback(openai_server: FakeOpenAIServer) -> None:  # noqa: F811
    e = OpenAIEmbedder(openai_server.base_url, KEY, "fake-embed")
    texts = [f"text {i}" for i in range(300)]  # three batches
    v = e.embed(texts)
    assert v.shape == (300, 32) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.allclose(v[7], fake_embedding("text 7", 32), atol=1e-6)
    assert len(openai_server.calls("/v1/embeddings")) == 3
    assert KEY not in e.name and KEY not in repr(e) and e.name.startswith("openai:fake-embed@127.0.0.1")


def test_openai_embedder_retries_then_fails(openai_server: FakeOpenAIServer) -> None:  # noqa: F811
    e = OpenAIEmbedder(openai_server.base_url, KEY, "fake-embed", max_retries=1, backoff_base_s=0.001)
    openai_server.add_faults("429")
    assert e.embed(["x"]).shape == (1, 32)
    openai_server.add_faults("500", "500")
    with pytest.raises(BackendError) as err:
        e.embed(["y"])
    assert "HTTP 500" in str(err.value) and "/embeddings" in str(err.value)


def test_factory_kinds_and_cache(tmp_path, openai_server: FakeOpenAIServer) -> None:  # noqa: F811
    assert isinstance(make_embedder("hashing", dim=16), HashingEmbedder)
    assert isinstance(make_embedder("openai", base_url=openai_server.base_url, api_key=KEY, model="m"),
                      OpenAIEmbedder)
    with Workspace(tmp_path / "ws.sqlite") as ws:
        wrapped = make_embedder("hashing", workspace=ws)
        assert isinstance(wrapped, CachedEmbedder) and wrapped.embed(["a"]).shape == (1, 256)
    with pytest.raises(InputError) as err:
        make_embedder("word2vec")
    assert err.value.field == "embedder"


def test_factory_falls_back_kindly_when_minilm_is_missing(monkeypatch, caplog) -> None:
    monkeypatch.setattr(minilm, "ONNX_PACKAGE", "inflow_no_such_package")
    with caplog.at_level(logging.WARNING):
        e = make_embedder("minilm")
    assert isinstance(e, HashingEmbedder)
    assert "pip install" in caplog.text and "hashing embedder" in caplog.text
    with pytest.raises(InputError):
        make_embedder("minilm", fallback=False)
