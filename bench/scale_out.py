"""Population scale: build many synthetic users with ``--engine local`` and ``--engine ray`` at one budget.

    python bench/scale_out.py [--users 500] [--items 20] [--latency 0.2] [--concurrency 8]
                              [--num-cpus 2] [--worker-cpus 0.5] [--skip-local] [--one-user 200]
                              [--cpu-users 10]

The loopback OpenAI-compatible server (a child process) adds latency L to every call and answers
like a capable model (features with evidence, factor names, paths, a summary), so every stage of
every build runs its LLM path. With C calls in flight for the whole cluster, the best possible
rate is C / L calls/s. For each engine the script prints wall time, model calls, calls/s, the ratio
to C / L, the mean calls in flight while any was running, and the worker count; then it checks that
every user's features, factors (names, members, statistics), summary and paths are identical
between the engines, and that a second Ray run makes 0 model calls.

``--one-user N`` first measures one N-item user's build alone (L = 0.1 s, C as given): the mean
calls in flight while any call runs, against the goal of 0.9 x C. ``--cpu-users N`` first measures
the compute per user (everything but waiting on the model) on N users at 0 ms latency. ``--users 0``
runs only these. The figures in docs/SCALE.md come from
``python bench/scale_out.py --users 500 --one-user 200 --cpu-users 10``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.model import Dataset, User  # noqa: E402
from core.embed.hashing import HashingEmbedder  # noqa: E402
from core.engine.base import EngineReport  # noqa: E402
from core.engine.budget import BudgetLimits  # noqa: E402
from core.engine.local import LocalEngine  # noqa: E402
from core.engine.work import WorkSpec, backend_spec  # noqa: E402
from core.llm.client import LLMClient  # noqa: E402
from core.llm.openai_backend import OpenAIBackend  # noqa: E402
from core.stages.pipeline import load_profile  # noqa: E402
from core.stages.profile import PipelineSettings  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402
from tests.fakes.openai_server import ServerProcess  # noqa: E402
from tests.stages.conftest import durability_dataset  # noqa: E402

RESPONDER = "tests.stages.test_llm_stages:scripted"
SETTINGS = PipelineSettings(hdbscan_min_cluster_size=4)


def population(n_users: int, n_items: int) -> Dataset:
    """Synthetic users who each punish breakage, every user with their own reviews (seeded)."""
    users = []
    for k in range(n_users):
        items = durability_dataset(n=n_items, seed=1000 + k).users[0].items
        users.append(User(f"u{k:04d}", [type(it)(f"u{k:04d}-{it.id}", it.input, it.output) for it in items]))
    return Dataset("scale", durability_dataset(n=1).task, users)


def client_for(base_url: str, ws: Workspace | None, concurrency: int) -> LLMClient:
    """A client of the loopback server."""
    return LLMClient(OpenAIBackend(base_url, "sk-bench", "fake-model", timeout_s=60.0), ws,
                     max_concurrency=concurrency)


def fingerprint(ws: Workspace, user: str) -> tuple[Any, ...]:
    """Features, factors (names, members, statistics), summary and paths of a user's stored profile."""
    p = load_profile(ws, "scale", user)
    if p is None:
        return ("missing",)
    return (tuple(sorted((f.item_id, f.phrase, f.aspect, f.direction) for f in p.all_features())),
            tuple(sorted((f.name, tuple(sorted(f.feature_ids)), round(f.stats.coverage, 6),
                          None if f.stats.influence is None else round(f.stats.influence, 6)) for f in p.factors)),
            p.summary, tuple(sorted((k, v.text) for k, v in p.paths.items())))


def show(label: str, report: EngineReport, concurrency: int, latency: float) -> None:
    """Print one engine's figures."""
    p, b = report.progress, report.budget
    limit = concurrency / latency
    print(f"{label}: {p.done} users done, {p.failed} failed in {p.elapsed_s:.1f} s with {report.workers} workers; "
          f"{p.calls} model calls, {p.calls_per_s:.1f} calls/s; limit C/L = {limit:.1f}; ratio "
          f"{p.calls_per_s / limit:.3f}; mean calls in flight while busy {b.mean_in_flight:.2f} of {concurrency} "
          f"(max {b.max_seen}); {p.elapsed_s / max(1, p.done):.3f} s per user")


def _import_stages() -> int:
    import core.engine.work  # noqa: F401
    import core.stages.pipeline  # noqa: F401

    time.sleep(0.5)  # long enough that each worker gets one
    return os.getpid()


def warm_up(engine: Any) -> None:
    """Start Ray and have every worker process import the stage code once."""
    ray = engine.connect()
    task = ray.remote(_import_stages).options(num_cpus=engine.worker_cpus)
    pids = set(ray.get([task.remote() for _ in range(engine.workers(ray))]))
    print(f"ray: {len(pids)} worker processes warmed up", file=sys.stderr)


def one_user(n_items: int, concurrency: int) -> None:
    """Measure the calls kept in flight inside one user's build."""
    latency = 0.1
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(latency_s=latency, responder=RESPONDER) as server:
        ws = Workspace(Path(tmp) / "one.sqlite")
        ws.add_dataset(population(1, n_items))
        client = client_for(server.base_url, ws, concurrency)
        report = LocalEngine().run(ws, WorkSpec("scale", backend_spec(client), "hashing", SETTINGS.to_dict()),
                                   ["u0000"], limits=BudgetLimits(concurrency), client=client,
                                   embedder=HashingEmbedder())
        b = report.budget
        print(f"one user, {n_items} items, L = {latency * 1000:.0f} ms, C = {concurrency}: {b.calls} calls in "
              f"{report.progress.elapsed_s:.1f} s; mean calls in flight while any runs {b.mean_in_flight:.2f} "
              f"= {b.mean_in_flight / concurrency:.2f} x C (goal >= 0.9); server max in flight "
              f"{server.stats()['max_in_flight']}")
        ws.close()


def cpu_cost(n_users: int, n_items: int) -> None:
    """Seconds per user of everything but waiting on the model: builds against a 0-latency server."""
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(latency_s=0.0, responder=RESPONDER) as server:
        ws = Workspace(Path(tmp) / "cpu.sqlite")
        ws.add_dataset(population(n_users + 1, n_items), dataset_id="scale")
        client = client_for(server.base_url, ws, 8)
        spec = WorkSpec("scale", backend_spec(client), "hashing", SETTINGS.to_dict())
        users = [u.id for u in population(n_users + 1, n_items).users]
        LocalEngine().run(ws, spec, users[:1], limits=BudgetLimits(8), client=client, embedder=HashingEmbedder())
        report = LocalEngine().run(ws, spec, users[1:], limits=BudgetLimits(8), client=client,
                                   embedder=HashingEmbedder())
        print(f"compute per user ({n_items} items, 0 ms model latency, after one warm-up user): "
              f"{report.progress.elapsed_s / n_users:.3f} s over {n_users} users")
        ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=500, help="synthetic users (0: only --one-user)")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--worker-cpus", type=float, default=0.5, help="CPUs each user's Ray task reserves")
    parser.add_argument("--skip-local", action="store_true", help="only the Ray engine (no identity check)")
    parser.add_argument("--one-user", type=int, default=0, metavar="N", help="first measure one N-item user")
    parser.add_argument("--cpu-users", type=int, default=0, metavar="N",
                        help="first measure the compute per user on N users (0 ms model latency)")
    args = parser.parse_args()
    if args.one_user:
        one_user(args.one_user, args.concurrency)
    if args.cpu_users:
        cpu_cost(args.cpu_users, args.items)
    if args.users < 1:
        return
    from core.engine.ray_engine import RayEngine

    data = population(args.users, args.items)
    limits = BudgetLimits(args.concurrency)
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(latency_s=args.latency, responder=RESPONDER) as server:
        users = [u.id for u in data.users]
        spec = WorkSpec("scale", backend_spec(client_for(server.base_url, None, args.concurrency)), "hashing",
                        SETTINGS.to_dict())
        local_ws = None
        if not args.skip_local:
            local_ws = Workspace(Path(tmp) / "local.sqlite")
            local_ws.add_dataset(data, dataset_id="scale")
            client = client_for(server.base_url, local_ws, args.concurrency)
            show("local", LocalEngine().run(local_ws, spec, users, limits=limits, client=client,
                                            embedder=HashingEmbedder()), args.concurrency, args.latency)
        ray_ws = Workspace(Path(tmp) / "ray.sqlite")
        ray_ws.add_dataset(data, dataset_id="scale")
        engine = RayEngine(num_cpus=args.num_cpus, worker_cpus=args.worker_cpus)
        warm_up(engine)  # start Ray and its workers before the clock: start-up is not the engine's throughput
        show("ray", engine.run(ray_ws, spec, users, limits=limits), args.concurrency, args.latency)
        rows = ray_ws.list_traces(limit=10**9)
        made = [r for r in rows if not r["cache_hit"] and not r["error"]]
        tokens = sum((r["tokens_in"] or 0) + (r["tokens_out"] or 0) for r in made) / max(1, len(made))
        print(f"per user: {len(made) / len(users):.1f} model calls, {tokens:.0f} tokens per call (in + out)")
        if local_ws is not None:
            start = time.perf_counter()
            same = sum(fingerprint(local_ws, u) == fingerprint(ray_ws, u) for u in users)
            print(f"identical profiles (features, factors, summaries, paths): {same}/{len(users)} users "
                  f"(checked in {time.perf_counter() - start:.1f} s)")
        before = server.stats()["chat_calls"]
        again = engine.run(ray_ws, spec, users, limits=limits)
        print(f"ray rerun: {server.stats()['chat_calls'] - before} model calls, {again.progress.done} users done "
              f"in {again.progress.elapsed_s:.1f} s")


if __name__ == "__main__":
    main()
