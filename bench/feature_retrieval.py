"""Why feature-level retrieval lost to BM25 on LaMP-3, and what the fix buys: kNN MAE per retriever.

    python bench/feature_retrieval.py [--embedder minilm|hashing] [--k 4]

Builds every shared LaMP-3 user's profile from the earlier 80% of their reviews (lexicon features,
as ``bench/direction_split.py`` does) and predicts each of the 578 held-out reviews with the kNN
vote of :func:`core.evaluate.baselines.knn_score` (the similarity-weighted mean of the top-k
retrieved items' ratings) under four retrievers:

* ``bm25``: raw-text BM25 (the ``knn-bm25`` baseline);
* ``feature, influence-weighted``: matched features weighted by their factor's influence
  (``floor=0.3``, the old default);
* ``feature, unweighted``: plain feature-set similarity (``floor=1``, the default of
  :class:`core.stages.retrieval.FeatureRetriever`: what ``rpm`` and ``knn-feature`` use);
* ``feature + bm25 (RRF)``: the unweighted feature ranking fused with BM25's by reciprocal rank
  (``bm25_weight=1``).

It also prints the mean rating the top-k items carry against the users' mean, which shows the
influence weighting pulling the vote towards the rare extreme ratings. No LLM is called.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tokens import LAMP3, load_lamp3_users  # noqa: E402
from core.embed.cached import CachedEmbedder  # noqa: E402
from core.embed.factory import make_embedder  # noqa: E402
from core.evaluate.baselines import knn_score  # noqa: E402
from core.evaluate.harness import dataset_key  # noqa: E402
from core.stages.pipeline import build_profile  # noqa: E402
from core.stages.profile import PipelineSettings  # noqa: E402
from core.stages.retrieval import (  # noqa: E402
    BM25Retriever,
    FeatureRetriever,
    profile_extractor,  # noqa: E402
)
from core.store.workspace import EVALUATION_SOURCE, Workspace  # noqa: E402

VARIANTS = {"bm25": None, "feature, influence-weighted": {"floor": 0.3, "bm25_weight": 0.0},
            "feature, unweighted": {"floor": 1.0, "bm25_weight": 0.0},
            "feature + bm25 (RRF)": {"floor": 1.0, "bm25_weight": 1.0}}


def main(argv: list[str] | None = None) -> int:
    """Print each retriever's kNN MAE on the held-out LaMP-3 reviews."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    ap.add_argument("--k", type=int, default=4)
    args = ap.parse_args(argv)
    if not LAMP3.exists():
        print(f"{LAMP3} is absent", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    history, queries = load_lamp3_users()
    task = history.task
    errors: dict[str, list[float]] = {name: [] for name in VARIANTS}
    top_means: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "retrieval.sqlite")
        emb = CachedEmbedder(make_embedder(args.embedder), ws)
        did = dataset_key(history)
        ws.add_dataset(history, dataset_id=did, source=EVALUATION_SOURCE)
        settings = PipelineSettings(embedder=args.embedder, extractor="lexicon")
        for user in history.users:
            profile = build_profile(ws, did, user.id, client=None, embedder=emb, settings=settings)
            retrievers = {name: BM25Retriever(profile.items) if kw is None else
                          FeatureRetriever(profile, profile_extractor(profile, None), emb, **kw)
                          for name, kw in VARIANTS.items()}
            for q in (q for q in queries if q.user_id == user.id and q.gold is not None):
                gold = task.parse_score(q.gold)
                for name, r in retrievers.items():
                    docs = r.retrieve(q.input, args.k)
                    pred = knn_score(docs, task)
                    values = [task.parse_score(d.output) for d in docs]
                    top_means[name].append(statistics.fmean(v for v in values if v is not None))
                    errors[name].append(abs(float(pred) - gold))
        ws.close()
    n = len(errors["bm25"])
    users_mean = statistics.fmean(task.parse_score(it.output) for u in history.users for it in u.items)
    print(f"LaMP-3 users, {n} held-out reviews, embedder {emb.name}, lexicon features, k = {args.k}; "
          f"mean rating of the histories {users_mean:.2f}")
    for name in VARIANTS:
        print(f"  {name:<30} kNN MAE {statistics.fmean(errors[name]):.3f}   "
              f"mean rating of the top-{args.k} {statistics.fmean(top_means[name]):.2f}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
