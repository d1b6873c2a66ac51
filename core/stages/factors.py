"""Stage 2, factor construction: clusters of features with names, keywords, centroids and statistics.

The pieces live in small modules: :mod:`core.stages.project` (embed + UMAP, cached),
:mod:`core.stages.cluster` (HDBSCAN, swappable), :mod:`core.stages.naming` (c-TF-IDF / LLM names),
:mod:`core.stages.stats` (statistics from the data) and :mod:`core.stages.curation` (analyst edits).
This module turns cluster labels into :class:`~core.stages.types.Factor` records and stores them as a
``factors`` run whose parent is the clustering run.

Factor ids: clusters are numbered ``F1, F2, ...`` by decreasing size (ties by the position of their
first feature), so the same clustering always gives the same ids. Noise (label ``-1``) is the explicit
factor :data:`~core.stages.types.NOISE_ID`, named "Unclustered", always present and listed last.

Direction split (score tasks): an embedding places "worth every cent" and "not worth the price" close
together, so a cluster can hold both the features that raised a user's scores and those that lowered
them, and a presence-based influence then cancels out. :func:`split_by_direction` splits such a
cluster in two when each side has at least the smallest cluster size of directed features, so every
factor reads one way ("price: a bargain" vs "price: overpriced") and its influence is not averaged
away. Neutral features stay with the larger side.

Reduction: with a reducer (:class:`core.stages.reduce.FactorReducer`) the fine clusters are merged
into a handful of factors after the direction split, and Unclustered features join their nearest
factor up to a bounded share; each factor keeps its fine clusters as named ``subfactors``.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from typing import Any

import numpy as np

from core.data.model import Item, Task
from core.stages.failures import StageFailure, finish_stage, short
from core.stages.naming import KeywordNamer
from core.stages.reduce import Reduction, subfactor_groups
from core.stages.stats import StatsData, strength, with_stats
from core.stages.types import NOISE_ID, Factor, Feature
from core.store.workspace import Workspace, stable_hash

NOISE_NAME = "Unclustered"
NOISE_DESCRIPTION = "Features that fit no factor."


def noise_factor(feature_ids: list[str] | None = None) -> Factor:
    """Return the explicit Unclustered factor."""
    return Factor(id=NOISE_ID, name=NOISE_NAME, description=NOISE_DESCRIPTION, feature_ids=list(feature_ids or []))


def factors_from_labels(feature_ids: list[str], labels: dict[str, int]) -> tuple[list[Factor], dict[str, str]]:
    """Group features by cluster label into factors (unnamed, no statistics).

    Args:
        feature_ids: All features in a fixed order.
        labels: ``{feature_id: label}``, ``-1`` = noise; missing features count as noise.

    Returns:
        Factors (noise last) and ``{feature_id: factor_id}``.
    """
    groups: dict[int, list[str]] = defaultdict(list)
    first: dict[int, int] = {}
    for pos, fid in enumerate(feature_ids):
        lab = int(labels.get(fid, -1))
        groups[lab].append(fid)
        first.setdefault(lab, pos)
    order = sorted((lab for lab in groups if lab >= 0), key=lambda lab: (-len(groups[lab]), first[lab]))
    factors = [Factor(id=f"F{n}", name=f"Factor {n}", feature_ids=groups[lab]) for n, lab in enumerate(order, 1)]
    factors.append(noise_factor(groups.get(-1, [])))
    assignments = {fid: f.id for f in factors for fid in f.feature_ids}
    return factors, assignments


def split_by_direction(features: list[Feature], labels: dict[str, int], min_size: int) -> dict[str, int]:
    """Split clusters that mix raised and lowered features into one cluster per direction.

    Args:
        features: The clustered features (their ``direction`` decides the side).
        labels: ``{feature_id: label}`` from the clusterer, ``-1`` = noise.
        min_size: Directed features each side needs for a split (the smallest cluster size).

    Returns:
        New labels: a split cluster keeps its label for its larger side (ties: raised) and
        neutral features; the other side gets a new label after the largest existing one.

    Examples:
        >>> sides = {"r": "raised", "l": "lowered", "n": "neutral"}
        >>> fs = [Feature(f"i{k}#0", f"i{k}", "p", "a", sides[d], 1.0, "e") for k, d in enumerate("rrlln")]
        >>> sorted(split_by_direction(fs, {f.id: 0 for f in fs}, 2).items())
        [('i0#0', 0), ('i1#0', 0), ('i2#0', 1), ('i3#0', 1), ('i4#0', 0)]
    """
    out = dict(labels)
    by_label: dict[int, list[Feature]] = defaultdict(list)
    for f in features:
        lab = int(labels.get(f.id, -1))
        if lab >= 0:
            by_label[lab].append(f)
    next_label = max((int(v) for v in labels.values()), default=-1) + 1
    for lab in sorted(by_label):
        raised = [f for f in by_label[lab] if f.direction == "raised"]
        lowered = [f for f in by_label[lab] if f.direction == "lowered"]
        if min(len(raised), len(lowered)) < max(1, min_size):
            continue
        minority = lowered if len(raised) >= len(lowered) else raised
        for f in minority:
            out[f.id] = next_label
        next_label += 1
    return out


def set_centroids(factors: list[Factor], vectors: dict[str, np.ndarray] | None, decimals: int = 5) -> None:
    """Set each factor's centroid: the normalised mean embedding of its features (empty without vectors)."""
    for f in factors:
        rows = [vectors[fid] for fid in f.feature_ids if vectors and fid in vectors]
        if not rows:
            f.centroid = []
            continue
        c = np.mean(np.stack(rows), axis=0)
        norm = float(np.linalg.norm(c))
        f.centroid = np.round(c / norm if norm else c, decimals).astype(float).tolist()


def order_factors(factors: list[Factor]) -> list[Factor]:
    """Return factors pinned first, then by ``|effect| * coverage`` (strongest first), noise last."""
    real = [f for f in factors if not f.is_noise]
    noise = [f for f in factors if f.is_noise]
    real.sort(key=lambda f: (not f.pinned, -strength(f), f.id))
    return real + noise


def fine_effects(features: list[Feature], labels: dict[str, int], items: list[Item], task: Task) -> dict[int, float]:
    """Return each cluster's influence over the standard deviation of the user's scores (score tasks; else empty)."""
    if task.kind != "score":
        return {}
    data = StatsData(items, task)
    scores = data.scores[~np.isnan(data.scores)]
    spread = float(scores.std()) if scores.size > 1 and float(scores.std()) > 0 else 1.0
    groups: dict[int, list[Feature]] = defaultdict(list)
    for f in features:
        if labels.get(f.id, -1) >= 0:
            groups[labels[f.id]].append(f)
    return {lab: float(data.influence(members) or 0.0) / spread for lab, members in groups.items()}


_FINE_NAMES: OrderedDict[str, dict[int, tuple[str, list[str]]]] = OrderedDict()
_FINE_NAMES_SIZE = 8


def fine_cluster_names(fine: dict[str, int], features: dict[str, Feature],
                       vectors: dict[str, np.ndarray] | None = None) -> dict[int, tuple[str, list[str]]]:
    """Name every fine cluster (phrase names, c-TF-IDF among the fine clusters): ``{label: (name, keywords)}``.

    The last few results are kept in memory by the clusters' content, so changing the factor count
    (which merges the same fine clusters differently) does not name them again.
    """
    parts: dict[int, list[str]] = defaultdict(list)
    for fid, lab in fine.items():
        if lab >= 0 and fid in features:
            parts[lab].append(fid)
    key = stable_hash([[lab, [(fid, features[fid].text) for fid in ids]] for lab, ids in sorted(parts.items())])
    if key in _FINE_NAMES:
        _FINE_NAMES.move_to_end(key)
        return _FINE_NAMES[key]
    subs = [Factor(id=f"fine{lab}", name="", feature_ids=ids) for lab, ids in sorted(parts.items())]
    KeywordNamer().name_factors(subs, features, vectors, describe=False)
    out = {lab: (sub.name, sub.keywords[:6]) for lab, sub in zip(sorted(parts), subs, strict=True)}
    _FINE_NAMES[key] = out
    while len(_FINE_NAMES) > _FINE_NAMES_SIZE:
        _FINE_NAMES.popitem(last=False)
    return out


def set_subfactors(factors: list[Factor], reduction: Reduction, features: dict[str, Feature],
                   vectors: dict[str, np.ndarray] | None = None) -> None:
    """Attach each factor's fine clusters as ``subfactors``, named with c-TF-IDF across all fine clusters.

    Sub-factor ids are ``"<factor id>.<n>"`` (largest first); Unclustered features that joined the
    factor form a last sub-factor named "Joined from Unclustered" with ``joined`` True.
    """
    by_first = {fid: f for f in factors if not f.is_noise for fid in f.feature_ids}
    names = fine_cluster_names(reduction.fine, features, vectors)
    for f in factors:
        f.subfactors = []
    for groups in subfactor_groups(reduction).values():
        parent = by_first.get(groups[0][1][0])
        if parent is None:
            continue
        for n, (key, fids) in enumerate(groups, 1):
            joined = key == "joined"
            name, keywords = ("Joined from Unclustered", []) if joined else names.get(int(key), ("", []))
            parent.subfactors.append({"id": f"{parent.id}.{n}", "name": name, "keywords": list(keywords),
                                      "feature_ids": list(fids), "joined": joined})


def build_factors(features: list[Feature], labels: dict[str, int], items: list[Item], task: Task, *,
                  namer: Any | None = None, vectors: dict[str, np.ndarray] | None = None,
                  split_min_size: int | None = None, reducer: Any | None = None,
                  run_id: str | None = None) -> tuple[list[Factor], dict[str, str]]:
    """Turn cluster labels into named factors with statistics and centroids.

    Args:
        features: All of the user's features.
        labels: Cluster label per feature id.
        items: The user's items (for statistics).
        task: The task (for statistics).
        namer: An object with ``name_factors(factors, features, vectors)``; default :class:`KeywordNamer`.
        vectors: Unit embeddings by feature id (centroids, representative features).
        split_min_size: Score tasks: split clusters mixing raised and lowered features when each
            side has this many (:func:`split_by_direction`); None = no split.
        reducer: An object with ``reduce(features, labels, vectors) -> Reduction`` (e.g.
            :class:`core.stages.reduce.FactorReducer`); None = one factor per cluster.
        run_id: The factors run the namer's model calls are filed under.

    Returns:
        Factors (ordered by :func:`order_factors`) and ``{feature_id: factor_id}``.
    """
    by_id = {f.id: f for f in features}
    # 1. direction split at the fine level, so merged factors are built from one-way clusters; with a
    #    reducer half the smallest cluster size is enough per side, as step 2 puts small one-way
    #    clusters back with their own kind
    if split_min_size is not None and task.kind == "score":
        side = max(2, (split_min_size + 1) // 2) if reducer is not None else split_min_size
        labels = split_by_direction(features, labels, side)
    # 2. merge into a handful of factors and bound the Unclustered share
    reduction = (reducer.reduce(features, labels, vectors, fine_effects(features, labels, items, task))
                 if reducer is not None else None)
    if reduction is not None:
        labels = reduction.labels
    # 3. factors with statistics, names and centroids; the fine level as sub-factors
    factors, assignments = factors_from_labels([f.id for f in features], labels)
    with_stats(factors, by_id, items, task)
    (namer or KeywordNamer()).name_factors(factors, by_id, vectors, run_id=run_id)
    set_centroids(factors, vectors)
    if reduction is not None:
        set_subfactors(factors, reduction, by_id, vectors)
    return order_factors(factors), assignments


def run_factors(ws: Workspace, clustering_run_id: str, features: list[Feature], labels: dict[str, int],
                items: list[Item], task: Task, *, namer: Any | None = None,
                vectors: dict[str, np.ndarray] | None = None, dataset_id: str | None = None,
                user_id: str | None = None, split_min_size: int | None = None,
                reducer: Any | None = None, reuse: bool = True) -> tuple[str, list[Factor], dict[str, str]]:
    """Build the (uncurated) factors of a clustering, or reuse the stored ones (unless ``reuse`` is False).

    ``split_min_size`` and ``reducer`` are passed to :func:`build_factors` (and are part of the run's
    parameters).

    Artifacts: ``factors`` (list of factor dicts) and ``assignments``; names that fell back to
    keywords are listed in ``failures`` and make the run ``partial`` (see :mod:`core.stages.failures`).

    Returns:
        The ``factors`` run id, the factors and the assignments.
    """
    namer = namer or KeywordNamer()
    params: dict[str, Any] = {"namer": namer.identity() if hasattr(namer, "identity") else type(namer).__name__}
    if split_min_size is not None:
        params["split_directions"] = int(split_min_size)
    if reducer is not None:
        params["reducer"] = reducer.identity()
    with ws.run("factors", params, dataset_id=dataset_id, user_id=user_id, parents=[clustering_run_id],
                reuse=reuse) as run:
        if run.reused:
            return run.id, *load_factors(ws, run.id)
        factors, assignments = build_factors(features, labels, items, task, namer=namer, vectors=vectors,
                                             split_min_size=split_min_size, reducer=reducer, run_id=run.id)
        ws.put_artifact(run.id, "factors", [factor_dict(f) for f in factors])
        ws.put_artifact(run.id, "assignments", assignments)
        names = {f.id: f.name for f in factors}
        finish_stage(ws, run, [StageFailure("factors", "name", fid, "fell back",
                                            short(f"keeps the keyword name {names.get(fid, '')!r}: {msg}"))
                               for fid, msg in (getattr(namer, "failures", {}) or {}).items()])
    return run.id, factors, assignments


def factor_dict(f: Factor) -> dict[str, Any]:
    """``Factor.to_dict`` without ``dataclasses.asdict``'s deep copies (fast for long centroids)."""
    st = f.stats
    stats = {"n_features": st.n_features, "n_items": st.n_items, "coverage": st.coverage, "influence": st.influence,
             "ci_low": st.ci_low, "ci_high": st.ci_high, "mean_with": st.mean_with, "mean_without": st.mean_without,
             "lift": dict(st.lift), "mutual_info": st.mutual_info, "top_label": st.top_label,
             "polarity": st.polarity, "consistency": st.consistency}
    return {"id": f.id, "name": f.name, "description": f.description, "feature_ids": list(f.feature_ids),
            "keywords": list(f.keywords), "stats": stats, "pinned": f.pinned, "centroid": list(f.centroid),
            "subfactors": [dict(sub) for sub in f.subfactors]}


def load_factors(ws: Workspace, run_id: str) -> tuple[list[Factor], dict[str, str]]:
    """Load the factors and assignments stored by a ``factors`` run."""
    factors = [Factor.from_dict(d) for d in ws.get_artifact(run_id, "factors", [])]
    return factors, dict(ws.get_artifact(run_id, "assignments", {}))
