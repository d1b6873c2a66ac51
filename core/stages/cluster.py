"""Clustering of the projected features into factors: HDBSCAN by default, swappable.

A clusterer is any object with ``fit_predict(X) -> labels`` (``-1`` = noise), BERTopic-style.
:class:`HDBSCANClusterer` wraps the ``hdbscan`` package (scikit-learn's ``HDBSCAN`` when that is
missing) and handles tiny inputs; :class:`ManualClusterer` reuses given labels.

:func:`run_clustering` stores labels as a ``clustering`` run whose parent is the projection run, so
changing HDBSCAN parameters re-clusters the cached projection only.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from core.stages.types import Clusterer
from core.store.workspace import Workspace, stable_hash


class HDBSCANClusterer:
    """HDBSCAN on the clustering projection.

    ``min_cluster_size`` is clamped to ``max(2, n // 2)`` so that small users still get clusters;
    fewer than 3 points are all noise.

    Args:
        min_cluster_size: Smallest cluster.
        min_samples: Density smoothing (None = ``min_cluster_size``).
    """

    def __init__(self, min_cluster_size: int = 5, min_samples: int | None = None) -> None:
        """Create the clusterer."""
        if min_cluster_size < 2:
            raise ValueError("min_cluster_size must be at least 2")
        self.min_cluster_size = int(min_cluster_size)
        self.min_samples = None if min_samples is None else int(min_samples)

    def identity(self) -> dict[str, Any]:
        """Return what identifies this clusterer's output."""
        return {"kind": "hdbscan", "min_cluster_size": self.min_cluster_size, "min_samples": self.min_samples}

    def fit_predict(self, x: np.ndarray) -> np.ndarray:
        """Return one label per row (``-1`` = noise)."""
        n = x.shape[0]
        if n < 3:
            return np.full(n, -1, dtype=int)
        mcs = max(2, min(self.min_cluster_size, n // 2))
        ms = None if self.min_samples is None else max(1, min(self.min_samples, n - 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                import hdbscan

                model = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms, core_dist_n_jobs=1)
            except ImportError:  # pragma: no cover - the package is a requirement
                from sklearn.cluster import HDBSCAN

                model = HDBSCAN(min_cluster_size=mcs, min_samples=ms)
            return np.asarray(model.fit_predict(np.asarray(x, dtype=np.float64)), dtype=int)


class ManualClusterer:
    """Reuse given labels (e.g. from another run or an analyst's partition).

    Args:
        labels: One label per row, ``-1`` = noise.
    """

    def __init__(self, labels: list[int] | np.ndarray) -> None:
        """Create the clusterer."""
        self.labels = np.asarray(labels, dtype=int)

    def identity(self) -> dict[str, Any]:
        """Return what identifies this clusterer's output (a hash of the labels)."""
        return {"kind": "manual", "labels": stable_hash(self.labels.tolist())[:16]}

    def fit_predict(self, x: np.ndarray) -> np.ndarray:
        """Return the given labels.

        Raises:
            ValueError: The number of labels differs from the number of rows.
        """
        if len(self.labels) != x.shape[0]:
            raise ValueError(f"ManualClusterer has {len(self.labels)} labels for {x.shape[0]} rows")
        return self.labels.copy()


def clusterer_identity(clusterer: Clusterer) -> dict[str, Any]:
    """Return a clusterer's identity (its ``identity()``, else its class and public attributes)."""
    if hasattr(clusterer, "identity"):
        return dict(clusterer.identity())
    attrs = {k: v for k, v in vars(clusterer).items() if not k.startswith("_") and isinstance(v, (int, float, str))}
    return {"kind": type(clusterer).__name__, **attrs}


def run_clustering(ws: Workspace, projection_run_id: str, feature_ids: list[str], coordsnd: np.ndarray,
                   clusterer: Clusterer, *, dataset_id: str | None = None,
                   user_id: str | None = None, reuse: bool = True) -> tuple[str, dict[str, int]]:
    """Cluster the projected features, or reuse a stored clustering with the same parameters (unless ``reuse``).

    Returns:
        The ``clustering`` run id and ``{feature_id: label}`` (``-1`` = noise).
    """
    params = clusterer_identity(clusterer)
    with ws.run("clustering", params, dataset_id=dataset_id, user_id=user_id, parents=[projection_run_id],
                reuse=reuse) as run:
        if run.reused:
            return run.id, dict(ws.get_artifact(run.id, "labels", {}))
        labels = clusterer.fit_predict(coordsnd) if len(feature_ids) else np.zeros(0, dtype=int)
        out = {fid: int(lab) for fid, lab in zip(feature_ids, np.asarray(labels).tolist(), strict=True)}
        ws.put_artifact(run.id, "labels", out)
    return run.id, out
