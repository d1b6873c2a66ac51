"""Benchmark the factor map: embed + UMAP (2-D and n-D) + HDBSCAN, cold and warm, and re-clustering.

Usage::

    python bench/factor_map.py                       # 1k and 10k features, hashing embedder
    python bench/factor_map.py --sizes 1000 10000 50000 --embedders hash minilm

For each (size, embedder) a *new process* builds one synthetic user's profile (generated reviews with
three distinct generated features each, handed to the pipeline by a stand-in extractor, so the map
sees exactly SIZE features) and reports, per stage:

* ``cold``: the first build in the new process (imports, numba code loaded from the on-disk cache,
  or compiled on the very first run: see ``--fresh-numba-cache``), nothing in the workspace;
* ``warm``: a second build in the same process on a fresh workspace (compiled code in memory, no
  cached embeddings), i.e. the compute cost alone;
* ``recluster``: HDBSCAN with another ``min_cluster_size`` on the cached projection, including
  factors, statistics, names, summary and paths (what the UI's slider costs);
* ``factor count``: another *Factors (most)* value (6) on the same clustering: the fine clusters
  merged again, names, statistics, summary and paths (what the factor-count slider costs).

The "feature map" time is embed + projection + clustering (+ factors for the full build).
Figures go to stdout as a table; ``--json`` prints the raw numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ASPECTS = {  # aspect: (phrases that lowered the rating, phrases that raised it)
    "durability": (("broke after", "snapped within", "stopped working after", "came loose after", "cracked after"),
                   ("still going strong after", "feels sturdy after", "survived", "held up after")),
    "price and value": (("overpriced for", "not worth", "too expensive for"), ("great value for", "a bargain for")),
    "shipping": (("arrived late after", "box crushed after"), ("arrived early after", "shipped fast within")),
    "ease of use": (("confusing setup after", "hard to use for"), ("easy to set up in", "intuitive within")),
    "design": (("looks cheap after", "ugly colour after"), ("looks beautiful after", "sleek style after")),
    "customer service": (("seller ignored emails for", "rude support after"), ("helpful support within",)),
    "sound": (("tinny sound after", "crackles after"), ("rich bass after", "crisp audio after")),
}
PARTS = ("handle", "zipper", "strap", "hinge", "lid", "cable", "buckle", "switch", "wheel", "button", "clasp", "knob",
         "charging port", "battery door", "foam padding", "stitching", "seam", "latch", "power cord", "spout",
         "caster", "frame", "screen", "bracket", "valve")
PERIODS = ("two weeks", "a month", "three days", "six months", "a year", "ten days", "five weeks", "two months",
           "eight days", "nine months", "a fortnight", "four days", "three months", "half a year", "a week")
ADJECTIVES = ("plastic", "metal", "rubber", "left", "right", "front", "back", "main", "little", "black", "white",
              "silver", "upper", "lower", "spare", "new", "second", "outer", "inner", "side", "top", "bottom",
              "folding", "padded", "chrome", "wooden", "steel", "red", "blue", "green")
WEIGHTS = {"durability": 2.0, "price and value": 0.5, "shipping": 0.2, "ease of use": 0.4, "design": 0.3,
           "customer service": 0.4, "sound": 0.3}


def make_data(n_features: int, seed: int = 0) -> tuple[list[dict[str, str]], dict[str, list[dict[str, object]]]]:
    """Synthetic reviews with three features each (distinct phrases); ratings driven mostly by durability.

    Returns:
        The items and, per item id, its features as dicts (phrase, aspect, direction, strength, evidence).
    """
    rng = random.Random(seed)
    items: list[dict[str, str]] = []
    features: dict[str, list[dict[str, object]]] = {}
    k = 0
    while len(items) * 3 < n_features:
        iid = f"r{k}"
        score = 3.5
        sentences, feats = [], []
        for aspect in rng.sample(list(ASPECTS), 3):
            sign = rng.choice((-1, 1))
            verb = rng.choice(ASPECTS[aspect][0 if sign < 0 else 1])
            phrase = f"{rng.choice(ADJECTIVES)} {rng.choice(PARTS)} {verb} {rng.choice(PERIODS)}"
            sentences.append(f"The {phrase}.")
            feats.append({"phrase": phrase, "aspect": aspect + (" problems" if sign < 0 else ""),
                          "direction": "lowered" if sign < 0 else "raised", "strength": 0.8, "evidence": phrase})
            score += WEIGHTS[aspect] * sign * 0.6
        rating = int(min(5, max(1, round(score + rng.gauss(0, 0.4)))))
        items.append({"id": iid, "text": " ".join(sentences), "rating": str(rating)})
        features[iid] = feats
        k += 1
    return items, features


class BenchExtractor:
    """Hands back the generated features (so the map sees exactly the features asked for)."""

    name = "bench"

    def __init__(self, features: dict[str, list[dict[str, object]]]) -> None:
        self.features = features

    def identity(self) -> dict[str, object]:
        return {"kind": "bench", "n": sum(len(v) for v in self.features.values())}

    def extract(self, items, task, progress=None, *, run_id=None):  # noqa: ANN001, ANN201
        from core.stages.types import Feature

        out = {}
        for it in items:
            out[it.id] = [Feature(id=f"{it.id}#{j}", item_id=it.id, **d)  # type: ignore[arg-type]
                          for j, d in enumerate(self.features[it.id])]
        if progress:
            progress(len(items), len(items))
        return out


def child(size: int, embedder_kind: str, warm: bool = True) -> dict[str, object]:
    """Run one measurement in this (new) process and return the figures."""
    t0 = time.perf_counter()
    from core.data.model import Dataset, Item, Task, User
    from core.embed.factory import make_embedder
    from core.stages.numba_cache import import_umap
    from core.stages.pipeline import build_profile, recluster
    from core.stages.profile import PipelineSettings
    from core.store.workspace import Workspace

    import_umap()
    t_import = time.perf_counter() - t0
    rows, generated = make_data(size)
    items = [Item(r["id"], r["text"], r["rating"]) for r in rows]
    kind = {"hash": "hashing"}.get(embedder_kind, embedder_kind)
    settings = PipelineSettings(extractor="lexicon", embedder=embedder_kind, hdbscan_min_cluster_size=15)
    out: dict[str, object] = {"size": size, "embedder": embedder_kind, "import_s": round(t_import, 2)}
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("cold", "warm") if warm else ("cold",):
            ws = Workspace(Path(tmp) / f"{label}.sqlite")
            ws.add_dataset(Dataset("bench", Task(kind="score"), [User("u", items)]))
            marks: dict[str, float] = {}

            def progress(stage: str, done: int, total: int, _m: dict[str, float] = marks) -> None:
                if done >= total:
                    _m[stage] = time.perf_counter()

            start = time.perf_counter()
            embedder = make_embedder(kind)
            profile = build_profile(ws, "bench", "u", client=None, embedder=embedder, settings=settings,
                                    progress=progress, extractor=BenchExtractor(generated))
            end = time.perf_counter()
            order = ["features", "projection", "clustering", "factors", "summary", "paths"]
            prev = start
            stages = {}
            for s in order:
                stages[s] = round(marks[s] - prev, 2)
                prev = marks[s]
            out[label] = {"total_s": round(end - start, 2), "stages_s": stages,
                          "map_s": round(stages["projection"] + stages["clustering"] + stages["factors"], 2),
                          "n_features": len(profile.all_features()),
                          "n_unique_texts": len({f.text for f in profile.all_features()}),
                          "n_factors": len([f for f in profile.factors if not f.is_noise])}
            if label == "warm" or not warm:
                t = time.perf_counter()
                p2 = recluster(ws, profile, min_cluster_size=25, embedder=embedder)
                out["recluster_s"] = round(time.perf_counter() - t, 2)
                out["recluster_factors"] = len([f for f in p2.factors if not f.is_noise])
                t = time.perf_counter()  # the factor-count control: same clustering, fewer factors
                p3 = recluster(ws, profile, min_cluster_size=15, embedder=embedder, n_factors=6)
                out["refactor_s"] = round(time.perf_counter() - t, 2)
                out["refactor_factors"] = len([f for f in p3.factors if not f.is_noise])
            ws.close()
    out["process_s"] = round(time.perf_counter() - t0, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--embedders", nargs="+", default=["hash"], choices=["hash", "minilm"])
    parser.add_argument("--fresh-numba-cache", action="store_true",
                        help="use an empty NUMBA_CACHE_DIR for the first child (first-ever compile)")
    parser.add_argument("--no-warm", action="store_true", help="skip the second (warm) build, for big sizes")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("SIZE", "EMBEDDER", "WARM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1], args.child[2] == "1")))
        return
    results = []
    env = dict(os.environ)
    fresh = tempfile.mkdtemp(prefix="numba-") if args.fresh_numba_cache else None
    for embedder in args.embedders:
        for size in args.sizes:
            if fresh:
                env["NUMBA_CACHE_DIR"], fresh = fresh, None
            elif args.fresh_numba_cache:
                env.pop("NUMBA_CACHE_DIR", None)
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--child", str(size), embedder,
                                   "0" if args.no_warm else "1"], capture_output=True, text=True, env=env, cwd=ROOT)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            res["wall_s"] = round(time.perf_counter() - t, 2)
            results.append(res)
            if not args.json:
                c = res["cold"]
                w = res.get("warm") or {"total_s": float("nan"), "stages_s": "skipped", "n_factors": c["n_factors"]}
                print(f"{embedder:>6} {c['n_features']:>6} features ({c['n_unique_texts']} distinct): "
                      f"process {res['wall_s']:6.1f} s (imports {res['import_s']:.1f} s) | "
                      f"cold build {c['total_s']:6.1f} s {c['stages_s']} | "
                      f"warm build {w['total_s']:6.1f} s {w['stages_s']} | "
                      f"recluster {res['recluster_s']:.2f} s "
                      f"({w['n_factors']} -> {res['recluster_factors']} factors) | "
                      f"factor count 6: {res['refactor_s']:.2f} s ({res['refactor_factors']} factors)",
                      flush=True)
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
