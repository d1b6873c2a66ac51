"""Keep UMAP's start-up cost down: a warm-up run when the app starts.

:func:`warm_up` runs a tiny UMAP + HDBSCAN once, so the first real projection in a session does
not pay for compilation (the app calls it at start-up, in the background). UMAP is imported with
numba's on-disk cache (:mod:`core.stages.numba_cache`), so after the first warm-up on a machine
later processes load the compiled code instead of compiling it.
"""

from __future__ import annotations

import time

import numpy as np

from core.stages.cluster import HDBSCANClusterer
from core.stages.project import UMAPProjector
from core.stages.types import ProjectionParams


def warm_up(n: int = 60, seed: int = 0) -> float:
    """Run a tiny UMAP (both projections) and HDBSCAN once so later calls are fast.

    Returns:
        The seconds it took.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    _, nd = UMAPProjector().project(x, ProjectionParams(n_neighbors=10))
    HDBSCANClusterer(5).fit_predict(nd)
    return time.perf_counter() - start
