"""Regenerate ``docs/RESULTS.md``: LaMP-3 and tagging-proxy evaluations plus prompt tokens, on real data.

One command, no hand-typed figures::

    python bench/results.py            # or: make results

It runs, with the local backend's embedded llama.cpp model named by ``--model`` (default: the
project default, Qwen2.5-Coder-1.5B; ``--model qwen2.5-coder-0.5b`` for the fast one) and a fresh
workspace:

1. **LaMP-3 style** on the five real users in ``../shared/data/lamp3_users`` (time split, last 20%
   of each user's reviews are queries): the no-model baselines on every query, every method
   and the baselines on the first ``--limit-per-user`` queries of each user (the embedded model
   processes only a few hundred tokens per second on two cores);
   then the faithfulness probes (:mod:`core.evaluate.faithfulness`) on the first
   ``--faith-limit-per-user`` queries of each user;
2. **LaMP-7** (``../shared/data/lamp7_dev500``, paraphrase a tweet in the user's style; each
   question is its own user): the methods and the no-model baselines, ``copy-input`` among them,
   on the first ``--lamp7-limit`` questions in file order, ROUGE-1 / ROUGE-L;
3. **LaMP-2 style tagging proxy** built from ``../shared/data/movielens_small``
   (:mod:`core.evaluate.movielens`), the same way (``--tag-limit-per-user``);
4. **prompt tokens** of ``summary`` / ``bm25`` / ``rpm`` (:mod:`bench.tokens`) on both runs and on
   the project's sample reviews;

and writes the tables, the backend and model, the settings and the measured runtime to
``docs/RESULTS.md``. Result JSON and per-query CSV files go to ``.inflow/results/``. A time budget
(``--budget-minutes``, default 45) is shared out between the sections; a section starts a query
only when the slowest of its recent queries would still end within its share (:class:`Deadline`),
so the command ends within the budget (plus the model-free baseline runs and the rendering) and
the document says how many queries each table covers.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
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
from core.data.load import load  # noqa: E402
from core.data.model import Task, split_last  # noqa: E402
from core.data.tasks import LAMP_SPECS  # noqa: E402
from core.evaluate.baselines import BASELINE_DESCRIPTIONS  # noqa: E402
from core.evaluate.faithfulness import faithfulness_rows  # noqa: E402
from core.evaluate.harness import (  # noqa: E402
    aggregate,
    evaluate,
    export_csv,
    export_json,
    export_metrics_csv,
)
from core.evaluate.movielens import build_tagging_dataset  # noqa: E402
from core.evaluate.result import EvalResult  # noqa: E402
from core.llm.local_models import DEFAULT_MODEL, MODELS  # noqa: E402
from core.methods.registry import DESCRIPTIONS, METHOD_NAMES  # noqa: E402
from core.metrics import LOWER_IS_BETTER  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402

MOVIELENS = ROOT / ".." / "shared" / "data" / "movielens_small"
LAMP7 = ROOT / ".." / "shared" / "data" / "lamp7_dev500" / "dev_questions.json"
OUT_DIR = ROOT / ".inflow" / "results"
DOC = ROOT / "docs" / "RESULTS.md"
WARM = "reusing an earlier workspace (--reuse)"
COLD = "from a cold workspace (no LLM or embedding cache)"
METRIC_TITLES = {"mae": "MAE", "rmse": "RMSE", "accuracy": "Accuracy", "f1": "Macro-F1", "rouge-1": "ROUGE-1",
                 "rouge-l": "ROUGE-L"}


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _loadavg() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _commit() -> str:
    """The short commit hash of the code, marked when core/ or bench/ has uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "core", "bench"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (with uncommitted changes under core/ or bench/)" if dirty else "")


def top_prediction(result: EvalResult, system: str, key: str) -> str:
    """Return the most common prediction of a system and its share, e.g. ``"1 (92%)"``."""
    preds = [r[key][system] for r in result.per_query if system in r.get(key, {})]
    if not preds:
        return "-"
    value, count = Counter(preds).most_common(1)[0]
    return f"`{value or '(none)'}` ({100 * count / len(preds):.0f}%)"


def metric_table(result: EvalResult) -> str:
    """Markdown table of every method and baseline (best value of each metric in bold).

    Score tasks also get the official LaMP evaluator's figures (``lamp:`` columns; the rules differ
    only for out-of-range and non-finite numbers); ``rescues`` counts parsed answers the parser changed.
    """
    metrics = result.metric_names
    lamp_cols = list(metrics) if result.task_kind == "score" else []
    best: dict[str, float] = {}
    for m in metrics:
        vals = [t[m] for table in (result.methods, result.baselines) for t in table.values()
                if isinstance(t.get(m), float) and math.isfinite(t[m])]
        if vals:
            best[m] = min(vals) if m in LOWER_IS_BETTER else max(vals)
    head = ["system", "kind", *[METRIC_TITLES.get(m, m) for m in metrics],
            *[f"{METRIC_TITLES.get(m, m)} (LaMP rule)" for m in lamp_cols], "n", "prompt tokens / query",
            "errors", "unparsed", "rescues", "most common prediction"]
    align = ["---", "---"] + ["---:"] * (len(head) - 3) + ["---"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for kind, key, table in (("method", "predictions", result.methods), ("baseline", "baselines",
                                                                            result.baselines)):
        for name, t in table.items():
            cells = []
            for m in metrics:
                s = _fmt(t.get(m))
                cells.append(f"**{s}**" if m in best and t.get(m) == best[m] else s)
            cells += [_fmt((t.get("lamp") or {}).get(m)) for m in lamp_cols]
            toks = _fmt(t.get("prompt_tokens_mean"), 0) if kind == "method" else "0"
            cells += [str(t.get("n", "")), toks, str(t.get("errors", "-")), str(t.get("unparsed", "-")),
                      str(t.get("rescues", "-")), top_prediction(result, name, key)]
            lines.append(f"| `{name}` | {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_user_table(result: EvalResult) -> str:
    """Markdown table of the first metric per user (rows) and system (columns)."""
    metric = result.metric_names[0]
    task = Task.from_dict(result.task_spec)
    systems = [("predictions", m) for m in result.methods] + [("baselines", b) for b in result.baselines]
    users = list(dict.fromkeys(r["user_id"] for r in result.per_query))
    head = ["user", "n", *[name for _, name in systems]]
    lines = [f"{METRIC_TITLES.get(metric, metric)} per user:", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for uid in users:
        rows = [r for r in result.per_query if r["user_id"] == uid]
        cells = []
        for key, name in systems:
            agg = aggregate(task, rows, [name], key=key, labels=result.labels)[name]
            cells.append(_fmt(agg.get(metric)))
        lines.append(f"| {uid} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def faithfulness_table(result: EvalResult) -> str:
    """Markdown table of the faithfulness probes: one row per method and kind of evidence removed."""
    rows = faithfulness_rows(result)
    head = ["method", "removed", "n", "not used", "moved", "shift", "kept same", "kept distance"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [f"`{r['method']}`", r["removed"], str(r["n"]), str(r["not used"]),
                 *[_fmt(r[m]) for m in ("moved", "shift", "kept_same", "kept_distance")]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


class Deadline:
    """A cancel check that stops *starting* queries that would end past a deadline.

    A query is started only when the slowest of the last few queries would still finish in time
    (a user's first query also builds the profile and fits ``rpm``'s rule, so it is the slow one),
    so a run ends by its deadline instead of overrunning it by one long query.

    Args:
        at: The deadline (``time.perf_counter()`` seconds); None never stops.
        window: How many recent query durations the estimate looks at.
        expect: The duration assumed before any query of this run has finished (e.g. the slowest
            query of the section before, which the first query of this one should not undercut).
    """

    def __init__(self, at: float | None, window: int = 5, expect: float = 0.0) -> None:
        """Create the check."""
        self.at = at
        self.window = window
        self.expect = expect
        self.durations: list[float] = []
        self._started: float | None = None

    @property
    def slowest(self) -> float:
        """The slowest recent query (the expectation until one has finished)."""
        return max(self.durations, default=self.expect)

    def done(self) -> None:
        """Record that a query finished (call from the progress callback)."""
        now = time.perf_counter()
        if self._started is not None:
            self.durations = [*self.durations, now - self._started][-self.window:]
        self._started = now

    def __call__(self) -> bool:
        """True when the next query would not finish by the deadline."""
        now = time.perf_counter()
        if self._started is None:
            self._started = now
        if self.at is None:
            return False
        return now + self.slowest > self.at


def run_eval(ws: Workspace, name: str, history: Any, queries: list[Any], *, methods: list[str], client: Any,
             embedder: Any, settings: Any, limit_per_user: int | None, deadline: Deadline | None,
             k: int, faithfulness: bool = False) -> EvalResult:
    """Run one evaluation with progress on stderr and a deadline; export its JSON and CSVs."""
    t0 = time.perf_counter()
    cancel = deadline or Deadline(None)

    def progress(done: int, total: int) -> None:
        cancel.done()
        print(f"\r  {name}: {done}/{total} queries, {time.perf_counter() - t0:.0f} s", end="", file=sys.stderr,
              flush=True)

    def stage(uid: str, st: str, done: int, total: int) -> None:
        if done == 0 or done == total:
            print(f"\r  {name}: building user {uid}: {st} {done}/{total}          ", end="", file=sys.stderr,
                  flush=True)

    result = evaluate(ws, history, queries, methods=methods, client=client, embedder=embedder, settings=settings,
                      limit_per_user=limit_per_user, k=k, progress=progress, cancel=cancel, profile_progress=stage,
                      order="round_robin", faithfulness=faithfulness)
    print(file=sys.stderr)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    slug = name.lower().replace(" ", "_").replace("-", "")
    export_json(result, OUT_DIR / f"{slug}.json")
    export_csv(result, OUT_DIR / f"{slug}_per_query.csv")
    export_metrics_csv(result, OUT_DIR / f"{slug}_metrics.csv")
    return result


def uncached_answer_calls(ws: Workspace, since: float = 0.0, run_id: str | None = None) -> list[dict[str, Any]]:
    """The answering model calls that reached the model and succeeded, made since ``since`` (epoch seconds)."""
    return [t for t in ws.list_traces(run_id, stage="answer", limit=1_000_000)
            if not t["cache_hit"] and not t["error"] and (t["created_at"] or 0.0) >= since]


def throughput(ws: Workspace, since: float = 0.0) -> dict[str, float]:
    """Model calls, tokens and tokens/s of the uncached answering calls made since ``since`` (epoch seconds).

    A reused workspace holds earlier runs' calls (other models too); only this command's count.
    """
    calls = uncached_answer_calls(ws, since)
    secs = sum(t["latency_ms"] or 0.0 for t in calls) / 1000.0
    tin = sum(t["tokens_in"] or 0 for t in calls)
    tout = sum(t["tokens_out"] or 0 for t in calls)
    return {"calls": len(calls), "seconds": secs, "tokens_in": tin, "tokens_out": tout,
            "tokens_per_s": (tin + tout) / secs if secs else math.nan}


def backend_line(result: EvalResult) -> str:
    """One line naming the backend, model, embedder and stage implementations of a run."""
    b = result.backend
    return (f"backend **{b.get('kind')}** (llama.cpp), model **{b.get('model')}** "
            f"(free-text quality judged *{b.get('free_text_quality')}*), embedder **{b.get('embedder')}**, "
            f"feature extractor **{b.get('extractor')}**, reasoning paths **{b.get('paths')}**, k = {result.k}")


def main(argv: list[str] | None = None) -> int:
    """Run everything and write docs/RESULTS.md."""
    from core.embed.factory import make_embedder
    from core.llm.factory import make_client
    from core.llm.settings import BackendSettings
    from core.stages.profile import PipelineSettings

    ap = argparse.ArgumentParser(description="Regenerate docs/RESULTS.md from real-data runs.")
    ap.add_argument("--limit-per-user", type=int, default=5,
                    help="LaMP-3 queries per user answered by the methods (default 5).")
    ap.add_argument("--tag-limit-per-user", type=int, default=4,
                    help="Tagging queries per user answered by the methods (default 4).")
    ap.add_argument("--faith-limit-per-user", type=int, default=1,
                    help="LaMP-3 queries per user whose answers are probed for faithfulness (default 1).")
    ap.add_argument("--lamp7-limit", type=int, default=40,
                    help="LaMP-7 questions (the first, in file order) answered by the methods (default 40).")
    ap.add_argument("--token-limit-per-user", type=int, default=2,
                    help="Sample-review queries per user for the token table (default 2).")
    ap.add_argument("--k", type=int, default=4, help="History items retrieved per query (default 4).")
    ap.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODELS),
                    help=f"Embedded local model that answers (default {DEFAULT_MODEL}); named in the document.")
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    ap.add_argument("--budget-minutes", type=float, default=45.0, help="Stop runs before this (default 45).")
    ap.add_argument("--workspace", type=Path, default=ROOT / ".inflow" / "results.sqlite")
    ap.add_argument("--reuse", action="store_true", help="Keep the workspace (LLM and embedding caches) from a "
                    "previous run instead of starting cold.")
    ap.add_argument("--methods", nargs="+", default=list(METHOD_NAMES), choices=list(METHOD_NAMES),
                    help="Answering methods to run (default all); the baselines always run.")
    ap.add_argument("--note", default="", help="A sentence for the setup line (e.g. why a model was chosen).")
    ap.add_argument("--out", type=Path, default=DOC)
    args = ap.parse_args(argv)

    t_start, wall_start = time.perf_counter(), time.time()
    args.commit = _commit()  # the code that runs, not whatever is checked out when the document is written
    budget = args.budget_minutes * 60.0
    load_start = _loadavg()
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(str(args.workspace) + suffix).unlink(missing_ok=True)
    ws = Workspace(args.workspace)
    client = make_client(BackendSettings(kind="local", local_model=args.model), ws)
    embedder = make_embedder(args.embedder, workspace=ws)
    settings = PipelineSettings(embedder=args.embedder)
    timings: dict[str, float] = {}
    common = {"client": client, "embedder": embedder, "settings": settings, "k": args.k}

    t = time.perf_counter()
    print("LaMP-3 users: baselines on every held-out review (builds the profiles)...", file=sys.stderr)
    lamp_h, lamp_q = load_lamp3_users()
    lamp_base = run_eval(ws, "LaMP-3 baselines", lamp_h, lamp_q, methods=[], limit_per_user=None, deadline=None,
                         **common)
    print("LaMP-3 users: methods...", file=sys.stderr)
    d_lamp = Deadline(t_start + 0.45 * budget)
    lamp = run_eval(ws, "LaMP-3 methods", lamp_h, lamp_q, methods=list(args.methods),
                    limit_per_user=args.limit_per_user, deadline=d_lamp, **common)
    timings["lamp3"] = time.perf_counter() - t

    t = time.perf_counter()
    print("LaMP-3 users: faithfulness probes...", file=sys.stderr)
    faith = run_eval(ws, "LaMP-3 faithfulness", lamp_h, lamp_q, methods=list(args.methods),
                     limit_per_user=args.faith_limit_per_user, faithfulness=True,
                     deadline=Deadline(t_start + 0.62 * budget, expect=d_lamp.slowest),
                     **common)
    timings["faithfulness"] = time.perf_counter() - t

    t = time.perf_counter()
    print("LaMP-7: methods and baselines...", file=sys.stderr)
    l7_ds = load([LAMP7], task=LAMP_SPECS[7].task(), name="lamp7_dev500").dataset
    l7_q = [q for q in l7_ds.queries if q.gold is not None][:args.lamp7_limit]
    lamp7 = run_eval(ws, "LaMP-7", l7_ds, l7_q, methods=list(args.methods), limit_per_user=None,
                     deadline=Deadline(t_start + 0.78 * budget, expect=0.5 * d_lamp.slowest), **common)
    timings["lamp7"] = time.perf_counter() - t

    t = time.perf_counter()
    print("MovieLens tagging proxy: baselines, then methods...", file=sys.stderr)
    tag_ds = build_tagging_dataset(MOVIELENS)
    tag_h, tag_q = split_last(tag_ds, 0.2)
    tag_base = run_eval(ws, "MovieLens baselines", tag_h, tag_q, methods=[], limit_per_user=None, deadline=None,
                        **common)
    tag = run_eval(ws, "MovieLens methods", tag_h, tag_q, methods=list(args.methods),
                   limit_per_user=args.tag_limit_per_user,
                   deadline=Deadline(t_start + 0.9 * budget, expect=0.5 * d_lamp.slowest), **common)
    timings["tagging"] = time.perf_counter() - t

    t = time.perf_counter()
    print("Sample reviews (prompt tokens)...", file=sys.stderr)
    s_h, s_q = load_sample_reviews()
    tokens_deadline = Deadline(t_start + 0.97 * budget, expect=0.5 * d_lamp.slowest)
    sample = run_tokens(ws, s_h, s_q, client=client, embedder=embedder, settings=settings,
                        limit_per_user=args.token_limit_per_user, cancel=tokens_deadline,
                        progress=lambda done, total: tokens_deadline.done())
    timings["tokens"] = time.perf_counter() - t
    total = time.perf_counter() - t_start

    doc = render(args, lamp=lamp, lamp_base=lamp_base, faith=faith, lamp7=lamp7, tag=tag, tag_base=tag_base,
                 tag_ds=tag_ds,
                 sample=sample, ws=ws, timings=timings, total=total, load=(load_start, _loadavg()),
                 speed=throughput(ws, wall_start))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(doc, encoding="utf-8")
    ws.close()
    print(f"wrote {args.out} in {total / 60:.1f} min", file=sys.stderr)
    return 0


def _stopped(result: EvalResult) -> str:
    if result.cancelled:
        return (f" **The time budget stopped this run after {result.n} of {result.n_planned} planned "
                "queries; the figures cover the finished ones.**")
    return ""


def render(args: argparse.Namespace, *, lamp: EvalResult, lamp_base: EvalResult, faith: EvalResult,
           lamp7: EvalResult, tag: EvalResult,
           tag_base: EvalResult, tag_ds: Any, sample: EvalResult, ws: Workspace, timings: dict[str, float],
           total: float, load: tuple[str, str], speed: dict[str, float]) -> str:
    """Return the whole RESULTS.md text."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    tag_labels = [len(u.items[0].meta["labels"]) for u in tag_ds.users]
    out = [
        "# Results",
        "",
        f"Generated by `python bench/results.py` on {now}. **Do not edit by hand**: every figure below comes "
        "from that command (result JSON and per-query CSV files land in `.inflow/results/`).",
        "",
        f"- Machine: {os.cpu_count()} CPU cores, Python {platform.python_version()}; load average (1/5/15 min) "
        f"{load[0]} at the start and {load[1]} at the end.",
        f"- Runtime of the whole command: **{total / 60:.1f} min** (LaMP-3 {timings['lamp3']:.0f} s, LaMP-7 "
        f"{timings['lamp7']:.0f} s, tagging "
        f"{timings['tagging']:.0f} s, faithfulness {timings['faithfulness']:.0f} s, sample-review tokens "
        f"{timings['tokens']:.0f} s), "
        f"{WARM if args.reuse else COLD}; time budget {args.budget_minutes:.0f} min (each section stops starting "
        "queries that would end past its share of it, so a table may cover fewer queries than asked; its n says "
        "how many).",
        f"- Code: commit `{getattr(args, 'commit', None) or _commit()}` (at the start); the figures are for that "
        "code (the local backend's speed and the `rpm` "
        "method change between commits).",
        *([f"- Methods: {', '.join(f'`{m}`' for m in args.methods)} only (`--methods`); the others were not run."]
          if list(args.methods) != list(METHOD_NAMES) else []),
        f"- Setup (every run): {backend_line(lamp)}. Model chosen with `--model {args.model}` (the default is "
        f"`{DEFAULT_MODEL}`){'' if args.model == DEFAULT_MODEL else ', **not the default model**'}. "
        f"{args.note + ' ' if args.note else ''}The local models are judged weak for free text (GGUF files "
        "under 1.5 GB), so the pipeline uses the deterministic stage implementations for them (lexicon features, "
        "keyword factor names, template summary and paths) and every answer is read by scoring the valid scores / "
        "labels.",
        f"- Model speed in this run: {speed['calls']} uncached answering calls, {speed['tokens_in']} prompt + "
        f"{speed['tokens_out']} completion tokens in {speed['seconds']:.0f} s = **{_fmt(speed['tokens_per_s'], 0)} "
        "tokens/s**. This is what caps how many queries the methods answer within the time budget "
        "(`--limit-per-user`); the no-model baselines run on every held-out query.",
        "- Metrics as LaMP defines them (`core/metrics.py`): MAE / RMSE for scores (a prediction that "
        "is not a number in 1-5 counts as the farther of 1 and 5 from the gold), accuracy / macro-F1 over the "
        "label set for labels. Best value per column in bold. The *LaMP rule* columns apply the official "
        "evaluator exactly (`eval/evaluation.py` of LaMP-Benchmark/LaMP): a number out of 1-5 is scored as its "
        "raw value; NaN / infinity, on which the official code crashes, count as non-numbers. `rescues` counts "
        "answers the parser had to change (e.g. `4 stars` -> 4); the raw completions are in the result JSON.",
        "",
        "## LaMP-3 style: five real users",
        "",
        "Data: `../shared/data/lamp3_users/user_histories.json` (5 users, reviews with 1-5 scores, LaMP-3 "
        "instruction). Time split: the last 20% of each user's reviews are the queries "
        f"({lamp_base.n_planned} in all), the earlier 80% the history each user's profile is built from.",
        "",
        f"### Methods and baselines on the first {args.limit_per_user} held-out reviews of each user "
        f"(n = {lamp.n})",
        "",
        f"`--limit-per-user {args.limit_per_user}` (for runtime).{_stopped(lamp)}",
        "",
        metric_table(lamp),
        "",
        per_user_table(lamp),
        "",
        f"### Baselines on every held-out review (n = {lamp_base.n})",
        "",
        metric_table(lamp_base),
        "",
        per_user_table(lamp_base),
        "",
        f"### Faithfulness on the first {args.faith_limit_per_user} held-out review(s) of each user "
        f"(n = {faith.n})",
        "",
        "`core/evaluate/faithfulness.py`: for each answer the top factor, the retrieved items or the summary is "
        "removed and the query re-answered (comprehensiveness: `moved` = share of answers that changed, `shift` = "
        "mean |score change|), then that evidence alone is kept (sufficiency: `kept same` = share reproduced, "
        "`kept distance` = mean |score change|). `not used`: queries where the method never showed that "
        f"evidence (nothing to measure).{_stopped(faith)}",
        "",
        faithfulness_table(faith),
        "",
        f"The same {faith.n} queries answered by every method, with the no-model baselines beside:",
        "",
        metric_table(faith),
        "",
        f"## LaMP-7: paraphrase a tweet in the user's style (n = {lamp7.n})",
        "",
        "Data: `../shared/data/lamp7_dev500/` (the first 500 LaMP-7 dev questions; each question is its own "
        "user, whose profile is built from that question's tweets). The first "
        f"`--lamp7-limit {args.lamp7_limit}` questions in file order, every system on the same questions; "
        "ROUGE-1 / ROUGE-L as LaMP scores them. `copy-input` returns the given text unchanged: the given text is "
        "a paraphrase of the user's own tweet, so it is the bar a rewrite has to clear. `rpm` ends with a "
        "wording step (`core/methods/style.py`) that keeps its rewrite only if it restates the given text "
        "(nearer to it than to any earlier text of the user) and with evidence that the rewrite's "
        f"words are the user's, else the given text.{_stopped(lamp7)}",
        "",
        metric_table(lamp7),
        "",
        "## LaMP-2 style tagging proxy: MovieLens tags",
        "",
        "Data: `../shared/data/movielens_small` (`tags.csv` with a header, `movies.csv` without one). Built by "
        "`core/evaluate/movielens.py`: input = movie title + genres, output = one tag; each user's label set is "
        "the tags they applied to at least 5 distinct movies (sizes "
        f"{', '.join(str(n) for n in tag_labels)}); a movie's label is the first of its tags in that set; users "
        f"with at least 15 such movies ({len(tag_ds.users)} users, {sum(len(u.items) for u in tag_ds.users)} "
        "movies); movies in order of first tag; the last 20% per user are the queries "
        f"({tag_base.n_planned}). Answers are constrained to the user's own label set (listed alphabetically); "
        f"macro-F1 runs over the union ({len(tag_base.labels or [])} labels).",
        "",
        f"### Methods and baselines on the first {args.tag_limit_per_user} held-out movies of each user "
        f"(n = {tag.n})",
        "",
        f"`--tag-limit-per-user {args.tag_limit_per_user}` (for runtime).{_stopped(tag)}",
        "",
        metric_table(tag),
        "",
        per_user_table(tag),
        "",
        f"### Baselines on every held-out movie (n = {tag_base.n})",
        "",
        metric_table(tag_base),
        "",
        per_user_table(tag_base),
        "",
        "## Prompt tokens per query (`bench/tokens.py`)",
        "",
        "Backend-reported prompt tokens of the answering call of `summary`, `history` (the full-history prompt, "
        "as much as the context holds), `bm25` and `rpm`, next to `zero` (instruction and query only), and the "
        "summary against the raw history it condenses (POPI reports up to 10x fewer tokens for summaries). "
        "A summary written by one model and used by another (the 0.5B's by the 1.5B and back) is measured by "
        "`bench/portability.py` in `docs/PORTABILITY.md`.",
        "",
        markdown("LaMP-3 users", lamp, token_stats(lamp), summary_vs_history(ws, lamp)),
        "",
        markdown("MovieLens tags", tag, token_stats(tag), summary_vs_history(ws, tag)),
        "",
        markdown(f"Sample reviews (`{SAMPLE.relative_to(ROOT)}`, time split, first {args.token_limit_per_user} "
                 "held-out reviews per user)", sample, token_stats(sample), summary_vs_history(ws, sample)),
        "",
        "## What the systems are",
        "",
        *[f"- `{m}`: {DESCRIPTIONS[m]}" for m in args.methods],
        *[f"- baseline `{b}`: {d}" for b, d in BASELINE_DESCRIPTIONS.items()],
        "",
        "Baselines need no model. `knn-feature` uses the same feature-level retrieval as `rpm` and `knn-bm25` the "
        "same BM25 retrieval as `bm25`; comparing the two shows whether feature-level retrieval finds "
        "reasoning-aligned history items independently of the LLM. A method's prediction is its parsed answer; "
        "`unparsed` counts answers that were not a valid score / label (scored as LaMP does); `errors` counts "
        "failed calls; `most common prediction` shows how varied a system's answers are.",
        "",
        "Regenerate with `python bench/results.py` (`make results`); `--help` lists the options (e.g. "
        "`--limit-per-user 20` for more LaMP-3 queries when time allows).",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
