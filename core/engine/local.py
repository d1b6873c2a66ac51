"""``--engine local``: users one after another in this process, on the driver's workspace.

This is the path every build took before engines existed: :func:`core.stages.pipeline.build_profile`
(and, in an evaluation, :func:`core.evaluate.harness.answer_user_queries`) on the driver's
workspace with the driver's client. The client is given a :class:`core.engine.budget.LocalBudget`
for the run, so requests- and tokens-per-minute limits hold here too and the run reports the same
budget figures as the Ray engine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from core.embed.base import Embedder
from core.engine.base import CancelCheck, EngineProgress, EngineProgressCallback, EngineReport, UserOutcome
from core.engine.budget import BudgetLimits, LocalBudget
from core.engine.work import WorkSpec
from core.errors import Cancelled  # raised from a stage's progress callback when Cancel was asked for
from core.evaluate.harness import answer_user_queries
from core.llm.client import LLMClient, stats_snapshot
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace


def failure_reason(exc: BaseException) -> str:
    """Return how a user's failure is reported: ``ExceptionType: message``."""
    return f"{type(exc).__name__}: {exc}"


class LocalEngine:
    """Run users sequentially in this process (the default engine)."""

    name = "local"

    def run(self, ws: Workspace, spec: WorkSpec, users: Sequence[str], *, limits: BudgetLimits,
            client: LLMClient | None = None, embedder: Embedder | None = None,
            queries: Mapping[str, Sequence[Any]] | None = None,
            progress: EngineProgressCallback | None = None, cancel: CancelCheck | None = None) -> EngineReport:
        """See :meth:`core.engine.base.Engine.run`."""
        budget = LocalBudget(limits)
        previous = getattr(client, "limiter", None)
        if client is not None:
            client.limiter = budget
        settings = PipelineSettings.from_dict(spec.pipeline)
        start = time.perf_counter()
        base = stats_snapshot(client)
        state = EngineProgress(total=len(users))
        outcomes: list[UserOutcome] = []
        cancelled = False

        def report() -> None:
            state.calls = budget.stats().calls
            state.cache_hits = stats_snapshot(client)[1] - base[1]
            state.elapsed_s = time.perf_counter() - start
            if progress is not None:
                progress(state)

        def on_stage(stage: str, done: int, total: int) -> None:
            if cancel is not None and cancel():
                raise Cancelled(stage)

        try:
            for user in users:
                if cancelled or (cancel is not None and cancel()):
                    cancelled = True
                    outcomes.append(UserOutcome(user, "cancelled"))
                    continue
                state.running = 1
                report()
                t0, before = time.perf_counter(), stats_snapshot(client)
                outcome = UserOutcome(user, "done", attempts=1)
                try:
                    if queries is None:
                        build_profile(ws, spec.dataset_id, user, client=client, embedder=embedder,
                                      settings=settings, progress=on_stage)
                    else:
                        outcome.records = self._answer(ws, spec, user, queries.get(user, []), client, embedder,
                                                       settings, cancel)
                except Cancelled:
                    cancelled = True
                    outcome.status = "cancelled"
                except Exception as exc:  # one user's failure is reported by id; the others go on
                    outcome.status, outcome.error = "failed", failure_reason(exc)
                after = stats_snapshot(client)
                outcome.calls, outcome.cache_hits = after[0] - before[0], after[1] - before[1]
                outcome.seconds = time.perf_counter() - t0
                outcomes.append(outcome)
                state.running = 0
                state.done += outcome.status == "done"
                state.failed += outcome.status == "failed"
                report()
        finally:
            if client is not None:
                client.limiter = previous
        return EngineReport(self.name, outcomes, state, budget.stats(), workers=1, cancelled=cancelled)

    @staticmethod
    def _answer(ws: Workspace, spec: WorkSpec, user: str, queries: Sequence[Any], client: LLMClient | None,
                embedder: Embedder, settings: PipelineSettings, cancel: CancelCheck | None) -> list[dict[str, Any]]:
        e = spec.eval
        return answer_user_queries(ws, spec.dataset_id, user, list(queries), methods=e["methods"], client=client,
                                   embedder=embedder, settings=settings, k=e["k"], baselines=e["baselines"],
                                   majority=e.get("majority"), run_id=e.get("run_id"), cancel=cancel)
