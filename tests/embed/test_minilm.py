from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import core.embed.minilm as minilm
from core.errors import InputError

HAVE_MINILM = all(importlib.util.find_spec(m) is not None
                  for m in ("onnxruntime", "tokenizers", minilm.ONNX_PACKAGE, minilm.TOKENIZER_PACKAGE))
needs_model = pytest.mark.skipif(not HAVE_MINILM, reason="MiniLM model packages not installed")


@pytest.fixture(scope="module")
def embedder() -> minilm.MiniLMEmbedder:
    return minilm.MiniLMEmbedder()


@needs_model
def test_similar_sentences_are_closer(embedder: minilm.MiniLMEmbedder) -> None:
    v = embedder.embed(["I love sci-fi movies with space battles",
                        "I enjoy science fiction films about wars in space",
                        "The recipe needs two cups of flour",
                        "Bake the cake with flour, sugar and eggs"])
    assert v.shape == (4, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 2] + 0.3 and sims[2, 3] > sims[1, 3] + 0.3


@needs_model
def test_batching_and_truncation_do_not_change_vectors(embedder: minilm.MiniLMEmbedder) -> None:
    texts = ["short", "a somewhat longer sentence about films", "word " * 600]
    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)
    assert embedder.embed([]).shape == (0, 384)


@needs_model
def test_tokenizer_is_read_from_the_installed_zip() -> None:
    assert '"WordPiece"' in minilm.tokenizer_json()
    assert minilm.onnx_model_path().name == "model.onnx"


def test_missing_package_is_an_input_error(monkeypatch) -> None:
    monkeypatch.setattr(minilm, "ONNX_PACKAGE", "inflow_no_such_package")
    with pytest.raises(InputError) as err:
        minilm.onnx_model_path()
    assert "pip install" in str(err.value) and err.value.field == "embedder"
