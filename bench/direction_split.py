"""What splitting direction-mixed clusters does to the no-model baselines on the real LaMP-3 users.

    python bench/direction_split.py [--embedder minilm|hashing]

Builds every user's profile from the earlier 80% of their reviews twice, with
``PipelineSettings.split_directions`` on (the default) and off, and prints the baselines' MAE on all
held-out reviews. ``knn-feature`` is the one that can move: feature-level retrieval weights matched
features by their factor's influence, and the split changes factors and influences. The others are
printed as a check that nothing else moved. No LLM is called (lexicon features, no methods).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tokens import LAMP3, load_lamp3_users  # noqa: E402
from core.embed.factory import make_embedder  # noqa: E402
from core.evaluate.harness import evaluate  # noqa: E402
from core.stages.profile import PipelineSettings  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Print the baselines' MAE with and without the direction split."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    args = ap.parse_args(argv)
    if not LAMP3.exists():
        print(f"{LAMP3} is absent", file=sys.stderr)
        return 2
    history, queries = load_lamp3_users()
    embedder = make_embedder(args.embedder)
    print(f"LaMP-3 users, {len(queries)} held-out reviews, embedder {embedder.name}, lexicon features, k = 4")
    for split in (True, False):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            ws = Workspace(Path(tmp) / "split.sqlite")
            settings = PipelineSettings(embedder=args.embedder, extractor="lexicon", split_directions=split)
            result = evaluate(ws, history, queries, methods=[], client=None, embedder=embedder, settings=settings, k=4)
            ws.close()
        maes = "  ".join(f"{name} {m['mae']:.3f}" for name, m in result.baselines.items())
        print(f"split_directions={str(split):<5}  MAE: {maes}  ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
