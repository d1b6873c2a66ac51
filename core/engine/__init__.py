"""Engines that spread the users of a build or an evaluation over processes or machines.

``make_engine("local")`` runs users in this process (the default); ``make_engine("ray", address=...)``
runs each user as a Ray task (see :mod:`core.engine.ray_engine`). Ray is imported only then.
"""

from __future__ import annotations

from typing import Any

from core.engine.base import ENGINES, Engine, EngineProgress, EngineReport, UserOutcome
from core.errors import InputError, Problem

__all__ = ["ENGINES", "Engine", "EngineProgress", "EngineReport", "UserOutcome", "make_engine"]


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
        from core.engine.local import LocalEngine

        return LocalEngine()
    if name == "ray":
        from core.engine.ray_engine import RayEngine

        return RayEngine(address, **ray_options)
    raise InputError(Problem("arguments", None, "engine", f"unknown engine {name!r}; use one of {', '.join(ENGINES)}"))
