"""Embedding speed in sentences/s: the MiniLM ONNX default and the hashing fallback.

    python bench/embed_speed.py [--n 1000]

Sentences are synthetic feature-like phrases of 6-24 words (what the pipeline embeds). Each
embedder gets one warm-up call, then embeds all sentences in one call (it batches internally).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.embed.hashing import HashingEmbedder  # noqa: E402

WORDS = ("the user prefers short upbeat reviews with personal anecdotes about actors plot music pacing ending "
         "twist rates dark comedies highly dislikes slow romance dramas mentions cinematography often").split()


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24))) for _ in range(n)]


def measure(name: str, embedder: object, texts: list[str]) -> None:
    embedder.embed(texts[:8])  # type: ignore[attr-defined]
    start = time.perf_counter()
    vectors = embedder.embed(texts)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    print(f"{name}: {len(texts)} sentences in {elapsed:.2f} s = {len(texts) / elapsed:.0f} sentences/s "
          f"(dim {vectors.shape[1]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    texts = sentences(args.n)
    measure("hashing (dim 256)", HashingEmbedder(), texts)
    try:
        from core.embed.minilm import MiniLMEmbedder

        minilm = MiniLMEmbedder()
    except Exception as exc:  # a model package is missing: say so
        print(f"minilm: not available ({exc})")
        return
    measure("minilm-l6-v2-int8 (onnxruntime)", minilm, texts)


if __name__ == "__main__":
    main()
