"""What one worker does for one user: the same core stage code, in a scratch workspace.

:func:`build_user` seeds an in-memory workspace with the user's slice of the driver's workspace
(:mod:`core.store.shards`), runs :func:`core.stages.pipeline.build_profile` on it exactly as the
local engine does on the driver's workspace, and returns the rows it added. :func:`answer_user`
does the same and then answers the user's evaluation queries with
:func:`core.evaluate.harness.answer_user_queries`.

The scratch workspace reads LLM answers and embeddings it does not hold through a *cache source*
(the driver's workspace, through a Ray actor), so a call the driver's cache already answers is never
sent to the model, and what the worker computes goes back with its rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from core.embed.base import Embedder
from core.embed.factory import embedder_kind_of, make_embedder
from core.evaluate.harness import answer_user_queries
from core.llm.client import LLMClient, stats_snapshot
from core.llm.factory import make_backend
from core.llm.settings import BackendSettings
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings
from core.store.shards import Shard, load_seed, new_rows
from core.store.workspace import Workspace, stable_hash


class CacheSource(Protocol):
    """Where a scratch workspace looks up cache entries it does not hold."""

    def cache_get(self, key: str) -> dict[str, Any] | None:
        """Return a cached LLM answer, or None."""
        ...

    def embeddings_get(self, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
        """Return cached vectors by text hash."""
        ...


class ScratchWorkspace(Workspace):
    """An in-memory workspace whose caches fall back to a :class:`CacheSource`."""

    def __init__(self, source: CacheSource | None) -> None:
        """Create the empty scratch workspace."""
        super().__init__(":memory:")
        self.source = source

    def cache_get(self, key: str) -> dict[str, Any] | None:
        """Look in this workspace, then in the source (a hit there is not copied: the driver has it)."""
        hit = super().cache_get(key)
        if hit is None and self.source is not None:
            hit = self.source.cache_get(key)
        return hit

    def embeddings_get(self, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
        """Look in this workspace, then ask the source for the rest."""
        found = super().embeddings_get(model, hashes)
        missing = [h for h in hashes if h not in found]
        if missing and self.source is not None:
            found.update(self.source.embeddings_get(model, missing))
        return found


@dataclass
class WorkSpec:
    """Everything a worker needs besides the user's seed, as plain data.

    Attributes:
        dataset_id: The stored dataset.
        backend: :meth:`core.llm.settings.BackendSettings.to_dict` with the endpoint and model resolved
            (never the API key: a worker reads ``OPENAI_API_KEY`` from its own environment), or None
            for an offline build.
        embedder: Embedder kind for :func:`core.embed.factory.make_embedder`.
        pipeline: :meth:`core.stages.profile.PipelineSettings.to_dict`.
        eval: For :func:`answer_user`: ``methods``, ``k``, ``baselines``, ``majority``, ``run_id``.
    """

    dataset_id: str
    backend: dict[str, Any] | None
    embedder: str
    pipeline: dict[str, Any]
    eval: dict[str, Any] = field(default_factory=dict)


@dataclass
class UserResult:
    """What a worker sends back for one user.

    Attributes:
        user_id: The user.
        rows: The rows its build added (see :func:`core.store.shards.new_rows`).
        calls: Model calls made.
        cache_hits: Calls answered from a cache.
        failures: Calls that failed.
        seconds: Wall time of the work.
        records: Evaluation only: one per-query record per answered query.
    """

    user_id: str
    rows: Shard
    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    seconds: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)


_BACKENDS: dict[str, Any] = {}  # one backend per worker process and endpoint: its HTTP client is made once
_BACKENDS_LOCK = threading.Lock()


def worker_client(spec: WorkSpec, ws: Workspace, limiter: Any | None) -> Any | None:
    """Create the worker's LLM client for one user (no reachability check: the driver made one).

    The backend (and its HTTP connection pool) is shared by every user this process works on; the
    client, with its cache and traces in the user's scratch workspace, is new per user.
    """
    if spec.backend is None:
        return None
    settings = BackendSettings.from_dict(spec.backend)
    key = stable_hash(spec.backend)
    with _BACKENDS_LOCK:
        if key not in _BACKENDS:
            _BACKENDS[key] = make_backend(settings, check=False)
        backend = _BACKENDS[key]
    return LLMClient(backend, ws, max_concurrency=settings.max_concurrency, use_cache=settings.use_cache,
                     limiter=limiter)


def _scratch(spec: WorkSpec, seed: Shard, source: CacheSource | None, limiter: Any | None) -> tuple[Workspace, Any,
                                                                                                  Any]:
    ws = ScratchWorkspace(source)
    load_seed(ws, seed)
    return ws, worker_client(spec, ws, limiter), make_embedder(spec.embedder)


def build_user(spec: WorkSpec, user_id: str, seed: Shard, *, source: CacheSource | None = None,
               limiter: Any | None = None) -> UserResult:
    """Build one user's profile in a scratch workspace; return the rows it added.

    Raises:
        Whatever :func:`core.stages.pipeline.build_profile` raises (the engine reports it by user).
    """
    start = time.perf_counter()
    ws, client, embedder = _scratch(spec, seed, source, limiter)
    try:
        build_profile(ws, spec.dataset_id, user_id, client=client, embedder=embedder,
                      settings=PipelineSettings.from_dict(spec.pipeline))
        calls, hits, failed = stats_snapshot(client)
        return UserResult(user_id, new_rows(ws, seed), calls, hits, failed, time.perf_counter() - start)
    finally:
        ws.close()


def answer_user(spec: WorkSpec, user_id: str, seed: Shard, queries: Sequence[Any], *,
                source: CacheSource | None = None, limiter: Any | None = None) -> UserResult:
    """Build one user's profile and answer their evaluation queries in a scratch workspace."""
    start = time.perf_counter()
    ws, client, embedder = _scratch(spec, seed, source, limiter)
    try:
        e = spec.eval
        records = answer_user_queries(ws, spec.dataset_id, user_id, list(queries), methods=e["methods"],
                                      client=client, embedder=embedder,
                                      settings=PipelineSettings.from_dict(spec.pipeline), k=e["k"],
                                      baselines=e["baselines"], majority=e.get("majority"), run_id=e.get("run_id"),
                                      faithfulness=bool(e.get("faithfulness")))
        calls, hits, failed = stats_snapshot(client)
        return UserResult(user_id, new_rows(ws, seed), calls, hits, failed, time.perf_counter() - start,
                          records=records)
    finally:
        ws.close()


def backend_spec(client: LLMClient | None) -> dict[str, Any] | None:
    """Return what a worker needs to rebuild the driver's client (endpoint and model resolved, never the key).

    None for no client (an offline build).
    """
    if client is None:
        return None
    backend = client.backend
    caps = client.capabilities
    kind = "local" if caps.backend == "local" else "openai"
    return {"kind": kind, "base_url": getattr(backend, "base_url", None) if kind == "openai" else None,
            "model": caps.model if kind == "openai" else None,
            "gguf_path": str(backend.model_path) if kind == "local" else None,
            "max_concurrency": client.max_concurrency,
            "context_length": getattr(backend, "n_ctx", None) if kind == "local" else caps.context_length,
            "use_cache": client.use_cache}


def embedder_kind(embedder: Embedder) -> str:
    """Return the :func:`core.embed.factory.make_embedder` kind that rebuilds ``embedder`` in a worker.

    Raises:
        ValueError: An embedder no worker can rebuild by kind (a test stand-in, say).
    """
    name = str(getattr(embedder, "name", ""))
    known = embedder_kind_of(name)
    if known is None:
        raise ValueError(f"embedder {name!r} cannot be rebuilt in a worker; use hash, minilm or openai")
    return known[0]
