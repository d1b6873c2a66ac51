"""``--engine ray``: one Ray task per user, one endpoint budget held by one actor, one writer.

* Each user's work is a Ray task running :func:`core.engine.work.build_user` (or
  :func:`~core.engine.work.answer_user`): the same core stage code as the local engine, in a
  scratch workspace seeded with the user's slice of the driver's workspace.
* A ``BudgetActor`` holds the endpoint budget (:class:`core.engine.budget.BudgetState`): every
  worker's client asks it for a slot before each request (:class:`RayLimiter`), so
  ``INFLOW_MAX_CONCURRENCY`` and the optional ``INFLOW_MAX_RPM`` / ``INFLOW_MAX_TPM`` hold for the
  whole cluster, and a 429 pauses every worker.
* A ``CacheReader`` actor, pinned to the driver's node, reads the driver's workspace file
  (read-only) so a worker's client finds answers and embeddings the driver already has.
* This process is the workspace's only writer: it ingests each finished user's rows in one
  transaction. A user whose worker died is retried (``max_attempts``) and the slots its calls held
  are given back; a user whose work raised is reported by id with the reason; Cancel stops it all.

Ray is imported only when this engine runs, so nothing else pays for it.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.embed.base import Embedder
from core.engine.base import CancelCheck, EngineProgress, EngineProgressCallback, EngineReport, UserOutcome
from core.engine.budget import BudgetLimits, BudgetState, BudgetStats
from core.engine.local import failure_reason
from core.engine.work import UserResult, WorkSpec, answer_user, build_user
from core.errors import InputError, Problem
from core.llm.client import LLMClient
from core.store.shards import ingest_rows, seed_rows
from core.store.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
POLL_S = 0.5


def import_ray() -> Any:
    """Import Ray, or say how to install it.

    Raises:
        InputError: Ray is not installed (field ``engine``).
    """
    try:
        import ray
    except ImportError:
        raise InputError(Problem("settings", None, "engine", "the ray engine needs Ray: pip install "
                                                             "'ray>=2.40,<3' (it is in requirements.txt)")) from None
    return ray


def init_ray(ray: Any, kwargs: dict[str, Any]) -> None:
    """Call ``ray.init``; off the main thread (a page's job), from a thread that lives as long as the process.

    A local Ray instance's GCS and raylet are tied to the thread that started them (Linux's
    parent-death signal is per thread): started from a job's thread they would die when the job
    ends, and the process would then abort. A daemon "owner" thread that never returns keeps them up.
    """
    if threading.current_thread() is threading.main_thread():
        ray.init(**kwargs)
        return
    started, failure = threading.Event(), []

    def own() -> None:
        try:
            ray.init(**kwargs)
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)
        finally:
            started.set()
        if not failure:
            threading.Event().wait()  # never returns: Ray's processes live as long as this thread

    threading.Thread(target=own, name="ray-owner", daemon=True).start()
    started.wait()
    if failure:
        raise failure[0]


class BudgetActor:
    """The endpoint budget for a whole cluster (run as an async Ray actor: waiting callers cost no thread)."""

    def __init__(self, limits: dict[str, Any]) -> None:
        """Create the budget from :class:`BudgetLimits` fields."""
        self.state = BudgetState(BudgetLimits(**limits))
        self._cond: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:  # created on the actor's event loop
            self._cond = asyncio.Condition()
        return self._cond

    async def acquire(self, owner: str, tokens: int) -> int:
        """Wait for a slot; return its lease."""
        cond, start = self._condition(), time.monotonic()
        async with cond:
            while True:
                lease, wait = self.state.try_acquire(owner, tokens, time.monotonic())
                if lease is not None:
                    self.state.stats.waited_s += time.monotonic() - start
                    return lease
                try:
                    await asyncio.wait_for(cond.wait(), timeout=wait)
                except TimeoutError:
                    pass

    async def release(self, lease: int, tokens: int) -> None:
        """End a call."""
        async with self._condition():
            self.state.release(lease, tokens, time.monotonic())
            self._condition().notify_all()

    async def pause(self, seconds: float) -> None:
        """Hold back every worker's next calls."""
        async with self._condition():
            self.state.pause(seconds, time.monotonic())

    async def drop_owner(self, owner: str) -> int:
        """Give back the slots of a lost worker's user."""
        async with self._condition():
            n = self.state.drop_owner(owner, time.monotonic())
            self._condition().notify_all()
            return n

    async def stats(self) -> dict[str, Any]:
        """Return :class:`BudgetStats` as a dict."""
        return self.state.snapshot(time.monotonic()).to_dict()


class CacheReader:
    """Read-only lookups in the driver's workspace file (run as a Ray actor on the driver's node)."""

    def __init__(self, path: str) -> None:
        """Open the workspace (WAL: reading never blocks the driver's writes)."""
        self.ws = Workspace(path)

    def cache_get(self, key: str) -> dict[str, Any] | None:
        """Return a cached LLM answer, or None."""
        return self.ws.cache_get(key)

    def embeddings_get(self, model: str, hashes: list[str]) -> dict[str, Any]:
        """Return cached vectors by text hash."""
        return self.ws.embeddings_get(model, hashes)


class RayLimiter:
    """A worker's :class:`core.llm.limits.CallLimiter`: the budget actor, on behalf of one user's attempt."""

    def __init__(self, actor: Any, owner: str) -> None:
        """Wrap the actor handle; ``owner`` tags this attempt's leases."""
        self.actor = actor
        self.owner = owner

    def acquire(self, tokens: int) -> int:
        """Wait for a slot from the actor."""
        import ray

        return int(ray.get(self.actor.acquire.remote(self.owner, int(tokens))))

    def release(self, lease: int, tokens: int) -> None:
        """Give the slot back (not awaited: the actor orders it before later requests of this worker)."""
        self.actor.release.remote(lease, int(tokens))

    def pause(self, seconds: float) -> None:
        """Pause every worker."""
        self.actor.pause.remote(float(seconds))


class RayCacheSource:
    """A worker's :class:`core.engine.work.CacheSource`: the cache reader actor."""

    def __init__(self, actor: Any) -> None:
        """Wrap the actor handle."""
        self.actor = actor

    def cache_get(self, key: str) -> dict[str, Any] | None:
        """Ask the driver's workspace."""
        import ray

        return ray.get(self.actor.cache_get.remote(key))

    def embeddings_get(self, model: str, hashes: list[str]) -> dict[str, Any]:
        """Ask the driver's workspace."""
        import ray

        return ray.get(self.actor.embeddings_get.remote(model, hashes))


def run_user_task(spec: WorkSpec, user_id: str, seed: Any, queries: Sequence[Any] | None, owner: str,
                  budget: Any, cache: Any) -> tuple[str, UserResult | str]:
    """The body of one Ray task: ``("ok", result)``, or ``("error", reason)`` when the user's work raised.

    A raised error is returned, not re-raised, so Ray does not retry it (it would fail again); only
    a lost worker is retried, by the driver.
    """
    limiter, source = RayLimiter(budget, owner), RayCacheSource(cache)
    try:
        if queries is None:
            return "ok", build_user(spec, user_id, seed, source=source, limiter=limiter)
        return "ok", answer_user(spec, user_id, seed, queries, source=source, limiter=limiter)
    except Exception as exc:  # reported by user id on the driver
        return "error", failure_reason(exc)


class RayEngine:
    """Spread users over a Ray cluster (a local instance by default).

    Args:
        address: ``None`` starts a local Ray instance; ``"auto"`` joins the cluster this machine is
            part of; ``"ray://host:port"`` connects through Ray Client.
        num_cpus: CPUs of a local instance (default: this machine's).
        worker_cpus: CPUs each user's task reserves (below 1 runs more users per core: a build
            mostly waits on the endpoint).
        object_store_mb: Object store of a local instance.
        max_attempts: Attempts per user when its worker is lost.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, worker_cpus: float = 1.0,
                 object_store_mb: int = 200, max_attempts: int = 3) -> None:
        """Configure the engine (Ray starts when :meth:`run` does)."""
        if worker_cpus <= 0:
            raise InputError(Problem("settings", None, "worker_cpus", "must be more than 0"))
        self.address = address
        self.num_cpus = num_cpus
        self.worker_cpus = worker_cpus
        self.object_store_mb = object_store_mb
        self.max_attempts = max_attempts
        self._pending: dict[Any, str] = {}  # the running users' tasks (cancelled on Ctrl-C)

    def connect(self) -> Any:
        """Start or join Ray (once per process) and return the module."""
        ray = import_ray()
        if not ray.is_initialized():
            env = {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
            kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}, "include_dashboard": False,
                                      "log_to_driver": False, "configure_logging": False}
            if self.address is None:  # "local": always a new instance of our own, never a stray one
                kwargs.update(address="local", num_cpus=self.num_cpus or os.cpu_count() or 1,
                              object_store_memory=self.object_store_mb * 1024 * 1024)
            else:
                kwargs["address"] = self.address
            try:
                init_ray(ray, kwargs)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise InputError(Problem("settings", None, "address",
                                         f"cannot start or join Ray at {self.address or 'a local instance'}: {exc}")
                                 ) from None
        return ray

    def workers(self, ray: Any) -> int:
        """Users the cluster works on at once."""
        return max(1, int(ray.cluster_resources().get("CPU", 1) // self.worker_cpus))

    def run(self, ws: Workspace, spec: WorkSpec, users: Sequence[str], *, limits: BudgetLimits,
            client: LLMClient | None = None, embedder: Embedder | None = None,
            queries: Mapping[str, Sequence[Any]] | None = None,
            progress: EngineProgressCallback | None = None, cancel: CancelCheck | None = None) -> EngineReport:
        """See :meth:`core.engine.base.Engine.run` (``client`` and ``embedder`` are not used: workers make their own).

        Raises:
            InputError: An in-memory workspace (workers read the driver's file), or Ray cannot start.
        """
        if ws.path == ":memory:":
            raise InputError(Problem("settings", None, "workspace", "the ray engine needs a workspace file"))
        ray = self.connect()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        budget = ray.remote(BudgetActor).options(max_concurrency=10_000, num_cpus=0).remote(limits.__dict__)
        cache = ray.remote(CacheReader).options(num_cpus=0, scheduling_strategy=here, max_concurrency=1).remote(ws.path)
        task = ray.remote(run_user_task).options(num_cpus=self.worker_cpus, max_retries=0)
        try:
            return self._drive(ray, ws, spec, list(users), task, budget, cache, queries, progress, cancel)
        except KeyboardInterrupt:  # Ctrl-C on the CLI: stop the running users too (finished ones are stored)
            for ref in self._pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            ray.kill(budget)
            ray.kill(cache)

    def _drive(self, ray: Any, ws: Workspace, spec: WorkSpec, users: list[str], task: Any, budget: Any, cache: Any,
               queries: Mapping[str, Sequence[Any]] | None, progress: EngineProgressCallback | None,
               cancel: CancelCheck | None) -> EngineReport:
        from ray.exceptions import RayError, RayTaskError

        start = time.perf_counter()
        workers = self.workers(ray)
        state = EngineProgress(total=len(users))
        outcomes = {u: UserOutcome(u, "cancelled") for u in users}
        todo: deque[str] = deque(users)
        pending: dict[Any, str] = {}
        self._pending = pending
        cancelled = False
        last_report = 0.0

        def submit(user: str) -> None:
            o = outcomes[user]
            o.attempts += 1
            user_queries = None if queries is None else list(queries.get(user, []))
            ref = task.remote(spec, user, seed_rows(ws, spec.dataset_id, user), user_queries,
                              f"{user}#{o.attempts}", budget, cache)
            pending[ref] = user

        def report(force: bool = False) -> None:
            nonlocal last_report
            now = time.perf_counter()
            if not force and now - last_report < POLL_S:
                return
            last_report = now
            state.calls = int(ray.get(budget.stats.remote())["calls"])
            state.running = min(len(pending), workers)
            state.elapsed_s = now - start
            if progress is not None:
                progress(state)

        while todo or pending:
            if cancel is not None and cancel():
                cancelled = True
                for ref in pending:
                    ray.cancel(ref, force=True)
                break
            while todo and len(pending) < 2 * workers:  # a short queue per worker; seeds are read as they go
                submit(todo.popleft())
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            for ref in ready:
                user = pending.pop(ref)
                o = outcomes[user]
                try:
                    kind, payload = ray.get(ref)
                except RayTaskError as exc:  # the task body itself broke (it returns user errors)
                    kind, payload = "error", failure_reason(exc.cause if exc.cause is not None else exc)
                except RayError as exc:  # the worker (or its node) was lost: retry the user
                    ray.get(budget.drop_owner.remote(f"{user}#{o.attempts}"))
                    if o.attempts < self.max_attempts:
                        state.retried += 1
                        todo.appendleft(user)
                        continue
                    kind, payload = "error", f"worker lost {o.attempts} times: {type(exc).__name__}"
                if kind == "error":
                    o.status, o.error = "failed", str(payload)
                    state.failed += 1
                else:
                    assert isinstance(payload, UserResult)
                    ingest_rows(ws, payload.rows)  # the driver is the only writer, one transaction per user
                    o.status, o.calls, o.cache_hits, o.seconds = "done", payload.calls, payload.cache_hits, \
                        payload.seconds
                    o.records = payload.records
                    state.done += 1
                    state.cache_hits += payload.cache_hits
                report(force=True)
            report()
        report(force=True)
        stats = BudgetStats(**ray.get(budget.stats.remote()))
        return EngineReport(self.name, [outcomes[u] for u in users], state, stats, workers=workers,
                            cancelled=cancelled)
