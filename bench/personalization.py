"""Does personalization work on the embedded default? rpm against zero and the no-model baselines, per user.

    python bench/personalization.py [--model qwen2.5-coder-1.5b] [--users 5] [--per-user 20]
                                    [--lamp7 20] [--out docs/PERSONALIZATION.md]

LaMP-3 (``../shared/data/lamp3_users``): every user's last 20% of reviews are the queries; the
first ``--per-user`` of them (in time order) of the first ``--users`` users are answered by
``zero`` and ``rpm``, and the no-model baselines (``majority``, ``user-mean``, ``knn-bm25``,
``knn-feature``) predict the same queries. MAE per user and overall, and the decision rule each
user got (:mod:`core.methods.decision`, fitted on that user's own history only) with its
leave-one-out dev error.

LaMP-7 (``../shared/data/lamp7_dev500``, paraphrase a tweet in the user's style): the first
``--lamp7`` questions answered by ``zero`` and ``rpm`` against copying the input, ROUGE-1 / ROUGE-L.

The local model runs on this machine's shared CPU cores, so the defaults are a subset; the report
says how many queries it covers. Everything goes through one workspace (``--workspace``), so a
re-run with ``--reuse`` takes every answered call from the cache.
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
sys.path.insert(0, str(ROOT))

from bench.tokens import LAMP3, load_lamp3_users  # noqa: E402
from core.data.load import load  # noqa: E402
from core.data.tasks import LAMP_SPECS  # noqa: E402
from core.embed.factory import make_embedder  # noqa: E402
from core.evaluate.harness import dataset_key, evaluate  # noqa: E402
from core.evaluate.result import EvalResult  # noqa: E402
from core.llm.factory import make_client  # noqa: E402
from core.llm.settings import BackendSettings  # noqa: E402
from core.methods.context import AnswerContext  # noqa: E402
from core.methods.prompting import parse_answer  # noqa: E402
from core.methods.rpm import RPMMethod  # noqa: E402
from core.metrics import metrics_for  # noqa: E402
from core.stages.pipeline import build_profile  # noqa: E402
from core.stages.profile import PipelineSettings  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402

LAMP7 = ROOT.parent / "shared" / "data" / "lamp7_dev500" / "dev_questions.json"
METHODS = ["zero", "rpm"]
CANDIDATES = ["prior", "raw", "calibrated", "fusion"]
DOC = ROOT / "docs" / "PERSONALIZATION.md"


def mae(result: EvalResult, rows: list[dict[str, Any]], system: str, key: str) -> float | None:
    """MAE of one system over some per-query rows (None when it has none)."""
    task = result.task_spec
    errs = []
    for r in rows:
        pred = r[key].get(system)
        if pred in (None, ""):
            continue
        try:
            errs.append(abs(float(pred) - float(r["gold"])))
        except ValueError:
            errs.append(float(task["score_max"]) - float(task["score_min"]))
    return statistics.fmean(errs) if errs else None


def lamp3(ws: Workspace, client: Any, embedder: Any, settings: PipelineSettings, *, users: int, per_user: int,
          k: int, skip: int = 0, offset: int = 0) -> dict[str, Any]:
    """Run the methods on the first queries (after ``offset``) of the first users.

    Returns:
        The result, per-user rows and the rule each user got.
    """
    history, queries = load_lamp3_users()
    keep = [u.id for u in history.users][skip:skip + users]
    seen: dict[str, int] = {}
    chosen = []
    for q in queries:  # each user's queries in history order; the first ``offset`` of them skipped
        if q.user_id in keep:
            seen[q.user_id] = seen.get(q.user_id, 0) + 1
            if seen[q.user_id] > offset:
                chosen.append(q)
    result = evaluate(ws, history, chosen, methods=METHODS, client=client, embedder=embedder,
                      settings=settings, limit_per_user=per_user, k=k,
                      progress=lambda d, n: print(f"  LaMP-3 {d}/{n}", file=sys.stderr))
    systems = [("method", m) for m in METHODS] + [("baseline", b) for b in result.baselines]
    by_id = {q.id: q for q in chosen}
    rows = []
    for uid in keep:
        mine = [r for r in result.per_query if r["user_id"] == uid]
        if not mine:
            continue
        profile = build_profile(ws, dataset_key(history), uid, client=client, embedder=embedder, settings=settings)
        ctx = AnswerContext(task=history.task, profile=profile, client=client, embedder=embedder, k=k,
                            run_id=result.run_id)
        rule = RPMMethod().fitted_rule(ctx).to_dict()  # the calls made during the run, from the cache
        rows.append({"user": uid, "n": len(mine), "history": len(profile.items), "rule": rule,
                     "candidates": candidate_errors(ctx, [by_id[r["id"]] for r in mine], history.task),
                     "latency_s": {m: _median([r["latency_ms"].get(m) for r in mine]) / 1000.0 for m in METHODS},
                     "tokens": {m: _median([r["tokens"].get(m) for r in mine]) for m in METHODS},
                     "mae": {name: mae(result, mine, name, "predictions" if kind == "method" else "baselines")
                             for kind, name in systems}})
    return {"result": result, "users": rows}


def candidate_errors(ctx: AnswerContext, queries: list[Any], task: Any) -> dict[str, float]:
    """Each candidate decision rule's MAE on the user's queries, and the lowest-dev-error rule's (``lowest``).

    The queries are answered again by ``rpm`` with the run's context: every model call comes from
    the workspace's cache, so this only re-reads each trace's ``alternatives`` (what each
    candidate rule would have answered). ``lowest`` is the rule the plain lowest-leave-one-out
    choice would have picked, against which the one-standard-error choice is judged.
    """
    errs: dict[str, list[float]] = {}
    lowest = None
    for q in queries:
        dec = RPMMethod().answer(q.input, ctx).trace.steps[-1].detail.decision or {}
        lowest = dec.get("lowest")
        gold = task.parse_score(str(q.gold))
        for name, value in (dec.get("alternatives") or {}).items():
            if value is not None and gold is not None:
                errs.setdefault(name, []).append(abs(float(value) - gold))
    out = {name: statistics.fmean(v) for name, v in errs.items() if len(v) == len(queries)}
    if lowest in out:
        out["lowest"] = out[lowest]
    return out


def lamp7(ws: Workspace, client: Any, embedder: Any, settings: PipelineSettings, *, n: int, k: int,
          offset: int = 0, dump: Path | None = None) -> dict[str, Any]:
    """Run the methods on ``n`` LaMP-7 questions after the first ``offset``; score them and copying the input.

    ``dump``: each question's input, gold and answers, written as JSON.
    """
    ds = load([LAMP7], task=LAMP_SPECS[7].task(), name="lamp7_dev500").dataset
    queries = [q for q in ds.queries if q.gold is not None][offset:offset + n]
    result = evaluate(ws, ds, queries, methods=METHODS, client=client, embedder=embedder, settings=settings, k=k,
                      baselines=False, progress=lambda d, m: print(f"  LaMP-7 {d}/{m}", file=sys.stderr))
    by_id = {q.id: q for q in queries}
    done = [r for r in result.per_query]
    copy = metrics_for(ds.task, [by_id[r["id"]].input for r in done], [r["gold"] for r in done])
    rewrite = rewrite_alone(ds.task, done, by_id) if "rpm" in METHODS and done else None
    if dump is not None:  # each question's input, gold and answers, for reading the answers beside the scores
        dump.write_text(json.dumps([{"id": r["id"], "input": by_id[r["id"]].input, "gold": r["gold"],
                                     "predictions": r.get("predictions", {}), "raw": r.get("raw", {})}
                                    for r in done],
                                   ensure_ascii=False, indent=1), encoding="utf-8")
    return {"result": result, "copy": copy, "n": len(done), "rewrite": rewrite}


def rewrite_alone(task: Any, done: list[dict[str, Any]], by_id: dict[str, Any]) -> dict[str, Any]:
    """``rpm``'s own rewrites (its model call's completion, before the wording step) scored, and how that step chose.

    ``kept``: answers where the step kept the rewrite (it differs from the input); ``better`` /
    ``worse``: of those, how many scored above / below copying the input (ROUGE-1).
    """
    golds = [r["gold"] for r in done]
    rewrites = [parse_answer(r.get("raw", {}).get("rpm", ""), task) or "" for r in done]
    kept = better = worse = 0
    for r, rw, gold in zip(done, rewrites, golds, strict=True):
        given = by_id[r["id"]].input
        if r["predictions"].get("rpm") == rw and rw != given:
            kept += 1
            gain = metrics_for(task, [rw], [gold])["rouge-1"] - metrics_for(task, [given], [gold])["rouge-1"]
            better, worse = better + (gain > 0), worse + (gain < 0)
    return {"metrics": metrics_for(task, rewrites, golds), "kept": kept, "better": better, "worse": worse}


def _median(values: list[Any]) -> float:
    """Median of the values present (NaN when none): the first rpm answer also fits the rule, the median ignores it."""
    kept = [float(v) for v in values if v is not None]
    return statistics.median(kept) if kept else float("nan")


def _f(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def render(args: argparse.Namespace, model: str, l3: dict[str, Any] | None, l7: dict[str, Any] | None,
           minutes: float) -> str:
    """The markdown report."""
    out = ["# Personalization on the embedded default",
           "",
           "Regenerated by `python bench/personalization.py" + (f" --model {args.model}" if args.model else "")
           + (f" --skip-users {args.skip_users}" if args.skip_users else "")
           + (f" --offset {args.offset}" if args.offset else "")
           + (f" --methods {' '.join(args.methods)}" if args.methods != ["zero", "rpm"] else "")
           + f" --users {args.users} --per-user {args.per_user} --lamp7 {args.lamp7}"
           + (f" --lamp7-offset {args.lamp7_offset}" if args.lamp7 and args.lamp7_offset else "")
           + f"` ({minutes:.0f} min on this "
           f"project's shared 2-core machine). Local model `{model}`, embedder `{args.embedder}`, k = {args.k}, "
           "default pipeline settings. A subset: the local model is slow on 2 shared cores; re-run with larger "
           "numbers for more.",
           ""]
    if l3 is not None:
        res = l3["result"]
        names = [*METHODS, *res.baselines]
        out += [f"## LaMP-3 ({res.n} queries, {len(l3['users'])} users; MAE, lower is better)", "",
                "| user | queries | history | " + " | ".join(names) + " | rule (dev LOO error) | median s per answer "
                f"({' / '.join(METHODS)}) | median prompt tokens ({' / '.join(METHODS)}) |",
                "|---|---|---|" + "---|" * len(names) + "---|---|---|"]
        for u in l3["users"]:
            r = u["rule"]
            w = r["rule"]["weights"]
            rule = r["rule"]["name"]
            if rule == "fusion":
                rule += (f" ({r['rule']['source']} x {w['model']:g}, knn x {w['knn']:g}, prior x {w['prior']:g}, "
                         f"{r['rule']['estimator']})")
            errs = ", ".join(f"{k} {v:.2f}" for k, v in r["dev_errors"].items())
            out.append(f"| {u['user']} | {u['n']} | {u['history']} | "
                       + " | ".join(_f(u["mae"][m]) for m in names) + f" | {rule}; dev {r['n_dev']} items: {errs} | "
                       + " / ".join(_f(u["latency_s"][m], 1) for m in METHODS) + " | "
                       + " / ".join(f"{u['tokens'][m]:.0f}" for m in METHODS) + " |")
        overall = {**{m: res.methods[m]["mae"] for m in METHODS}, **{b: res.baselines[b]["mae"]
                                                                       for b in res.baselines}}
        out.append("| **all** | " + str(res.n) + " | | " + " | ".join(_f(overall[m]) for m in names) + " | | | |")
        out.append("")
        out += ["### Each candidate rule on the same queries (MAE)", "",
                "What `rpm` would have scored had the user got each candidate rule, from the traces' `alternatives`; "
                "*lowest dev* is the rule with the lowest leave-one-out dev error (the choice before the "
                "one-standard-error rule), *chosen* the rule the user got.", "",
                "| user | queries | chosen | lowest dev | " + " | ".join(CANDIDATES) + " |",
                "|---|---|---|---|" + "---|" * len(CANDIDATES)]
        for u in l3["users"]:
            c = u["candidates"]
            out.append(f"| {u['user']} | {u['n']} | {u['rule']['rule']['name']} | {u['rule'].get('lowest') or '-'} "
                       f"({_f(c.get('lowest'))}) | " + " | ".join(_f(c.get(n)) for n in CANDIDATES) + " |")
        out.append("")
    if l7 is not None:
        res = l7["result"]
        first = args.lamp7_offset + 1
        out += [f"## LaMP-7 ({l7['n']} of 500 dev questions, {first}-{first + l7['n'] - 1} in file order; ROUGE, "
                "higher is better)", "",
                "| system | ROUGE-1 | ROUGE-L |", "|---|---|---|"]
        for m in METHODS:
            out.append(f"| {m} | {_f(res.methods[m].get('rouge-1'))} | {_f(res.methods[m].get('rouge-l'))} |")
        out.append(f"| copy the input | {_f(l7['copy'].get('rouge-1'))} | {_f(l7['copy'].get('rouge-l'))} |")
        rw = l7.get("rewrite")
        if rw is not None:
            out += ["", f"`rpm`'s rewrites alone (its model call's answer, before the wording step): ROUGE-1 "
                        f"{_f(rw['metrics'].get('rouge-1'))}, ROUGE-L {_f(rw['metrics'].get('rouge-l'))}; the step "
                        f"kept the rewrite in {rw['kept']} of {l7['n']} answers ({rw['better']} scoring above copying "
                        f"the input, {rw['worse']} below)."]
        out.append("")
    return "\n".join(out)


def merge(paths: list[Path]) -> str:
    """Merge reports of runs split over processes (``--skip-users``/``--users``, ``--lamp7``) into one.

    The LaMP-3 user rows of each table are concatenated under their header; the main table's
    **all** row is recomputed as the query-weighted mean of the users' MAEs (the pooled MAE), and
    the candidate-rule table gets one too. LaMP-7 sections are kept as they are.
    """
    tables: dict[str, list[str]] = {}  # header -> user rows, in the order first seen
    notes: dict[str, list[str]] = {}  # header -> the lines between the section title and the header
    titles: dict[str, str] = {}
    commands: list[str] = []
    lamp7: list[str] = []
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        commands += [ln for ln in lines if ln.startswith("Regenerated by ")]
        in7, header, title, pending = False, None, None, []
        for ln in lines:
            if ln.startswith("## LaMP-7"):
                in7 = True
            elif ln.startswith("#"):
                in7, header, title, pending = False, None, ln, []
                continue
            if in7:
                lamp7.append(ln)
            elif ln.startswith("| user |"):
                header = ln
                tables.setdefault(header, [])
                titles.setdefault(header, title or "")
                notes.setdefault(header, [x for x in pending if x.strip()])
            elif ln.startswith("| u") and header is not None:
                tables[header].append(ln)
            elif header is None:
                pending.append(ln)
    out = ["# Personalization on the embedded default", "", "Merged by `python bench/personalization.py --merge` from "
           f"{len(paths)} runs made side by side on this project's shared 2-core machine:", ""]
    out += [f"- {c}" for c in commands]
    out.append("")
    for header, rows in tables.items():
        if not rows:
            continue
        names = [c.strip() for c in header.strip("|").split("|")]
        main = "rule (dev LOO error)" in names
        first = 3 if main else 4  # the first system column
        last = names.index("rule (dev LOO error)") if main else len(names)
        cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
        total = sum(int(c[1]) for c in cells)
        pooled = []
        for j in range(first, last):
            vals = [(int(c[1]), c[j]) for c in cells if c[j] not in ("-", "")]
            n = sum(k for k, _ in vals)
            pooled.append(_f(sum(k * float(v) for k, v in vals) / n) if n else "-")
        title = (f"## LaMP-3 ({total} queries, {len(rows)} users; MAE, lower is better)" if main
                 else titles[header])
        out += [title, "", *([*notes[header], ""] if notes[header] else []), header,
                "|" + "---|" * len(names), *rows]
        out.append(f"| **all** | {total} | " + "| " * (first - 2) + " | ".join(pooled) + " |"
                   + " |" * (len(names) - last))
        out.append("")
    out += lamp7
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and write the report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="local model name (default: $INFLOW_LOCAL_MODEL or the default)")
    ap.add_argument("--users", type=int, default=5)
    ap.add_argument("--skip-users", type=int, default=0, help="start at this user (to split a run over processes)")
    ap.add_argument("--per-user", type=int, default=20)
    ap.add_argument("--offset", type=int, default=0,
                    help="skip each user's first OFFSET queries (a second, unseen set of queries)")
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=["zero", "rpm"],
                    help="methods to run (default both; rpm alone to check the decision rule on more queries)")
    ap.add_argument("--lamp7", type=int, default=20, help="LaMP-7 questions (0 = skip)")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--lamp7-offset", type=int, default=0, help="skip the first LAMP7_OFFSET LaMP-7 questions")
    ap.add_argument("--dump", type=Path, help="write each LaMP-7 question's input, gold and answers to this JSON file")
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    ap.add_argument("--workspace", type=Path, default=ROOT / ".inflow" / "personalization.sqlite")
    ap.add_argument("--reuse", action="store_true", help="keep the workspace's caches from an earlier run")
    ap.add_argument("--out", type=Path, default=DOC)
    ap.add_argument("--merge", type=Path, nargs="+", help="merge these reports into --out instead of measuring")
    args = ap.parse_args(argv)
    if args.merge:
        doc = merge(args.merge)
        args.out.write_text(doc + "\n", encoding="utf-8")
        print(doc)
        return 0
    METHODS[:] = args.methods  # the report's columns follow the methods run
    if not LAMP3.exists():
        print(f"{LAMP3} is absent", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(str(args.workspace) + suffix).unlink(missing_ok=True)
    args.workspace.parent.mkdir(parents=True, exist_ok=True)
    ws = Workspace(args.workspace)
    client = make_client(BackendSettings(kind="local", local_model=args.model), ws)
    embedder = make_embedder(args.embedder, workspace=ws)
    settings = PipelineSettings(embedder=args.embedder)
    l3 = lamp3(ws, client, embedder, settings, users=args.users, per_user=args.per_user, k=args.k,
               skip=args.skip_users, offset=args.offset) \
        if args.per_user > 0 else None
    l7 = lamp7(ws, client, embedder, settings, n=args.lamp7, k=args.k, offset=args.lamp7_offset,
               dump=args.dump) if args.lamp7 > 0 and LAMP7.exists() else None
    doc = render(args, client.capabilities.model, l3, l7, (time.perf_counter() - t0) / 60.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(doc + "\n", encoding="utf-8")
    ws.close()
    print(doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
