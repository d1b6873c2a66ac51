"""The engine seam: how the users of a build or an evaluation are spread over processes or machines.

An :class:`Engine` runs one unit of work per user (a profile build, or a build plus answering the
user's evaluation queries) and reports each user's outcome. Two implementations:

* :class:`core.engine.local.LocalEngine` (``--engine local``, the default): users one after
  another in this process, on the driver's workspace, exactly as before engines existed;
* :class:`core.engine.ray_engine.RayEngine` (``--engine ray``): one Ray task per user running the
  same core functions (:mod:`core.engine.work`), one endpoint budget held by one actor, and this
  process as the workspace's single writer.

Both take a :class:`core.engine.work.WorkSpec` and return an :class:`EngineReport`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from core.embed.base import Embedder
from core.engine.budget import BudgetLimits, BudgetStats
from core.engine.work import WorkSpec
from core.llm.client import LLMClient
from core.store.workspace import Workspace

ENGINES = ("local", "ray")


@dataclass
class UserOutcome:
    """How one user's work ended.

    Attributes:
        user_id: The user.
        status: ``done``, ``failed`` or ``cancelled`` (never started, or stopped by Cancel).
        error: For ``failed``: the reason (``ExceptionType: message``).
        attempts: Times the work was started (more than 1 when a worker was lost and it was retried).
        calls: Model calls its work made.
        cache_hits: Calls its work got from a cache.
        seconds: Wall time of its last attempt.
        records: Evaluation only: its per-query records.
    """

    user_id: str
    status: str
    error: str | None = None
    attempts: int = 0
    calls: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EngineProgress:
    """Progress over users.

    Attributes:
        total: Users to run.
        done: Users finished.
        failed: Users whose work failed.
        running: Users being worked on now.
        retried: Attempts restarted after a lost worker.
        calls: Model calls granted by the endpoint budget so far (every worker's).
        cache_hits: Calls answered from a cache (counted as users finish).
        elapsed_s: Seconds since the run started.
    """

    total: int
    done: int = 0
    failed: int = 0
    running: int = 0
    retried: int = 0
    calls: int = 0
    cache_hits: int = 0
    elapsed_s: float = 0.0

    @property
    def calls_per_s(self) -> float:
        """Model calls per second so far."""
        return self.calls / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def finished(self) -> int:
        """Users done or failed."""
        return self.done + self.failed

    def line(self) -> str:
        """One line for a terminal or a progress label."""
        retried = f", {self.retried} retried" if self.retried else ""
        return (f"users {self.finished}/{self.total} ({self.done} done, {self.failed} failed, {self.running} running"
                f"{retried}) · {self.calls} model calls, {self.cache_hits} cache hits, {self.calls_per_s:.1f} calls/s")


@dataclass
class EngineReport:
    """What a run over users did.

    Attributes:
        engine: ``local`` or ``ray``.
        outcomes: One per user, in the order given.
        progress: The final progress.
        budget: The endpoint budget's stats (calls, mean calls in flight while busy, pauses).
        workers: Users worked on at once.
        cancelled: Cancel was asked for before every user finished.
    """

    engine: str
    outcomes: list[UserOutcome]
    progress: EngineProgress
    budget: BudgetStats
    workers: int
    cancelled: bool = False

    def failed(self) -> list[UserOutcome]:
        """The users whose work failed."""
        return [o for o in self.outcomes if o.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: engine, workers, counts, failed users with reasons, budget figures."""
        p = self.progress
        return {"engine": self.engine, "workers": self.workers, "users": p.total, "done": p.done, "failed": p.failed,
                "retried": p.retried, "cancelled": self.cancelled, "calls": p.calls, "cache_hits": p.cache_hits,
                "elapsed_s": round(p.elapsed_s, 3), "calls_per_s": round(p.calls_per_s, 2),
                "failures": {o.user_id: o.error for o in self.failed()}, "budget": self.budget.to_dict()}


EngineProgressCallback = Callable[[EngineProgress], None]
CancelCheck = Callable[[], bool]


class Engine(Protocol):
    """Runs one unit of work per user."""

    name: str

    def run(self, ws: Workspace, spec: WorkSpec, users: Sequence[str], *, limits: BudgetLimits,
            client: LLMClient | None = None, embedder: Embedder | None = None,
            queries: Mapping[str, Sequence[Any]] | None = None,
            progress: EngineProgressCallback | None = None, cancel: CancelCheck | None = None) -> EngineReport:
        """Build (or, with ``queries``, build and answer for) every user; never raise for one user's failure.

        Args:
            ws: The driver's workspace (its only writer is this call).
            spec: What to run (dataset, backend, embedder, pipeline, evaluation settings).
            users: User ids, in order.
            limits: The endpoint budget for every worker together.
            client: The driver's LLM client (the local engine uses it; Ray workers make their own).
            embedder: The driver's embedder (likewise).
            queries: Evaluation: each user's queries to answer after the build.
            progress: Called as users finish and about twice a second while they run.
            cancel: Checked while running; True stops starting users and cancels running ones.
        """
        ...


@dataclass
class EngineRun:
    """An engine with what it needs to run an evaluation's users (see :func:`core.evaluate.harness.evaluate`).

    Attributes:
        engine: The engine.
        spec: Backend, embedder and pipeline (the harness fills in the dataset and evaluation settings).
        limits: The endpoint budget.
        client: The driver's client (used by the local engine).
        embedder: The driver's embedder (used by the local engine).
        progress: Progress over users.
        report: Set when the run ends.
    """

    engine: Engine
    spec: WorkSpec
    limits: BudgetLimits
    client: LLMClient | None = None
    embedder: Embedder | None = None
    progress: EngineProgressCallback | None = None
    report: EngineReport | None = None

    def answer_users(self, ws: Workspace, dataset_id: str, queries: Mapping[str, Sequence[Any]],
                     eval_params: dict[str, Any], *, cancel: CancelCheck | None = None) -> EngineReport:
        """Answer each user's queries as one unit of this engine; the report is also left in :attr:`report`.

        This is what :func:`core.evaluate.harness.evaluate` calls (through its ``UserEngine``
        protocol, so the harness never imports the engines that run it).

        Args:
            ws: The driver's workspace.
            dataset_id: The dataset.
            queries: The queries by user id (each user is one unit).
            eval_params: ``methods``, ``k``, ``baselines``, ``majority``, ``run_id``, ``faithfulness``.
            cancel: Checked while running.
        """
        spec = replace(self.spec, dataset_id=dataset_id, eval=dict(eval_params))
        self.report = self.engine.run(ws, spec, list(queries), limits=self.limits, client=self.client,
                                      embedder=self.embedder, queries=queries, progress=self.progress, cancel=cancel)
        return self.report
