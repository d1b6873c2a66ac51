from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.embed.base import Embedder
from core.embed.hashing import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["I love sci-fi movies with space battles",
         "I love science fiction movies about space battles",
         "The recipe needs two cups of flour",
         ""]


def test_shape_dtype_and_unit_rows() -> None:
    e = HashingEmbedder(dim=64)
    v = e.embed(TEXTS)
    assert isinstance(e, Embedder) and v.shape == (4, 64) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert e.embed([]).shape == (0, 64)


def test_batch_independent_and_deterministic() -> None:
    e = HashingEmbedder()
    together = e.embed(TEXTS)
    alone = np.vstack([e.embed([t]) for t in TEXTS])
    assert np.array_equal(together, alone)
    assert np.array_equal(HashingEmbedder().embed(TEXTS), together)


def test_stable_across_processes() -> None:
    code = ("from core.embed.hashing import HashingEmbedder;"
            "print(HashingEmbedder(dim=16).embed(['stable hashing please'])[0].tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={"PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}).stdout
    here = HashingEmbedder(dim=16).embed(["stable hashing please"])[0]
    assert np.array_equal(np.asarray(json.loads(out), dtype=np.float32), here)


def test_overlap_means_similarity() -> None:
    v = HashingEmbedder().embed(TEXTS)
    sims = v @ v.T
    assert sims[0, 1] > 0.5 > sims[0, 2]
    assert sims[0, 1] > sims[1, 2]


def test_morphology_overlaps_through_char_ngrams() -> None:
    v = HashingEmbedder().embed(["prefers", "preferred", "banana"])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_stop_words_weigh_little() -> None:
    v = HashingEmbedder().embed(["the movie", "movie", "the"])
    assert v[0] @ v[1] > 0.9 and v[0] @ v[2] < 0.3


def test_name_depends_on_dim() -> None:
    assert HashingEmbedder(64).name != HashingEmbedder(128).name
    with pytest.raises(ValueError):
        HashingEmbedder(1)
