"""Regenerate ``docs/RESULTS.md``: LaMP-3 and tagging-proxy evaluations plus prompt tokens, on real data.

One command, no hand-typed figures::

    python bench/results.py            # or: make results

It runs, with the offline default backend (the embedded llama.cpp model) and a fresh workspace:

1. **LaMP-3 style** on the five real users in ``../shared/data/lamp3_users`` (time split, last 20%
   of each user's reviews are queries; the first ``--limit-per-user`` of them per user are run);
2. **LaMP-2 style tagging proxy** built from ``../shared/data/movielens_small``
   (:mod:`core.evaluate.movielens`);
3. **prompt tokens** of ``summary`` / ``bm25`` / ``rpm`` (:mod:`bench.tokens`) on both runs and on
   the project's sample reviews;

and writes the tables, the backend and model, the settings and the measured runtime to
``docs/RESULTS.md``. Result JSON and per-query CSV files go to ``.inflow/results/``. A time budget
(``--budget-minutes``, default 25) stops a run early (finished queries are kept and the document
says so) rather than overrun.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.tokens import (  # noqa: E402
    SAMPLE,
    load_lamp3_users,
    load_sample_reviews,
    markdown,
    run_tokens,
    summary_vs_history,
    token_stats,
)
from core.data.model import Task, split_last  # noqa: E402
from core.evaluate.baselines import BASELINE_DESCRIPTIONS  # noqa: E402
from core.evaluate.harness import (  # noqa: E402
    aggregate,
    evaluate,
    export_csv,
    export_json,
    export_metrics_csv,
)
from core.evaluate.metrics import LOWER_IS_BETTER  # noqa: E402
from core.evaluate.movielens import build_tagging_dataset  # noqa: E402
from core.methods.registry import DESCRIPTIONS, METHOD_NAMES  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402

MOVIELENS = ROOT / ".." / "shared" / "data" / "movielens_small"
OUT_DIR = ROOT / ".inflow" / "results"
DOC = ROOT / "docs" / "RESULTS.md"
METRIC_TITLES = {"mae": "MAE", "rmse": "RMSE", "accuracy": "Accuracy", "f1": "Macro-F1"}


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _loadavg() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def top_prediction(result: dict[str, Any], system: str, key: str) -> str:
    """Return the most common prediction of a system and its share, e.g. ``"1 (92%)"``."""
    preds = [r[key][system] for r in result["per_query"] if system in r.get(key, {})]
    if not preds:
        return "-"
    value, count = Counter(preds).most_common(1)[0]
    return f"`{value or '(none)'}` ({100 * count / len(preds):.0f}%)"


def metric_table(result: dict[str, Any]) -> str:
    """Markdown table of every method and baseline (best value of each metric in bold)."""
    metrics = result["metric_names"]
    best: dict[str, float] = {}
    for m in metrics:
        vals = [t[m] for table in (result["methods"], result["baselines"]) for t in table.values()
                if isinstance(t.get(m), float) and math.isfinite(t[m])]
        if vals:
            best[m] = min(vals) if m in LOWER_IS_BETTER else max(vals)
    head = ["system", "kind", *[METRIC_TITLES.get(m, m) for m in metrics], "n", "prompt tokens / query",
            "errors", "unparsed", "most common prediction"]
    align = ["---", "---"] + ["---:"] * (len(head) - 3) + ["---"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for kind, key, table in (("method", "predictions", result["methods"]), ("baseline", "baselines",
                                                                            result["baselines"])):
        for name, t in table.items():
            cells = []
            for m in metrics:
                s = _fmt(t.get(m))
                cells.append(f"**{s}**" if m in best and t.get(m) == best[m] else s)
            toks = _fmt(t.get("prompt_tokens_mean"), 0) if kind == "method" else "0"
            cells += [str(t.get("n", "")), toks, str(t.get("errors", "-")), str(t.get("unparsed", "-")),
                      top_prediction(result, name, key)]
            lines.append(f"| `{name}` | {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_user_table(result: dict[str, Any]) -> str:
    """Markdown table of the first metric per user (rows) and system (columns)."""
    metric = result["metric_names"][0]
    task = Task.from_dict(result["task_spec"])
    systems = [("predictions", m) for m in result["methods"]] + [("baselines", b) for b in result["baselines"]]
    users = list(dict.fromkeys(r["user_id"] for r in result["per_query"]))
    head = ["user", "n", *[name for _, name in systems]]
    lines = [f"{METRIC_TITLES.get(metric, metric)} per user:", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for uid in users:
        rows = [r for r in result["per_query"] if r["user_id"] == uid]
        cells = []
        for key, name in systems:
            agg = aggregate(task, rows, [name], key=key, labels=result.get("labels"))[name]
            cells.append(_fmt(agg.get(metric)))
        lines.append(f"| {uid} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_eval(ws: Workspace, name: str, history: Any, queries: list[Any], *, client: Any, embedder: Any,
             settings: Any, limit_per_user: int | None, deadline: float, k: int) -> dict[str, Any]:
    """Run one evaluation with progress on stderr and a deadline; export its JSON and CSVs."""
    t0 = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"\r  {name}: {done}/{total} queries, {time.perf_counter() - t0:.0f} s", end="", file=sys.stderr,
              flush=True)

    def stage(uid: str, st: str, done: int, total: int) -> None:
        if done == 0 or done == total:
            print(f"\r  {name}: building user {uid}: {st} {done}/{total}          ", end="", file=sys.stderr,
                  flush=True)

    result = evaluate(ws, history, queries, methods=list(METHOD_NAMES), client=client, embedder=embedder,
                      settings=settings, limit_per_user=limit_per_user, k=k, progress=progress,
                      cancel=lambda: time.perf_counter() > deadline, profile_progress=stage)
    print(file=sys.stderr)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    slug = name.lower().replace(" ", "_")
    export_json(result, OUT_DIR / f"{slug}.json")
    export_csv(result, OUT_DIR / f"{slug}_per_query.csv")
    export_metrics_csv(result, OUT_DIR / f"{slug}_metrics.csv")
    return result


def backend_line(result: dict[str, Any]) -> str:
    """One line naming the backend, model, embedder and stage implementations of a run."""
    b = result["backend"]
    return (f"backend **{b.get('kind')}** (llama.cpp), model **{b.get('model')}** "
            f"(free-text quality judged *{b.get('free_text_quality')}*), embedder **{b.get('embedder')}**, "
            f"feature extractor **{b.get('extractor')}**, reasoning paths **{b.get('paths')}**, k = {result['k']}")


def main(argv: list[str] | None = None) -> int:
    """Run everything and write docs/RESULTS.md."""
    from core.embed.factory import make_embedder
    from core.llm.factory import make_client
    from core.llm.settings import BackendSettings
    from core.stages.profile import PipelineSettings

    ap = argparse.ArgumentParser(description="Regenerate docs/RESULTS.md from real-data runs.")
    ap.add_argument("--limit-per-user", type=int, default=20, help="LaMP-3 queries per user (default 20).")
    ap.add_argument("--tag-limit-per-user", type=int, default=None, help="Tagging queries per user (default all).")
    ap.add_argument("--token-limit-per-user", type=int, default=3,
                    help="Sample-review queries per user for the token table (default 3).")
    ap.add_argument("--k", type=int, default=4, help="History items retrieved per query (default 4).")
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    ap.add_argument("--budget-minutes", type=float, default=25.0, help="Stop runs before this (default 25).")
    ap.add_argument("--workspace", type=Path, default=ROOT / ".inflow" / "results.sqlite")
    ap.add_argument("--reuse", action="store_true", help="Keep the workspace (LLM and embedding caches) from a "
                    "previous run instead of starting cold.")
    ap.add_argument("--out", type=Path, default=DOC)
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    deadline_total = t_start + args.budget_minutes * 60.0
    load_start = _loadavg()
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(str(args.workspace) + suffix).unlink(missing_ok=True)
    ws = Workspace(args.workspace)
    client = make_client(BackendSettings(kind="local"), ws)
    embedder = make_embedder(args.embedder, workspace=ws)
    settings = PipelineSettings(embedder=args.embedder)
    timings: dict[str, float] = {}

    print("LaMP-3 users...", file=sys.stderr)
    t = time.perf_counter()
    lamp_h, lamp_q = load_lamp3_users()
    lamp = run_eval(ws, "LaMP-3 users", lamp_h, lamp_q, client=client, embedder=embedder, settings=settings,
                    limit_per_user=args.limit_per_user, deadline=t_start + 0.62 * (deadline_total - t_start), k=args.k)
    timings["lamp3"] = time.perf_counter() - t

    print("MovieLens tagging proxy...", file=sys.stderr)
    t = time.perf_counter()
    tag_ds = build_tagging_dataset(MOVIELENS)
    tag_h, tag_q = split_last(tag_ds, 0.2)
    tag = run_eval(ws, "MovieLens tags", tag_h, tag_q, client=client, embedder=embedder, settings=settings,
                   limit_per_user=args.tag_limit_per_user, deadline=t_start + 0.9 * (deadline_total - t_start),
                   k=args.k)
    timings["tagging"] = time.perf_counter() - t

    print("Sample reviews (tokens)...", file=sys.stderr)
    t = time.perf_counter()
    s_h, s_q = load_sample_reviews()
    sample = run_tokens(ws, s_h, s_q, client=client, embedder=embedder, settings=settings,
                        limit_per_user=args.token_limit_per_user, cancel=lambda: time.perf_counter() > deadline_total)
    timings["tokens"] = time.perf_counter() - t
    total = time.perf_counter() - t_start

    doc = render(args, lamp=lamp, lamp_queries=len(lamp_q), tag=tag, tag_queries=len(tag_q), tag_ds=tag_ds,
                 sample=sample, ws=ws, timings=timings, total=total, load=(load_start, _loadavg()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(doc, encoding="utf-8")
    ws.close()
    print(f"wrote {args.out} in {total / 60:.1f} min", file=sys.stderr)
    return 0


def _stopped(result: dict[str, Any]) -> str:
    if result["cancelled"]:
        return (f" **The time budget stopped this run after {result['n']} of {result['n_planned']} planned "
                "queries; the figures cover the finished ones.**")
    return ""


def render(args: argparse.Namespace, *, lamp: dict[str, Any], lamp_queries: int, tag: dict[str, Any],
           tag_queries: int, tag_ds: Any, sample: dict[str, Any], ws: Workspace, timings: dict[str, float],
           total: float, load: tuple[str, str]) -> str:
    """Return the whole RESULTS.md text."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    tag_users = len(tag_ds.users)
    tag_labels = [len(u.items[0].meta["labels"]) for u in tag_ds.users]
    lamp_users = len({q["user_id"] for q in lamp["per_query"]})
    out = [
        "# Results",
        "",
        f"Generated by `python bench/results.py` on {now}. **Do not edit by hand**: every figure below comes "
        "from that command (result JSON and per-query CSV files land in `.inflow/results/`).",
        "",
        f"- Machine: {os.cpu_count()} CPU cores, Python {platform.python_version()}; load average (1/5/15 min) "
        f"{load[0]} at the start and {load[1]} at the end (other work shared the machine).",
        f"- Runtime of the whole command: **{total / 60:.1f} min** (LaMP-3 {timings['lamp3']:.0f} s, tagging "
        f"{timings['tagging']:.0f} s, sample-review tokens {timings['tokens']:.0f} s), from a cold workspace"
        f"{' (reused caches: --reuse)' if args.reuse else ' (no LLM or embedding cache)'}; time budget "
        f"{args.budget_minutes:.0f} min.",
        f"- Setup (both tasks): {backend_line(lamp)}. The embedded model is the offline default; being tiny, "
        "the pipeline uses the deterministic stage implementations for it (lexicon features, keyword factor "
        "names, template summary and paths) and constrains every answer to the valid scores / labels.",
        "- Metrics as LaMP defines them (`core/evaluate/metrics.py`): MAE / RMSE for scores (a prediction that "
        "is not a number in 1-5 counts as the farther of 1 and 5 from the gold), accuracy / macro-F1 over the "
        "label set for labels. Best value per column in bold.",
        "",
        "## LaMP-3 style: five real users",
        "",
        f"Data: `../shared/data/lamp3_users/user_histories.json` (5 users, reviews with 1-5 scores, LaMP-3 "
        f"instruction). Time split: the last 20% of each user's reviews are queries ({lamp_queries} in all), "
        f"the earlier 80% the history each profile is built from. For runtime, the first "
        f"{args.limit_per_user} held-out reviews of each user are answered (`--limit-per-user "
        f"{args.limit_per_user}`): **n = {lamp['n']} queries over {lamp_users} users**.{_stopped(lamp)}",
        "",
        metric_table(lamp),
        "",
        per_user_table(lamp),
        "",
        "## LaMP-2 style tagging proxy: MovieLens tags",
        "",
        f"Data: `../shared/data/movielens_small` (`tags.csv` with a header, `movies.csv` without one). Built by "
        "`core/evaluate/movielens.py`: input = movie title + genres, output = one tag; each user's label set is "
        "the tags they applied to at least 5 distinct movies (sizes "
        f"{', '.join(str(n) for n in tag_labels)}); a movie's label is the first of its tags in that set; users "
        f"with at least 15 such movies ({tag_users} users, {sum(len(u.items) for u in tag_ds.users)} movies); "
        f"movies in order of first tag; the last 20% per user are queries ({tag_queries}). Answers are "
        f"constrained to the user's own label set; macro-F1 runs over the union ({len(tag.get('labels') or [])} "
        f"labels). **n = {tag['n']} queries.**{_stopped(tag)}",
        "",
        metric_table(tag),
        "",
        per_user_table(tag),
        "",
        "## Prompt tokens per query (`bench/tokens.py`)",
        "",
        "Backend-reported prompt tokens of the answering call(s) of `summary`, `bm25` and `rpm`, and the summary "
        "against the raw history it condenses (POPI reports up to 10x fewer tokens for summaries).",
        "",
        markdown("LaMP-3 users", lamp, token_stats(lamp), summary_vs_history(ws, lamp)),
        "",
        markdown("MovieLens tags", tag, token_stats(tag), summary_vs_history(ws, tag)),
        "",
        markdown(f"Sample reviews (`{SAMPLE.relative_to(ROOT)}`, first {args.token_limit_per_user} held-out "
                 "reviews per user)", sample, token_stats(sample), summary_vs_history(ws, sample)),
        "",
        "## What the systems are",
        "",
        *[f"- `{m}`: {DESCRIPTIONS[m]}" for m in METHOD_NAMES],
        *[f"- baseline `{b}`: {d}" for b, d in BASELINE_DESCRIPTIONS.items()],
        "",
        "Baselines need no model. `knn-feature` uses the same feature-level retrieval as `rpm` and `knn-bm25` the "
        "same BM25 retrieval as `bm25`; comparing the two shows whether feature-level retrieval finds "
        "reasoning-aligned history items independently of the LLM. A method's prediction is its parsed answer; "
        "`unparsed` counts answers that were not a valid score / label (scored as LaMP does); `errors` counts "
        "failed calls.",
        "",
        "Regenerate with `python bench/results.py` (`make results`); `--help` lists the options.",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
