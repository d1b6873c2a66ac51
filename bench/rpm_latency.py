"""Where an answer's seconds go on the embedded default: per method, per step, per prompt section.

    python bench/rpm_latency.py [--model qwen2.5-coder-1.5b] [--user 0 | --users 0 1 2 3 4]
                                [--queries 5] [--methods zero rpm] [--dev-size 12]

One real LaMP-3 user (``../shared/data/lamp3_users``, the ``--user``-th; its last 20% of reviews are
the queries) gets its profile built, then its first ``--queries`` queries are answered by each
method in turn, query by query (as the evaluation harness does), with the workspace's LLM cache
off so every call reaches the model. The first ``rpm`` answer also fits the user's decision rule
(one answering call per dev item): it is reported apart as *cold*; the others are *warm*. With
``--users`` several users alternate, query by query and method by method, as they do in
``bench/results.py``: each answer then depends on the user's prefix snapshot surviving the
others' prompts (``$INFLOW_PREFIX_CACHE_MB``, see :mod:`core.llm.choice_scoring`).

For every answer: wall time, each trace step's time, the prompt's tokens, the tokens llama.cpp
actually evaluated (the rest came from its key/value cache or a restored prefix snapshot), and
the time of the content-free prior pass against the scoring pass. For ``rpm`` also the tokens of
each prompt section (system, summary, factors, demonstrations, task and input) by the model's own
tokenizer. The machine is shared: the report prints the load average next to the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tokens import LAMP3, load_lamp3_users  # noqa: E402
from core.embed.factory import make_embedder  # noqa: E402
from core.evaluate.harness import dataset_key  # noqa: E402
from core.llm.choice_scoring import prefix_cache_bytes  # noqa: E402
from core.llm.factory import make_client  # noqa: E402
from core.llm.local_backend import batch_threads  # noqa: E402
from core.llm.settings import BackendSettings  # noqa: E402
from core.methods.context import AnswerContext  # noqa: E402
from core.methods.registry import get_method  # noqa: E402
from core.methods.rpm import RPMMethod  # noqa: E402
from core.stages.pipeline import build_profile  # noqa: E402
from core.stages.profile import PipelineSettings  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402


def section_tokens(llama: Any, system: str, prompt: str) -> dict[str, int]:
    """Tokens of the system prompt and of each ``## ``-headed section of the user message."""
    out = {"system": len(llama.tokenize(system.encode("utf-8"), add_bos=False))}
    for block in ("\n\n" + prompt).split("\n\n## ")[1:]:
        title = block.split("\n", 1)[0].strip()
        out[title[:40]] = len(llama.tokenize(("## " + block).encode("utf-8"), add_bos=False))
    return out


def llm_record(step: Any) -> dict[str, Any]:
    """The figures of one ``llm`` step: prompt tokens, evaluated and restored tokens, prior / score time."""
    scores = step.detail.choice_scores or {}
    timing = scores.get("timing_ms") or {}
    return {"ms": step.latency_ms, "tokens_in": step.tokens_in, "tokens_out": step.tokens_out,
            "evaluated": scores.get("evaluated_tokens"), "restored": scores.get("restored_tokens"),
            "prior_ms": timing.get("prior"), "score_ms": timing.get("score")}


def main(argv: list[str] | None = None) -> int:
    """Answer a few queries of one user with each method and print where the time went."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="local model name (default: $INFLOW_LOCAL_MODEL or the default)")
    ap.add_argument("--user", type=int, default=0, help="which of the LaMP-3 users (0-based)")
    ap.add_argument("--users", type=int, nargs="+", default=None,
                    help="several LaMP-3 users (0-based) whose queries alternate (instead of --user)")
    ap.add_argument("--queries", type=int, default=5)
    ap.add_argument("--snapshot-limit", type=int, default=None,
                    help="keep at most this many prefix snapshots (as before 2026-12-03: 4), to compare")
    ap.add_argument("--methods", nargs="+", default=["zero", "rpm"])
    ap.add_argument("--dev-size", type=int, default=None, help="rpm's dev slice (default: the method's)")
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    ap.add_argument("--workspace", type=Path, default=ROOT / ".inflow" / "rpm_latency.sqlite")
    args = ap.parse_args(argv)
    if not LAMP3.exists():
        print(f"{LAMP3} is absent", file=sys.stderr)
        return 2
    args.workspace.parent.mkdir(parents=True, exist_ok=True)
    ws = Workspace(args.workspace)
    client = make_client(BackendSettings(kind="local", local_model=args.model), ws, use_cache=False)
    embedder = make_embedder(args.embedder, workspace=ws)
    history, queries = load_lamp3_users()
    dataset_id = dataset_key(history)
    if not ws.has_dataset(dataset_id):
        ws.add_dataset(history, dataset_id=dataset_id)
    picks = args.users if args.users is not None else [args.user]
    backend = client.backend
    t0 = time.perf_counter()
    backend.load()
    load_s = time.perf_counter() - t0
    llama = backend.llama()
    methods = {m: (RPMMethod(args.dev_size) if m == "rpm" and args.dev_size is not None else get_method(m))
               for m in args.methods}
    users: list[tuple[str, AnswerContext, list[Any]]] = []
    for pick in picks:
        uid = history.users[pick].id
        t0 = time.perf_counter()
        profile = build_profile(ws, dataset_id, uid, client=client, embedder=embedder,
                                settings=PipelineSettings(embedder=args.embedder))
        print(f"# user {uid}: {len(profile.items)} history items, profile built in {time.perf_counter() - t0:.1f} s",
              flush=True)
        mine = [q for q in queries if q.user_id == uid and q.gold is not None][: args.queries]
        users.append((uid, AnswerContext(task=history.task, profile=profile, client=client, embedder=embedder), mine))
    print(f"# {backend.model_path.name}, {backend.n_threads} generation thread(s), prompts on "
          f"{max(backend.n_threads, batch_threads())}, {len(users)} user(s) alternating, up to {args.queries} "
          f"queries each; model loaded in {load_s:.1f} s; prefix snapshots up to {prefix_cache_bytes() / 2**20:.0f} "
          f"MB; load average {os.getloadavg()[0]:.1f} at the start")
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for n in range(args.queries):
        for uid, ctx, mine in users:
            if n >= len(mine):
                continue
            q = mine[n]
            for name, method in methods.items():
                t = time.perf_counter()
                ans = method.answer(q.input, ctx)
                wall = time.perf_counter() - t
                llm = [s for s in ans.trace.steps if s.kind == "llm"]
                rec = {"query": n, "user": uid, "wall_s": wall, "answer": ans.text, "gold": q.gold,
                       "steps": {s.name: round(s.latency_ms / 1000.0, 2) for s in ans.trace.steps},
                       "llm": [llm_record(s) for s in llm], "load": os.getloadavg()[0]}
                decide = next((s for s in ans.trace.steps if s.name == "Decide with this user's rule"), None)
                if decide is not None:
                    rec["fit_s"] = decide.detail.extra.get("fit_ms", 0.0) / 1000.0
                    rec["rule"] = (decide.detail.decision or {})["rule"]["name"]
                if name == "rpm" and llm:
                    rec["sections"] = section_tokens(llama, llm[-1].detail.system or "", str(llm[-1].input))
                rows[name].append(rec)
                one = rec["llm"][-1] if rec["llm"] else {}
                states = backend.prefix_states()
                if states is not None and args.snapshot_limit is not None:
                    states.capacity = args.snapshot_limit  # the scorer exists after the first answer, which saves <= 2
                print(f"{name} {uid} q{n}: {wall:.1f} s (fit {rec.get('fit_s', 0.0):.1f} s), prompt "
                      f"{one.get('tokens_in')} tokens, evaluated {one.get('evaluated')}, restored "
                      f"{one.get('restored')}, prior {one.get('prior_ms')} ms, score {one.get('score_ms')} ms; "
                      f"answer {ans.text} (gold {q.gold}); load {rec['load']:.1f}"
                      + (f"; snapshots {len(states)}, {states.nbytes / 2**20:.0f} MB" if states is not None else "")
                      + f"; steps {rec['steps']}" + (f"; sections {rec['sections']}" if "sections" in rec else ""),
                      flush=True)
    print("\n| method | cold answer (s) | warm answers (s), median [min-max] | prompt tokens (median) | "
          "evaluated tokens (median, warm) |")
    print("|---|---|---|---|---|")
    for name, recs in rows.items():
        # a user's first answer is cold (prefix evaluated, rule fitted); the median cold is shown
        first = [r for r in recs if r["query"] == 0]
        later = [r for r in recs if r["query"] > 0]
        warm = [r["wall_s"] - r.get("fit_s", 0.0) for r in later]
        cold = statistics.median(r["wall_s"] for r in first) if first else float("nan")
        toks = [r["llm"][-1]["tokens_in"] for r in recs if r["llm"]]
        ev = [r["llm"][-1]["evaluated"] for r in later if r["llm"] and r["llm"][-1]["evaluated"] is not None]
        print(f"| {name} | {cold:.1f} | " + (f"{statistics.median(warm):.1f} [{min(warm):.1f}-{max(warm):.1f}]"
                                             if warm else "-")
              + f" | {statistics.median(toks) if toks else '-'} | {statistics.median(ev) if ev else '-'} |")
    ws.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
