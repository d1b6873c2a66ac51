"""Embedding and projection of features: UMAP to 2-D (display) and n-D (clustering), both cached.

The reducer is swappable (anything with ``fit_transform(X) -> array``). The default
:class:`UMAPProjector` computes the k-nearest-neighbour graph once and fits both projections on it.
Inputs smaller than :data:`TINY` features skip UMAP (it is unstable and slow to compile for a handful
of points) and use PCA, padded with zeros when there are fewer components than asked.

:func:`run_projection` stores the result as a ``projection`` run keyed by the embedder name, the
projection parameters and the features run, so re-clustering never re-embeds or re-projects.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from core.embed.base import Embedder
from core.stages.numba_cache import import_umap
from core.stages.types import Feature, ProjectionParams, Projector
from core.store.workspace import Workspace

TINY = 15


def pca_project(x: np.ndarray, n_components: int) -> np.ndarray:
    """Project rows with PCA to ``n_components`` columns (zero-padded when rank is smaller).

    Uses the eigen-decomposition of the ``d x d`` covariance when there are more rows than
    columns (fast for many embeddings), else an SVD of the rows.
    """
    n = x.shape[0]
    out = np.zeros((n, n_components), dtype=np.float32)
    if n < 2:
        return out
    centred = (x - x.mean(axis=0, keepdims=True)).astype(np.float64)
    k = min(n_components, n - 1, x.shape[1])
    if n > x.shape[1]:
        vals, vecs = np.linalg.eigh(centred.T @ centred)
        top = vecs[:, np.argsort(vals)[::-1][:k]]
        # fix each component's sign (largest loading positive) so results do not depend on the solver
        top *= np.sign(top[np.abs(top).argmax(axis=0), np.arange(k)])
        out[:, :k] = (centred @ top).astype(np.float32)
    else:
        u, s, vt = np.linalg.svd(centred, full_matrices=False)
        signs = np.sign(vt[:k][np.arange(k), np.abs(vt[:k]).argmax(axis=1)])
        out[:, :k] = (u[:, :k] * s[:k] * signs).astype(np.float32)
    return out


class PCAProjector:
    """Deterministic PCA projections (used for tiny inputs, or when asked)."""

    name = "pca"

    def project(self, x: np.ndarray, params: ProjectionParams) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(coords2d, coordsnd)``."""
        nd = pca_project(x, params.n_components)
        return pca_project(x, 2), nd


EXACT_KNN_MAX = 20000


def exact_knn(x: np.ndarray, k: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Return exact cosine k-nearest neighbours (self included first) as ``(indices, distances)``.

    Rows are expected to be unit vectors (cosine distance = 1 - dot product).
    """
    n = x.shape[0]
    x = np.asarray(x, dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int32)
    dist = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block):
        d = 1.0 - x[start:start + block] @ x.T
        rows = np.arange(d.shape[0])
        d[rows, rows + start] = -1.0  # each point is its own first neighbour
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
        pd = np.take_along_axis(d, part, axis=1)
        order = np.argsort(pd, axis=1, kind="stable")
        idx[start:start + block] = np.take_along_axis(part, order, axis=1)
        dist[start:start + block] = np.clip(np.take_along_axis(pd, order, axis=1), 0.0, None)
    return idx, dist


def _pca_init(coords: np.ndarray, dims: int) -> np.ndarray:
    """Return a UMAP initialisation from other coordinates: PCA to ``dims``, scaled to UMAP's init range (10)."""
    init = pca_project(coords, dims).astype(np.float64)
    span = np.abs(init).max()
    return init * (10.0 / span) if span > 0 else init


class UMAPProjector:
    """UMAP projections sharing one nearest-neighbour graph; PCA below :data:`TINY` rows.

    * The neighbour graph is exact (brute force) up to :data:`EXACT_KNN_MAX` rows and approximate
      (pynndescent) above.
    * The n-D fit starts from a PCA initialisation of the embeddings (UMAP's spectral initialisation
      is several times slower on feature sets whose neighbour graph has many tight components) and
      runs 500 epochs up to 2,000 rows, 200 above (UMAP's own default for large data).
    * With ``params.seed`` set UMAP is deterministic and single-threaded; ``seed=None`` lets its
      optimisation use every core (faster, not reproducible).
    * The 2-D display fit starts from the PCA of the n-D result and runs a quarter of the epochs, so the
      two projections agree and the display costs a quarter of the clustering fit.
    * UMAP is imported through :func:`core.stages.numba_cache.import_umap` (numba's on-disk cache).
    """

    name = "umap"

    def project(self, x: np.ndarray, params: ProjectionParams) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(coords2d, coordsnd)`` as float32 arrays."""
        n = x.shape[0]
        if n < TINY:
            return PCAProjector().project(x, params)
        umap = import_umap()
        k = max(2, min(params.n_neighbors, n - 1))
        epochs = 500 if n <= 2000 else 200
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if n <= EXACT_KNN_MAX and params.metric == "cosine":
                knn: tuple[Any, ...] = exact_knn(x, k)
            else:
                from umap.umap_ import nearest_neighbors

                knn = nearest_neighbors(x, n_neighbors=k, metric=params.metric, metric_kwds={}, angular=False,
                                        random_state=np.random.RandomState(params.seed), low_memory=True)
            nd = self._fit(umap, x, knn, k, params.n_components, params.min_dist, params,
                           _pca_init(x, params.n_components), epochs)
            two = self._fit(umap, x, knn, k, 2, params.display_min_dist, params, _pca_init(nd, 2), epochs // 4)
        return two, nd

    @staticmethod
    def _fit(umap_mod: Any, x: np.ndarray, knn: Any, k: int, dims: int, min_dist: float,
             params: ProjectionParams, init: Any, epochs: int) -> np.ndarray:
        reducer = umap_mod.UMAP(n_neighbors=k, n_components=dims, min_dist=min_dist, metric=params.metric,
                                random_state=params.seed, precomputed_knn=tuple(knn), low_memory=True, init=init,
                                n_epochs=epochs)
        return np.asarray(reducer.fit_transform(x), dtype=np.float32)


class ReducerProjector:
    """Adapt any reducer object with ``fit_transform`` (BERTopic-style duck typing) to a projector.

    Args:
        make: ``make(n_components) -> reducer``; called once for the n-D and once for the 2-D projection.
        name: Identifies the reducer in run parameters.
    """

    def __init__(self, make: Callable[[int], Any], name: str) -> None:
        """Create the adapter."""
        self.make = make
        self.name = name

    def project(self, x: np.ndarray, params: ProjectionParams) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(coords2d, coordsnd)``."""
        nd = np.asarray(self.make(params.n_components).fit_transform(x), dtype=np.float32)
        two = np.asarray(self.make(2).fit_transform(x), dtype=np.float32)
        return two, nd


@dataclass
class Projection:
    """A stored projection of a user's features.

    Attributes:
        run_id: The ``projection`` run.
        feature_ids: Row order of the coordinates.
        coords2d: ``(n, 2)`` display coordinates.
        coordsnd: ``(n, k)`` clustering coordinates.
    """

    run_id: str
    feature_ids: list[str]
    coords2d: np.ndarray
    coordsnd: np.ndarray


def embed_features(features: list[Feature], embedder: Embedder) -> np.ndarray:
    """Embed the features' :attr:`~core.stages.types.Feature.text` (an ``(n, d)`` array)."""
    return embedder.embed([f.text for f in features])


def project_unique(features: list[Feature], embedder: Embedder, projector: Projector,
                   params: ProjectionParams) -> tuple[np.ndarray, np.ndarray]:
    """Embed and project each distinct feature text once; identical texts share their coordinates.

    Duplicate texts are common (the same complaint in many reviews). Projecting them once keeps
    UMAP fast (many identical points make its neighbour graph dense with weight-1 edges) and
    HDBSCAN still sees every feature, so duplicates keep their weight in the density.
    """
    if not features:
        return np.zeros((0, 2), dtype=np.float32), np.zeros((0, params.n_components), dtype=np.float32)
    texts = [f.text for f in features]
    unique = list(dict.fromkeys(texts))
    row = {t: i for i, t in enumerate(unique)}
    inverse = np.fromiter((row[t] for t in texts), dtype=np.int64, count=len(texts))
    x = embedder.embed(unique)
    # One BLAS thread: OpenBLAS threads spin against UMAP's numba threads and other processes on a
    # small machine (a 256x256 eigh took 1 s with two threads under load, 10 ms with one).
    with threadpool_limits(limits=1, user_api="blas"):
        two, nd = projector.project(x, params)
    return np.asarray(two, dtype=np.float32)[inverse], np.asarray(nd, dtype=np.float32)[inverse]


def load_projection(ws: Workspace, run_id: str) -> Projection:
    """Load a stored projection run."""
    fids = ws.get_artifact(run_id, "feature_ids", [])
    if not fids:
        dims = int(ws.get_run(run_id).params.get("n_components", 5))
        return Projection(run_id=run_id, feature_ids=[], coords2d=np.zeros((0, 2), dtype=np.float32),
                          coordsnd=np.zeros((0, dims), dtype=np.float32))
    two = np.asarray(ws.get_artifact(run_id, "coords2d", []), dtype=np.float32).reshape(len(fids), -1)
    nd = np.asarray(ws.get_artifact(run_id, "coordsnd", []), dtype=np.float32).reshape(len(fids), -1)
    return Projection(run_id=run_id, feature_ids=fids, coords2d=two, coordsnd=nd)


def projection_params(embedder: Embedder, projector: Projector, params: ProjectionParams) -> dict[str, Any]:
    """Return a projection run's parameters (embedder name, projector name, projection parameters)."""
    return {"embedder": embedder.name, "projector": getattr(projector, "name", type(projector).__name__),
            "version": 2, **params.to_dict()}


def run_projection(ws: Workspace, features_run_id: str, features: list[Feature], embedder: Embedder, *,
                   params: ProjectionParams = ProjectionParams(), projector: Projector | None = None,
                   dataset_id: str | None = None, user_id: str | None = None, reuse: bool = True) -> Projection:
    """Embed and project a user's features, or reuse the stored projection.

    Args:
        ws: The workspace.
        features_run_id: The features run the features come from (the projection's parent).
        features: All features, in a fixed order.
        embedder: The (cached) embedder.
        params: Projection parameters.
        projector: Object with ``project(x, params) -> (coords2d, coordsnd)``; default :class:`UMAPProjector`.
        dataset_id: For the run record.
        user_id: For the run record.
        reuse: False: compute a new run even when a stored one has the same parameters.
    """
    projector = projector or UMAPProjector()
    rp = projection_params(embedder, projector, params)
    with ws.run("projection", rp, dataset_id=dataset_id, user_id=user_id, parents=[features_run_id],
                reuse=reuse) as run:
        if not run.reused:
            two, nd = project_unique(features, embedder, projector, params)
            fids = [f.id for f in features]
            ws.put_artifact(run.id, "feature_ids", fids)
            ws.put_artifact(run.id, "coords2d", np.round(np.asarray(two, dtype=np.float64), 5))
            ws.put_artifact(run.id, "coordsnd", np.round(np.asarray(nd, dtype=np.float64), 5))
    return load_projection(ws, run.id)
