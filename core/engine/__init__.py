"""Engines that spread the users of a build or an evaluation over processes or machines.

``make_engine("local")`` runs users in this process (the default); ``make_engine("ray", address=...)``
runs each user as a Ray task (see :mod:`core.engine.ray_engine`). Ray is imported only then.
"""

from __future__ import annotations

from typing import Any

from core.embed.base import Embedder
from core.engine.base import ENGINES, Engine, EngineProgress, EngineReport, EngineRun, UserOutcome
from core.engine.budget import BudgetLimits
from core.engine.local import LocalEngine
from core.engine.ray_engine import RayEngine
from core.engine.work import WorkSpec, backend_spec, embedder_kind
from core.errors import InputError, Problem
from core.llm.client import LLMClient

__all__ = ["ENGINES", "Engine", "EngineProgress", "EngineReport", "UserOutcome", "make_engine", "prepare_run"]


def make_engine(name: str, *, address: str | None = None, **ray_options: Any) -> Engine:
    """Return the engine called ``name``.

    Args:
        name: ``local`` or ``ray``.
        address: Ray only: ``None`` (start a local instance), ``auto`` or ``ray://host:port``.
        **ray_options: Ray only: ``num_cpus``, ``worker_cpus``, ``object_store_mb``, ``max_attempts``.

    Raises:
        InputError: An unknown engine, or an address given to the local engine (field named).
    """
    if name == "local":
        if address:
            raise InputError(Problem("arguments", None, "address", "--address needs --engine ray"))
        return LocalEngine()
    if name == "ray":
        return RayEngine(address, **ray_options)
    raise InputError(Problem("arguments", None, "engine", f"unknown engine {name!r}; use one of {', '.join(ENGINES)}"))


def prepare_run(engine: Engine, client: LLMClient | None, embedder: Embedder, settings: Any, *,
                environ: dict[str, str] | None = None) -> Any:
    """Return the :class:`core.engine.base.EngineRun` for the driver's client, embedder and pipeline settings.

    The one place that turns what the CLI and the pages hold into what workers need: the backend
    without its key, the embedder's kind, the pipeline settings, and the budget (calls in flight
    from the client, ``INFLOW_MAX_RPM`` / ``INFLOW_MAX_TPM`` from the environment).

    Raises:
        InputError: A limit that is not a positive integer (the variable is named).
        ValueError: An embedder a worker cannot rebuild.
    """
    spec = WorkSpec(dataset_id="", backend=backend_spec(client), embedder=embedder_kind(embedder),
                    pipeline=settings.to_dict())
    limits = BudgetLimits.from_env(client.max_concurrency if client is not None else 1, environ)
    return EngineRun(engine, spec, limits, client=client, embedder=embedder)
