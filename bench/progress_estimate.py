"""How close the progress panel's "about N left" comes to the time a stage really took to finish.

    python bench/progress_estimate.py [--latency 0.2] [--user ava] [--lamp]

Builds one user's profile with the LLM stages (features and reasoning paths call the model) against
the loopback fake OpenAI server (``--latency`` seconds per call), with the same tracker the pages
and the CLI use (:mod:`core.views.progress`), sampling its snapshot every 50 ms. For each counted
stage it prints, at 25%, 50% and 75% of the stage's items, the estimate shown then and the time the
stage actually still took. Then it evaluates the user's last items with two methods and does the
same for the evaluation's answers. Last, one ``rpm`` answer as the Reasoning page runs it
(:func:`core.views.answer_jobs.start_answer_job`): its first answer fits the user's decision rule on
up to 20 dev items, and the job counts those answers and the query's as one stage. ``--lamp`` uses
the LaMP-3 user u00005020 (550 reviews) from ../shared/data (bench/tokens.py's LAMP3) instead of the
sample reviewer.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tokens import LAMP3  # noqa: E402
from core.embed.cached import CachedEmbedder  # noqa: E402
from core.embed.hashing import HashingEmbedder  # noqa: E402
from core.llm.factory import make_client  # noqa: E402
from core.llm.settings import BackendSettings  # noqa: E402
from core.stages.pipeline import build_profile  # noqa: E402
from core.stages.profile import PipelineSettings  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402
from core.ui_state import ensure_sample_data, load_files  # noqa: E402
from core.views.answer_jobs import start_answer_job  # noqa: E402
from core.views.eval_view import eval_inputs, start_eval_job  # noqa: E402
from core.views.progress import BUILD_STAGES, ProgressTracker  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer  # noqa: E402


class Sampler:
    """Record ``(time, stage, done, total, eta)`` of a tracker's stages every ``every`` seconds."""

    def __init__(self, tracker: ProgressTracker, every: float = 0.05) -> None:
        self.tracker, self.every, self.rows = tracker, every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for s in self.tracker.snapshot().stages:
                if s.status == "running" and s.counted:
                    self.rows.append((now, s.name, s.done, s.total, s.eta_s))
            time.sleep(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def report(sampler: Sampler, ends: dict[str, float]) -> None:
    """Print, per stage, the estimate at 25/50/75% of its items next to the time it really still took."""
    print(f"{'stage':<10} {'at':>4} {'items':>9} {'estimate':>9} {'actual':>8} {'ratio':>6}")
    for stage, end in ends.items():
        rows = [r for r in sampler.rows if r[1] == stage]
        for share in (0.25, 0.5, 0.75):
            row = next((r for r in rows if r[3] and r[2] >= share * r[3] and r[4] is not None), None)
            if row is None:
                print(f"{stage:<10} {share:>4.0%} {'-':>9} (no estimate sampled)")
                continue
            t, _, done, total, eta = row
            actual = end - t
            print(f"{stage:<10} {share:>4.0%} {done:>4}/{total:<4} {eta:>8.1f}s {actual:>7.1f}s "
                  f"{eta / actual if actual > 0 else float('nan'):>6.2f}")


def sample_job(job: Any) -> tuple[Sampler, float]:
    """Wait for a started job while sampling its tracker; return the sampler and when the job ended."""
    with Sampler(job.tracker) as sampler:
        job.wait()
        end = time.monotonic()
    return sampler, end


def main(argv: list[str] | None = None) -> int:
    """Build and evaluate one user against the slow loopback server; print estimate vs actual."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--user", default="ava")
    ap.add_argument("--lamp", action="store_true", help="the LaMP-3 user u00005020 from ../shared/data")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer(latency_s=args.latency) as server:
        ws = Workspace(Path(tmp) / "ws.sqlite")
        if args.lamp:
            if not LAMP3.exists():
                print(f"{LAMP3} is absent", file=sys.stderr)
                return 2
            load_files(ws, [LAMP3], dataset_id="data")
            dataset, user = "data", "u00005020"
        else:
            ensure_sample_data(ws)
            dataset, user = "reviews", args.user
        client = make_client(BackendSettings(kind="openai", base_url=server.base_url, model="fake-model",
                                             api_key="sk-bench", use_cache=False), ws)
        emb = CachedEmbedder(HashingEmbedder(), ws)
        settings = PipelineSettings(extractor="llm", namer="keywords", summarizer="template", paths="llm",
                                    embedder="hash")
        tracker = ProgressTracker(BUILD_STAGES)
        ends: dict[str, float] = {}

        def hook(stage: str, done: int, total: int) -> None:
            tracker.update(stage, done, total)
            if total > 1 and done >= total:
                ends.setdefault(stage, time.monotonic())

        t0 = time.perf_counter()
        with Sampler(tracker) as sampler:
            build_profile(ws, dataset, user, client=client, embedder=emb, settings=settings, progress=hook)
        print(f"build of {user}: {time.perf_counter() - t0:.1f} s, {server.chat_calls} model calls, "
              f"{args.latency:.2f} s per call")
        report(sampler, ends)

        history, queries, _ = eval_inputs(ws.get_dataset(dataset, user_ids=[user]), dataset, fraction=0.2)
        job = start_eval_job(ws, history, queries, methods=["zero", "bm25"], client=client, embedder=emb,
                             settings=settings, limit_per_user=10, k=4)
        sampler, end = sample_job(job)
        if job.error:
            print(f"evaluation failed: {job.error}", file=sys.stderr)
            return 1
        print(f"\nevaluation: {job.result.n} queries x 2 methods in {job.result.runtime_s:.1f} s "
              "(one user: the build on earlier items comes before the first answer, so it is not in the rate)")
        report(sampler, {"answering": end})

        profile = build_profile(ws, dataset, user, client=client, embedder=emb, settings=settings)  # stored: no calls
        before = server.chat_calls
        job = start_answer_job(ws, profile, method="rpm", query=queries[0].input, client=client, embedder=emb)
        sampler, end = sample_job(job)
        if job.error:
            print(f"rpm answer failed: {job.error}", file=sys.stderr)
            return 1
        n_dev = job.result.answer.trace.steps[-1].detail.decision.get("n_dev", 0)
        print(f"\nrpm's first answer: {n_dev} dev items, then the query, {server.chat_calls - before} model calls in "
              f"{job.finished_at - job.started_at:.1f} s")
        report(sampler, {"answering": end})
        ws.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
