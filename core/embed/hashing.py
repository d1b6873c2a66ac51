"""A fast, deterministic, stateless embedder: hashed word and character n-grams.

This is the fallback when no model package is installed, and the default in tests. It needs no
fitting and no corpus, so a text's vector depends only on that text (embeddings are cached per text
hash, so batch-dependence would be a bug). It is "TF-IDF-style" without a corpus:

* features: word unigrams (weight 1.0), word bigrams (0.5) and character 3- and 4-grams of each
  word with boundary marks (0.25, which makes "prefers"/"preferred" overlap);
* a small fixed stop-word list stands in for IDF: a stop word's unigram and n-grams, and bigrams
  containing it, weigh 0.1 as much (negations such as "not" are kept at full weight);
* term frequencies are sublinear (``1 + log tf``), counted per word and per bigram (a word's
  character n-grams carry its word's weight; per-word vectors are memoised, which makes this fast);
* each feature is hashed with CRC-32 to a bucket in ``[0, dim)`` and a sign (signed feature hashing,
  so collisions cancel in expectation rather than pile up);
* rows are L2-normalised. An empty text gets a fixed sentinel vector, so every row has unit norm.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from functools import lru_cache

import numpy as np

from core.embed.base import l2_normalise

_WORD = re.compile(r"\w+", re.UNICODE)

_STOP_WORDS = frozenset(
    "a an and are as at be but by do does for from has have he her his i if in into is it its me my "
    "of on or our she so than that the their them then there these they this to was we were what when "
    "which who will with you your".split())

_UNIGRAM_W = 1.0
_BIGRAM_W = 0.5
_CHARGRAM_W = 0.25
_STOP_W = 0.1
_CHAR_NS = (3, 4)
_EMPTY = "\x00<empty>"


def _word_weight(word: str) -> float:
    return _STOP_W if word in _STOP_WORDS else 1.0


def _hash(feature: str) -> tuple[int, float]:
    """Return the bucket seed and sign of a feature (CRC-32: stable across processes)."""
    h = zlib.crc32(feature.encode("utf-8"))
    return h, (1.0 if (h >> 31) & 1 else -1.0)


class HashingEmbedder:
    """Signed feature hashing of word uni/bi-grams and character n-grams.

    Args:
        dim: Output dimension.

    Examples:
        >>> e = HashingEmbedder(dim=64)
        >>> e.embed(["hello world", ""]).shape
        (2, 64)
    """

    def __init__(self, dim: int = 256) -> None:
        """Create the embedder."""
        if dim < 2:
            raise ValueError("dim must be at least 2")
        self.dim = dim
        self.name = f"hashing-v1-d{dim}"
        self._word_vec = lru_cache(maxsize=200_000)(self._compute_word_vec)

    def _add(self, vec: np.ndarray, feature: str, weight: float) -> None:
        h, sign = _hash(feature)
        vec[h % self.dim] += sign * weight

    def _compute_word_vec(self, word: str) -> np.ndarray:
        """Return the unigram + character n-gram vector of one word (cached per word)."""
        vec = np.zeros(self.dim, dtype=np.float64)
        self._add(vec, "w:" + word, _UNIGRAM_W)
        marked = f"<{word}>"
        for n in _CHAR_NS:
            for i in range(len(marked) - n + 1):
                self._add(vec, "c:" + marked[i:i + n], _CHARGRAM_W)
        return vec * _word_weight(word)

    def embed_one(self, text: str) -> np.ndarray:
        """Return the (unnormalised) hashed feature vector of one text."""
        words = _WORD.findall(text.lower())
        if not words:
            vec = np.zeros(self.dim, dtype=np.float64)
            self._add(vec, _EMPTY, 1.0)
            return vec
        vec = sum((1.0 + math.log(tf)) * self._word_vec(w) for w, tf in Counter(words).items())
        for (a, b), tf in Counter(zip(words, words[1:], strict=False)).items():
            weight = _BIGRAM_W * min(_word_weight(a), _word_weight(b)) * (1.0 + math.log(tf))
            self._add(vec, f"b:{a} {b}", weight)
        return vec

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts; see :class:`core.embed.base.Embedder`."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = l2_normalise(np.stack([self.embed_one(t) for t in texts]))
        # A text whose features all cancelled out (vanishingly rare) still gets a unit row.
        zero = np.linalg.norm(out, axis=1) == 0
        if zero.any():
            out[zero] = l2_normalise(self.embed_one("")[None, :])[0]
        return out
