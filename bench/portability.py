"""Cross-model portability (POPI): a summary written by one local model, used by another, on real data.

    python bench/portability.py [--models qwen2.5-coder-0.5b,qwen2.5-coder-1.5b] [--users 5] [--per-user 4]
                                [--lamp7 0] [--budget-minutes 40] [--out docs/PORTABILITY.md]

POPI's claim: a preference summary inferred once transfers to another model and replaces most of
the context. On the five real LaMP-3 users (``../shared/data/lamp3_users``; the last 20% of each
user's reviews are the queries, the first ``--per-user`` of them taken round-robin over users),
every model in ``--models`` writes each user's summary once (the LLM summarizer of
:mod:`core.stages.summary`), and every model answers every chosen query with

* ``summary`` over its own summary and over each other model's summary,
* ``summary`` over the profile's deterministic template summary (written by no model),
* ``history`` (the full-history prompt, as much as the context holds), ``bm25`` and ``zero``,

next to the no-model baselines on the same queries (:func:`core.evaluate.portability.cross_model_evaluate`).
Each user's profile is built once with the deterministic stages (lexicon features, keyword names,
template summary and paths), so the summary is the only thing that differs between the summary rows.
Reported per system: MAE, RMSE, MAE by the official LaMP rule, prompt tokens per query (backend
counted) and, per writer, summary tokens against the raw history (word heuristic). ``--lamp7 N``
adds the first N LaMP-7 questions (ROUGE-1 / ROUGE-L, each question its own user, so every writer
writes one summary per question) with copying the input as the no-model reference.

A query is answered by every system before the next starts, and one is started only when the
slowest recent query would still end within ``--budget-minutes``; when the budget stops the run,
every system still covers the same queries; the report says how many of those planned it covers.
Result JSON goes to ``.inflow/results/portability*.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.results import Deadline, _commit, _fmt, _loadavg  # noqa: E402
from bench.tokens import LAMP3, load_lamp3_users  # noqa: E402
from core.data.load import load  # noqa: E402
from core.data.tasks import LAMP_SPECS  # noqa: E402
from core.evaluate.cross_model import TEMPLATE_SOURCE, cross_model_evaluate, system_name  # noqa: E402
from core.evaluate.harness import export_json  # noqa: E402
from core.metrics import LOWER_IS_BETTER, metrics_for  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402

LAMP7 = ROOT.parent / "shared" / "data" / "lamp7_dev500" / "dev_questions.json"
DOC = ROOT / "docs" / "PORTABILITY.md"
OUT_DIR = ROOT / ".inflow" / "results"
DEFAULT_MODELS = "qwen2.5-coder-0.5b,qwen2.5-coder-1.5b"
REFERENCES = ("zero", "history", "bm25")
BOOTSTRAP = 2000


def short(model: str) -> str:
    """The table name of a local model, e.g. ``qwen2.5-coder-1.5b`` -> ``1.5b``."""
    return model.rsplit("-", 1)[-1]


def per_query_errors(result: dict[str, Any], system: str, key: str = "predictions") -> list[float] | None:
    """Absolute errors of a score system per finished query (Inflow's rule), in query order."""
    task = result["task_spec"]
    lo, hi = float(task.get("score_min", 1)), float(task.get("score_max", 5))
    out = []
    for r in result["per_query"]:
        if system not in r.get(key, {}):
            return None
        gold = float(r["gold"])
        try:
            pred = float(r[key][system])
            ok = lo <= pred <= hi
        except ValueError:
            ok = False
        out.append(abs(pred - gold) if ok else max(abs(lo - gold), abs(hi - gold)))
    return out


def paired_difference(a: Sequence[float], b: Sequence[float], *, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired queries with a seeded 95% percentile-bootstrap interval."""
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    if n == 0:
        return math.nan, math.nan, math.nan
    rng = random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(BOOTSTRAP))
    return sum(diffs) / n, means[int(0.025 * BOOTSTRAP)], means[int(0.975 * BOOTSTRAP) - 1]


def system_table(result: dict[str, Any], names: list[str]) -> str:
    """Markdown table: one row per system (grouped by answering model), then the no-model baselines."""
    metrics = result["metric_names"]
    score = result["task_kind"] == "score"
    best: dict[str, float] = {}
    for m in metrics:
        vals = [t[m] for table in (result["methods"], result["baselines"]) for t in table.values()
                if isinstance(t.get(m), float) and math.isfinite(t[m])]
        if vals:
            best[m] = min(vals) if m in LOWER_IS_BETTER else max(vals)
    head = ["answering model", "context", *[m.upper() if score else m for m in metrics],
            *([f"{m.upper()} (LaMP rule)" for m in metrics[:1]] if score else []),
            "n", "prompt tokens / query", "added over `zero`", "errors", "rescues"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]

    def metric_cells(t: dict[str, Any]) -> list[str]:
        """A system's metric cells, the best per column in bold, then the LaMP-rule one for scores."""
        cells = [f"**{_fmt(t.get(m))}**" if m in best and t.get(m) == best[m] else _fmt(t.get(m)) for m in metrics]
        return cells + ([_fmt((t.get("lamp") or {}).get(metrics[0]))] if score else [])

    for a in names:
        zero = result["methods"].get(system_name(a, "zero"), {}).get("prompt_tokens_mean", math.nan)
        for sysname, spec in result["systems"].items():
            if spec["answerer"] != a:
                continue
            t = result["methods"][sysname]
            context = spec["method"] if spec["summary_by"] is None else (
                "summary: template (no model)" if spec["summary_by"] == TEMPLATE_SOURCE else
                f"summary written by **{spec['summary_by']}**" + (" (own)" if spec["summary_by"] == a else ""))
            cells = metric_cells(t)
            toks = t.get("prompt_tokens_mean", math.nan)
            added = "-" if spec["method"] == "zero" else _fmt(toks - zero, 0)
            cells += [str(t["n"]), _fmt(toks, 0), added, str(t.get("errors", 0)), str(t.get("rescues", 0))]
            lines.append(f"| {a} | {context} | " + " | ".join(cells) + " |")
    for b, t in result["baselines"].items():
        cells = metric_cells(t) + [str(t["n"]), "0", "-", "-", "-"]
        lines.append(f"| no model | baseline `{b}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def writer_table(result: dict[str, Any]) -> str:
    """Markdown table of the summaries: tokens against the raw history, time to write, failures."""
    lines = ["| summary written by | users | summary tokens (mean) | raw history tokens (mean) | summary / history | "
             "seconds per summary | failures |", "|---|---:|---:|---:|---:|---:|---:|"]
    for w, info in result["writers"].items():
        lines.append(f"| {w} ({info['backend'].get('model')}) | {len(info['summaries'])} | "
                     f"{_fmt(info['summary_tokens_mean'], 0)} | {_fmt(info['history_tokens_mean'], 0)} | "
                     f"{_fmt(info['ratio_mean'], 4)} | {_fmt(info['seconds_mean'], 0)} | {len(info['failures'])} |")
    tpl = list(result["template"].values())
    if tpl:
        s = sum(x["summary_tokens"] for x in tpl) / len(tpl)
        h = sum(x["history_tokens"] for x in tpl) / len(tpl)
        r = sum(x["ratio"] for x in tpl) / len(tpl)
        lines.append(f"| template (no model) | {len(tpl)} | {_fmt(s, 0)} | {_fmt(h, 0)} | {_fmt(r, 4)} | - | - |")
    return "\n".join(lines)


def comparisons(result: dict[str, Any], names: list[str]) -> list[str]:
    """Paired MAE differences (with bootstrap intervals) of the other model's summary against the rest."""
    if result["task_kind"] != "score" or result["n"] == 0:
        return []
    lines = ["| answering model | other model's summary minus ... | MAE difference | 95% interval (paired bootstrap) | "
             "prompt tokens, other's summary / that context |", "|---|---|---:|---|---:|"]
    for a in names:
        for w in names:
            if w == a:
                continue
            ported = system_name(a, "summary", w)
            errs = per_query_errors(result, ported)
            if errs is None:
                continue
            toks = result["methods"][ported]["prompt_tokens_mean"]
            for label, other in ((f"own summary ({a})", system_name(a, "summary", a)),
                                 ("template summary", system_name(a, "summary", TEMPLATE_SOURCE)),
                                 *((f"`{m}`", system_name(a, m)) for m in REFERENCES)):
                ref = per_query_errors(result, other)
                if ref is None:
                    continue
                d, lo, hi = paired_difference(errs, ref)
                ratio = toks / result["methods"][other]["prompt_tokens_mean"]
                lines.append(f"| {a} (summary by {w}) | {label} | {d:+.3f} | [{lo:+.3f}, {hi:+.3f}] | "
                             f"{ratio:.2f} |")
    return lines


def findings(result: dict[str, Any], names: list[str]) -> list[str]:
    """One computed sentence per (answering model, other writer): quality and context against the references."""
    if result["n"] == 0:
        return []
    metric = result["metric_names"][0]
    lower = metric in LOWER_IS_BETTER
    title = metric.upper() if result["task_kind"] == "score" else metric
    base = {b: t.get(metric) for b, t in result["baselines"].items() if isinstance(t.get(metric), float)}
    best_b = (min if lower else max)(base, key=lambda b: base[b]) if base else None
    lines = []
    for a in names:
        m = result["methods"]
        zero = m[system_name(a, "zero")]["prompt_tokens_mean"]
        hist_add = m[system_name(a, "history")]["prompt_tokens_mean"] - zero
        bm25_add = m[system_name(a, "bm25")]["prompt_tokens_mean"] - zero
        for w in names:
            if w == a:
                continue
            t = m[system_name(a, "summary", w)]
            add = t["prompt_tokens_mean"] - zero
            ref = ", ".join(f"{label} {_fmt(m[system_name(a, *key)].get(metric))}" for label, key in (
                ("own summary", ("summary", a)), ("template summary", ("summary", TEMPLATE_SOURCE)),
                ("`history`", ("history",)), ("`bm25`", ("bm25",)), ("`zero`", ("zero",))))
            best = f"; best no-model baseline `{best_b}` {_fmt(base[best_b])}" if best_b else ""
            lines.append(
                f"- **{a} answering with the {w}'s summary**: {title} {_fmt(t.get(metric))} ({ref}{best}). Its "
                f"context adds {_fmt(add, 0)} prompt tokens over `zero`, against {_fmt(hist_add, 0)} for the "
                f"full history ({_fmt(hist_add / add if add > 0 else math.nan, 1)}x fewer) and {_fmt(bm25_add, 0)} "
                f"for `bm25` ({_fmt(bm25_add / add if add > 0 else math.nan, 1)}x fewer).")
    return lines


def per_user_table(result: dict[str, Any], names: list[str]) -> str:
    """MAE per user of every summary row and the references."""
    cols = [s for s in result["systems"] if result["systems"][s]["answerer"] in names]
    lines = ["| user | n | " + " | ".join(f"`{c}`" for c in cols) + " | user-mean | knn-bm25 |",
             "|---|---:|" + "---:|" * (len(cols) + 2)]
    for uid in dict.fromkeys(r["user_id"] for r in result["per_query"]):
        rows = [r for r in result["per_query"] if r["user_id"] == uid]
        sub = {**result, "per_query": rows}
        cells = []
        for c in cols:
            e = per_query_errors(sub, c)
            cells.append(_fmt(sum(e) / len(e)) if e else "-")
        for b in ("user-mean", "knn-bm25"):
            e = per_query_errors(sub, b, key="baselines")
            cells.append(_fmt(sum(e) / len(e)) if e else "-")
        lines.append(f"| {uid} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _stopped(result: dict[str, Any]) -> str:
    if result["cancelled"]:
        return (f" **The time budget stopped this run after {result['n']} of the {result['n_planned']} planned "
                "queries; every figure covers those finished queries only.**")
    return ""


def lamp7_copy(result: dict[str, Any], inputs: dict[str, str]) -> dict[str, float]:
    """ROUGE of copying the input tweet on the finished LaMP-7 queries (the no-model reference)."""
    from core.data.model import Task

    rows = result["per_query"]
    return dict(metrics_for(Task.from_dict(result["task_spec"]), [inputs[r["id"]] for r in rows],
                            [r["gold"] for r in rows])) if rows else {}


def model_speed(ws: Workspace, since: float) -> dict[str, dict[str, float]]:
    """Per model: uncached calls made since ``since`` (epoch seconds), their prompt / completion tokens and seconds."""
    out: dict[str, dict[str, float]] = {}
    for t in ws.list_traces(limit=1_000_000):
        if t["cache_hit"] or t["error"] or (t["created_at"] or 0.0) < since:
            continue
        m = out.setdefault(str(t["model"]), {"calls": 0, "tokens_in": 0, "tokens_out": 0, "seconds": 0.0})
        m["calls"] += 1
        m["tokens_in"] += t["tokens_in"] or 0
        m["tokens_out"] += t["tokens_out"] or 0
        m["seconds"] += (t["latency_ms"] or 0.0) / 1000.0
    return out


def render(args: argparse.Namespace, names: list[str], l3: dict[str, Any], l7: dict[str, Any] | None,
           l7_copy: dict[str, float], *, minutes: float, load: tuple[str, str], started: str,
           speed: dict[str, dict[str, float]] | None = None) -> str:
    """Return the PORTABILITY.md text."""
    b = next(iter(l3["answerers"].values()))
    commit = getattr(args, "commit", None) or _commit()
    models = ", ".join(f"**{a}** = `{c['model']}`" for a, c in l3["answerers"].items())
    cmd = (f"python bench/portability.py --models {args.models} --users {args.users} --per-user {args.per_user} "
           f"--lamp7 {args.lamp7} --budget-minutes {args.budget_minutes:g}" + (" --reuse" if args.reuse else ""))
    out = [
        "# Portability of preference summaries across models (POPI)",
        "",
        f"Generated by `{cmd}` (started {started}; {minutes:.1f} min). **Do not edit by hand**: every figure "
        "comes from that command; the result JSON is in `.inflow/results/portability.json`.",
        "",
        *([("- `--reuse`: calls an earlier run of this command had already made (an interrupted run of the "
             "same code) came from the workspace's LLM cache; the runtime above is this invocation's.")]
          if args.reuse else []),
        *([("- Model speed (uncached calls of this invocation, all stages): " + "; ".join(
            f"`{m}` {int(v['calls'])} calls, {int(v['tokens_in'])} prompt + {int(v['tokens_out'])} completion "
            f"tokens in {v['seconds']:.0f} s ({(v['tokens_in'] + v['tokens_out']) / v['seconds']:.0f} tokens/s)"
            for m, v in speed.items() if v["seconds"] > 0) + ".")] if speed else []),
        f"- Code: commit `{commit}` (at the start) of the `evalfig` branch. Other work changes the local "
        "backend's speed and the `rpm` method; these figures are for this commit.",
        f"- Machine: {os.cpu_count()} CPU cores shared with other jobs, Python {platform.python_version()}; load "
        f"average (1/5/15 min) {load[0]} at the start and {load[1]} at the end.",
        f"- Models (local llama.cpp backend): {models}; "
        f"embedder `{b.get('embedder')}`, k = {l3['k']}. Scores are read by option scoring (the log-probabilities "
        "of the options 1-5, contextually calibrated: `core/llm/choice_scoring.py`).",
        "- Profiles: built once per user with the deterministic stages (lexicon features, keyword factor names, "
        "template summary and paths), so every summary row sees the same factors and only the summary differs. "
        "Each model writes each user's summary once from those factors (`core.stages.summary.LLMSummarizer`, at "
        "most 120 words); the ported summary replaces the profile's for the `summary` method.",
        "",
        "## LaMP-3: five real users",
        "",
        f"Queries: the first {args.per_user} held-out reviews (last 20%, time order) of each of the first "
        f"{args.users} users, answered round-robin over users: **n = {l3['n']}** of the {l3['n_planned']} planned "
        f"({l3['n_users']} users). The same queries for every row.{_stopped(l3)} MAE counts a non-number as the "
        "farther of 1 and 5 (Inflow's rule); *LaMP rule* is the official evaluator's. Best value per column in bold.",
        "",
        "### Summaries",
        "",
        "Summary and history tokens by the word heuristic of `core/llm/tokens.py` (the raw history is every "
        "review in the user's profile, input and score); seconds include the model's prompt processing on the "
        "loaded machine.",
        "",
        writer_table(l3),
        "",
        "### Quality and prompt tokens",
        "",
        "Prompt tokens are the answering model's own count of the answering call (the same Qwen2.5 tokenizer for "
        "both models); *added over `zero`* is the personalization context a row pays for.",
        "",
        system_table(l3, names),
        "",
    ]
    found = findings(l3, names)
    if found:
        out += ["### In one line each (computed from the table above)", "", *found, ""]
    comp = comparisons(l3, names)
    if comp:
        out += ["### The other model's summary against the rest (paired, same queries)", "",
                f"Negative = the other model's summary has the lower MAE. 95% percentile interval over {BOOTSTRAP} "
                f"seeded bootstrap resamples of the n = {l3['n']} queries; an interval that spans 0 means this "
                "sample cannot tell the two apart.", "", *comp, ""]
    out += ["### MAE per user", "", per_user_table(l3, names), ""]
    if l7 is not None:
        out += [f"## LaMP-7 slice: tweet paraphrasing (n = {l7['n']} of {l7['n_planned']} planned questions)", "",
                f"The first {args.lamp7} questions of `../shared/data/lamp7_dev500`; every question is its own user "
                f"(about 17 earlier tweets), so each model writes one summary per question.{_stopped(l7)} ROUGE "
                f"(higher is better). Copying the input tweet (no model): ROUGE-1 {_fmt(l7_copy.get('rouge-1'))}, "
                f"ROUGE-L {_fmt(l7_copy.get('rouge-l'))}.", "",
                writer_table(l7), "", system_table(l7, names), ""]
    else:
        out += ["## LaMP-7", "", "Not measured in this run (`--lamp7 0`): the time went to LaMP-3.", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the portability grid and write the report."""
    from core.embed.factory import make_embedder
    from core.llm.factory import make_client
    from core.llm.settings import BackendSettings
    from core.stages.profile import PipelineSettings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=DEFAULT_MODELS,
                    help=f"Comma-separated local models; each writes and answers (default {DEFAULT_MODELS}).")
    ap.add_argument("--users", type=int, default=5, help="LaMP-3 users (default all 5).")
    ap.add_argument("--per-user", type=int, default=4, help="Held-out reviews per user (default 4).")
    ap.add_argument("--lamp7", type=int, default=0, help="LaMP-7 questions (default 0 = skip).")
    ap.add_argument("--k", type=int, default=4, help="History items retrieved per query (default 4).")
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    ap.add_argument("--budget-minutes", type=float, default=40.0,
                    help="Stop starting queries after this (default 40); finished queries are kept.")
    ap.add_argument("--workspace", type=Path, default=ROOT / ".inflow" / "portability.sqlite")
    ap.add_argument("--reuse", action="store_true", help="Keep the workspace's caches from an earlier run.")
    ap.add_argument("--out", type=Path, default=DOC)
    args = ap.parse_args(argv)
    if not LAMP3.exists():
        print(f"{LAMP3} is absent", file=sys.stderr)
        return 2
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    names = [short(m) for m in models]
    t0, wall0 = time.perf_counter(), time.time()
    deadline = t0 + args.budget_minutes * 60.0
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    args.commit = _commit()  # the code that runs, not whatever is checked out when the report is written
    load_start = _loadavg()
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(str(args.workspace) + suffix).unlink(missing_ok=True)
    args.workspace.parent.mkdir(parents=True, exist_ok=True)
    ws = Workspace(args.workspace)
    clients = {short(m): make_client(BackendSettings(kind="local", local_model=m), ws) for m in models}
    embedder = make_embedder(args.embedder, workspace=ws)
    settings = PipelineSettings(extractor="lexicon", namer="keywords", summarizer="template", paths="template",
                                embedder=args.embedder)

    def progress(label: str, stop: Deadline) -> Any:
        def show(d: int, n: int) -> None:
            stop.done()
            print(f"\r  {label}: {d}/{n} queries, {time.perf_counter() - t0:.0f} s", end="", file=sys.stderr,
                  flush=True)

        return show

    def on_summary(w: str, uid: str, secs: float) -> None:
        print(f"\n  summary of {uid} written by {w} in {secs:.0f} s", file=sys.stderr, flush=True)

    history, queries = load_lamp3_users()
    keep = {u.id for u in history.users[:args.users]}
    l7_share = 0.7 if args.lamp7 > 0 else 1.0  # LaMP-3 first; the LaMP-7 slice gets the rest of the budget
    stop3 = Deadline(t0 + l7_share * (deadline - t0))
    l3 = cross_model_evaluate(ws, history, [q for q in queries if q.user_id in keep], answerers=clients,
                              writers=clients, embedder=embedder, settings=settings, limit_per_user=args.per_user,
                              k=args.k, progress=progress("LaMP-3", stop3), on_summary=on_summary, cancel=stop3)
    print(file=sys.stderr)
    export_json(l3, OUT_DIR / "portability.json")
    l7, l7_copy = None, {}
    if args.lamp7 > 0 and LAMP7.exists():
        ds = load([LAMP7], task=LAMP_SPECS[7].task(), name="lamp7_dev500").dataset
        chosen = [q for q in ds.queries if q.gold is not None][:args.lamp7]
        stop7 = Deadline(deadline)
        l7 = cross_model_evaluate(ws, ds, chosen, answerers=clients, writers=clients, embedder=embedder,
                                  settings=settings, k=args.k, baselines=False, progress=progress("LaMP-7", stop7),
                                  cancel=stop7)
        print(file=sys.stderr)
        l7_copy = lamp7_copy(l7, {q.id: q.input for q in chosen})
        export_json(l7, OUT_DIR / "portability_lamp7.json")
    doc = render(args, names, l3, l7, l7_copy, minutes=(time.perf_counter() - t0) / 60.0,
                 load=(load_start, _loadavg()), started=started,
                 speed=model_speed(ws, wall0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(doc, encoding="utf-8")
    ws.close()
    print(json.dumps({"n": l3["n"], "n_planned": l3["n_planned"], "out": str(args.out)}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
