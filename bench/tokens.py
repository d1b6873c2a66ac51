"""Prompt tokens per query: ``summary`` vs ``bm25`` vs ``rpm`` (POPI claims up to 10x fewer tokens for summaries).

Prompt tokens are what the backend reported for the real answering calls of an evaluation
(``per_query[i]["tokens"]``), so they are the model tokenizer's counts, not an estimate. Next to
them, per user: the preference summary's size against the whole raw history it replaces (the
comparison POPI makes), with :func:`core.stages.summary.summary_token_report` (a word heuristic,
since the raw history is never sent to a model).

Usage::

    python bench/tokens.py                      # LaMP-3 users + sample data, 5 queries per user
    python bench/tokens.py --limit-per-user 3 --results .inflow/results/lamp3.json

``bench/results.py`` calls :func:`token_section` with its own LaMP-3 result and includes the
table in ``docs/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.data.load import load  # noqa: E402
from core.data.model import Dataset, Query, split_last  # noqa: E402
from core.data.tasks import LAMP_SPECS  # noqa: E402
from core.evaluate.harness import evaluate  # noqa: E402
from core.evaluate.result import EvalResult  # noqa: E402
from core.stages.pipeline import load_profile  # noqa: E402
from core.stages.summary import summary_token_report  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402

DATA = ROOT / ".." / "shared" / "data"
LAMP3 = DATA / "lamp3_users" / "user_histories.json"
SAMPLE = ROOT / "sample_data" / "reviews.csv"
TOKEN_METHODS = ("summary", "history", "bm25", "rpm")  # history: the full-context prompt summaries replace
REFERENCE = "zero"  # instruction + query only: what personalization adds is measured against it


def load_lamp3_users() -> tuple[Dataset, list[Query]]:
    """Load the five real LaMP-3 users as a LaMP_3 task and time-split them (last 20% = queries)."""
    ds = load([LAMP3], task=LAMP_SPECS[3].task(), name="lamp3_users").dataset
    return split_last(ds, 0.2)


def load_sample_reviews() -> tuple[Dataset, list[Query]]:
    """Load the project's sample reviews and time-split them (last 20% = queries)."""
    return split_last(load([SAMPLE], name="sample_reviews").dataset, 0.2)


def token_stats(result: EvalResult, methods: tuple[str, ...] = (REFERENCE, *TOKEN_METHODS)
                ) -> dict[str, dict[str, float]]:
    """Return ``{method: {"mean", "median", "n"}}`` of prompt tokens per query (failed calls left out)."""
    out: dict[str, dict[str, float]] = {}
    for m in methods:
        toks = [r["tokens"][m] for r in result.per_query if m in r["tokens"] and m not in r.get("errors", {})]
        if toks:
            out[m] = {"mean": float(statistics.fmean(toks)), "median": float(statistics.median(toks)), "n": len(toks)}
    return out


def summary_vs_history(ws: Workspace, result: EvalResult) -> list[dict[str, Any]]:
    """Return per user ``{user_id, summary_tokens, history_tokens, ratio}`` from the built profiles."""
    rows = []
    for uid in dict.fromkeys(r["user_id"] for r in result.per_query):
        profile = load_profile(ws, result.dataset_id, uid)
        if profile is None:
            continue
        rows.append({"user_id": uid, **summary_token_report(profile.summary, profile.items)})
    return rows


def markdown(name: str, result: EvalResult, stats: dict[str, dict[str, float]],
             users: list[dict[str, Any]]) -> str:
    """Render one data set's token figures as Markdown."""
    lines = [f"**{name}** ({result.n} queries, {result.n_users} users; backend {result.backend.get('kind')} "
             f"/ {result.backend.get('model')})", "",
             "| method | prompt tokens / query (mean) | median | added over `zero` (mean) | added, relative to "
             "`summary` |", "|---|---:|---:|---:|---:|"]
    ref = stats.get(REFERENCE, {}).get("mean")
    base = stats.get("summary", {}).get("mean")
    for m, s in stats.items():
        added = s["mean"] - ref if ref is not None else None
        base_added = base - ref if (base is not None and ref is not None) else None
        ratio = f"{added / base_added:.1f}x" if added is not None and base_added else "-"
        label = f"`{m}` (no personalization)" if m == REFERENCE else f"`{m}`"
        lines.append(f"| {label} | {s['mean']:.0f} | {s['median']:.0f} | "
                     f"{'-' if added is None or m == REFERENCE else f'{added:.0f}'} | "
                     f"{'-' if m == REFERENCE else ratio} |")
    if users:
        s_mean = statistics.fmean(u["summary_tokens"] for u in users)
        h_mean = statistics.fmean(u["history_tokens"] for u in users)
        lines += ["", f"Summary vs the raw history it stands for (per user, word-heuristic tokens): summary "
                      f"{s_mean:.0f} tokens vs history {h_mean:.0f} tokens on average "
                      f"({h_mean / s_mean:.0f}x fewer)." if s_mean else ""]
    return "\n".join(lines)


def run_tokens(ws: Workspace, dataset: Dataset, queries: list[Query], *, client: Any, embedder: Any, settings: Any,
               limit_per_user: int, cancel: Any = None, progress: Any = None) -> EvalResult:
    """Run only ``zero`` and :data:`TOKEN_METHODS` (no baselines) to measure their prompts."""
    return evaluate(ws, dataset, queries, methods=[REFERENCE, *TOKEN_METHODS], client=client, embedder=embedder,
                    settings=settings, limit_per_user=limit_per_user, baselines=False, store=True, cancel=cancel,
                    progress=progress)


def token_section(ws: Workspace, results: list[tuple[str, EvalResult]]) -> str:
    """Return the Markdown token section for already computed evaluation results."""
    parts = []
    for name, result in results:
        parts.append(markdown(name, result, token_stats(result), summary_vs_history(ws, result)))
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Measure and print prompt tokens per query on the LaMP-3 users and the sample data."""
    from core.embed.factory import make_embedder
    from core.llm.factory import make_client
    from core.llm.settings import BackendSettings
    from core.stages.profile import PipelineSettings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit-per-user", type=int, default=5, help="Queries per user (default 5).")
    ap.add_argument("--results", type=Path, help="An eval result JSON for the LaMP-3 users (skips that run).")
    ap.add_argument("--workspace", default=str(ROOT / ".inflow" / "tokens.sqlite"))
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    ws = Workspace(args.workspace)
    client = make_client(BackendSettings.from_env(), ws)
    embedder = make_embedder(args.embedder, workspace=ws)
    settings = PipelineSettings(embedder=args.embedder)
    runs: list[tuple[str, EvalResult]] = []
    if args.results:
        runs.append(("LaMP-3 users", EvalResult.from_dict(json.loads(args.results.read_text(encoding="utf-8")))))
    elif LAMP3.is_file():
        h, q = load_lamp3_users()
        runs.append(("LaMP-3 users", run_tokens(ws, h, q, client=client, embedder=embedder, settings=settings,
                                                limit_per_user=args.limit_per_user)))
    else:
        print(f"skipping the LaMP-3 users: {LAMP3} not found", file=sys.stderr)
    h, q = load_sample_reviews()
    runs.append(("Sample reviews", run_tokens(ws, h, q, client=client, embedder=embedder, settings=settings,
                                              limit_per_user=args.limit_per_user)))
    print(token_section(ws, runs))
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
