"""How far Inflow's ``bm25`` retrieval is from LaMP's own (``bm25-lamp``) on real LaMP-7 questions.

    python bench/lamp_bm25_overlap.py [--k 4] [--limit 500]

For each question of ``../shared/data/lamp7_dev500`` (its own profile is the history), ranks the
profile with :class:`core.stages.retrieval.BM25Retriever` (lowercased words, digits dropped) and
:class:`core.stages.lamp_retrieval.LampBM25Retriever` (``str.split()``, LaMP's fields) and prints
the mean share of LaMP's top-k that Inflow's top-k also holds, and how often the top-1 agrees. No
model is called.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.data.load import load_lamp_pair  # noqa: E402
from core.stages.lamp_retrieval import LampBM25Retriever  # noqa: E402
from core.stages.retrieval import BM25Retriever  # noqa: E402

LAMP7 = ROOT / ".." / "shared" / "data" / "lamp7_dev500"


def main(argv: list[str] | None = None) -> int:
    """Print the top-k overlap of the two BM25 rankings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--limit", type=int, default=500)
    args = ap.parse_args(argv)
    if not LAMP7.exists():
        print(f"{LAMP7} is absent", file=sys.stderr)
        return 2
    ds = load_lamp_pair(LAMP7 / "dev_questions.json", LAMP7 / "dev_outputs.json").dataset
    users = {u.id: u for u in ds.users}
    overlaps, top1 = [], []
    for q in ds.queries[: args.limit]:
        items = users[q.user_id].items
        if len(items) < args.k:
            continue
        ours = [d.id for d in BM25Retriever(items).retrieve(q.input, args.k)]
        lamp = [d.id for d in LampBM25Retriever(items, ds.task).retrieve(q.input, args.k)]
        overlaps.append(len(set(ours) & set(lamp)) / args.k)
        top1.append(ours[0] == lamp[0])
    n = len(overlaps)
    print(f"LaMP-7 dev, {n} questions with at least {args.k} profile tweets: top-{args.k} overlap of bm25 with "
          f"bm25-lamp {sum(overlaps) / n:.3f}, same top-1 {sum(top1) / n:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
