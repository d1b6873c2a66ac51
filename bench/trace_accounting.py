"""How much of each method's wall time its trace accounts for, on the largest real LaMP-3 user.

    python bench/trace_accounting.py [--latency 0.05] [--embedder hashing|minilm]

Builds user u00005020 (550 reviews; lexicon features, deterministic stages) and answers one of their
reviews with every method against the loopback fake OpenAI server (``--latency`` seconds per call),
each with a fresh answer context, as a page does. Prints the wall time, the trace's total and
their ratio per method (the goal is >= 0.9), and the pool's re-ranker fit on its own.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tokens import LAMP3  # noqa: E402
from core.embed.cached import CachedEmbedder  # noqa: E402
from core.embed.factory import make_embedder  # noqa: E402
from core.llm.factory import make_client  # noqa: E402
from core.llm.settings import BackendSettings  # noqa: E402
from core.methods.pool import default_pool, fit_reranker  # noqa: E402
from core.methods.registry import METHOD_NAMES, get_method  # noqa: E402
from core.stages.pipeline import build_profile  # noqa: E402
from core.stages.profile import PipelineSettings  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402
from core.ui_state import load_files  # noqa: E402
from core.views.answering import make_context  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer  # noqa: E402

USER = "u00005020"


def main(argv: list[str] | None = None) -> int:
    """Print wall time vs trace time per method."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--embedder", default="hashing", choices=["hashing", "minilm"])
    args = ap.parse_args(argv)
    if not LAMP3.exists():
        print(f"{LAMP3} is absent", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws.sqlite")
        load_files(ws, [LAMP3], dataset_id="lamp3")
        emb = CachedEmbedder(make_embedder(args.embedder), ws)
        profile = build_profile(ws, "lamp3", USER, client=None, embedder=emb,
                                settings=PipelineSettings(extractor="lexicon", namer="keywords",
                                                          summarizer="template", paths="template"))
        query, item = profile.items[0].input, profile.items[0].id
        pool = default_pool(profile, profile.task)
        t0 = time.perf_counter()
        reranker = fit_reranker(profile, profile.task, pool, emb)
        print(f"{USER}: {len(profile.items)} items, pool of {len(pool)} entries; re-ranker fit "
              f"{time.perf_counter() - t0:.2f} s on {reranker.n_pairs if reranker else 0} pairs")
        with FakeOpenAIServer(latency_s=args.latency) as server:
            client = make_client(BackendSettings(kind="openai", base_url=server.base_url, model="fake-model",
                                                 api_key="sk-bench", use_cache=False), ws)
            print(f"{'method':8} {'wall s':>8} {'trace s':>8} {'ratio':>6}")
            for name in METHOD_NAMES:
                ctx = make_context(profile, client=client, embedder=emb, k=4, disabled_items=[item])
                t0 = time.perf_counter()
                answer = get_method(name).answer(query, ctx)
                wall = time.perf_counter() - t0
                traced = answer.trace.latency_ms / 1000
                print(f"{name:8} {wall:8.3f} {traced:8.3f} {traced / wall:6.2f}")
        ws.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
