"""Import UMAP with numba's on-disk cache, so its machine code is compiled once per machine.

UMAP and pynndescent are numba code. Most of their functions are compiled on first use in every new
process (several seconds on two cores), because few of them ask numba to cache. :func:`import_umap`
imports them with numba's ``cache=True`` as the default for every function they define, so the
machine code is written once to ``NUMBA_CACHE_DIR`` and loaded by later processes. The cache
directory defaults to ``$XDG_CACHE_HOME/inflow/numba`` (``~/.cache/inflow/numba``) unless
``NUMBA_CACHE_DIR`` is set. Functions numba cannot cache (closures) are compiled as usual.

Kept apart from :mod:`core.stages.warmup` (which runs the projector and the clusterer) because
the projector itself imports UMAP through here.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

_LOCK = threading.Lock()


def cache_dir() -> Path:
    """Return numba's cache directory (``NUMBA_CACHE_DIR``, else the user cache folder)."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "inflow" / "numba"


def _configure_cache() -> None:
    path = cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # numba falls back to its own locations
    os.environ.setdefault("NUMBA_CACHE_DIR", str(path))
    if "numba" in sys.modules:
        import numba

        numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]


def _caching(decorator: Any) -> Any:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return decorator(cache=True)(args[0])
        kwargs.setdefault("cache", True)
        return decorator(*args, **kwargs)

    return wrapped


def import_umap() -> ModuleType:
    """Import ``umap`` with numba's on-disk cache enabled for its (and pynndescent's) functions.

    Returns:
        The ``umap`` module. If it was already imported elsewhere it is returned as it is.
    """
    with _LOCK:
        if "umap" in sys.modules:
            return sys.modules["umap"]
        _configure_cache()
        import numba

        njit, jit = numba.njit, numba.jit
        numba.njit, numba.jit = _caching(njit), _caching(jit)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import umap
        finally:
            numba.njit, numba.jit = njit, jit
        return umap
