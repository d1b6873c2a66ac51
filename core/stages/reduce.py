"""Reducing fine clusters to a handful of factors, and Unclustered features to a bounded share.

HDBSCAN with a small ``min_cluster_size`` finds many small, tight clusters on a long history (78 on a
550-review user): precise, but nobody can read or curate that many. BERTopic's answer is
``reduce_topics`` (merge topics whose representations are close) and ``reduce_outliers`` (give noise
documents to the nearest topic when close enough). :class:`FactorReducer` does both, keeping the
fine level as each factor's sub-factors:

1. **Merge**: the fine clusters are merged agglomeratively with Ward's criterion (the pair whose
   merge adds least within-cluster variance first). First every pair of clusters that name the same
   aspect and push the same way, by their features' direction and by their effect (two "customer
   service" clusters that raised the score are one factor with two sub-factors); then any pair,
   until at most ``n_factors`` remain. A feature
   counts as its unit embedding plus one more coordinate, its direction sign (raised +1, lowered -1)
   times ``sqrt(direction_weight) / 2``, and one for its cluster's effect (influence over the
   user's score spread) times ``effect_weight``: clusters whose features pushed the response
   opposite ways, or by very different amounts, are kept apart unless nothing closer is left, so a
   merged factor still reads one way. Ward (rather
   than merging the closest centroids) keeps one growing cluster from swallowing the rest, since the
   cost of a merge grows with the sizes merged.
2. **Outliers**: a noise feature joins the factor with the highest ``cos(feature, centroid) -
   direction_weight * |sign - polarity| / 2`` when that score is at least ``outlier_similarity``;
   when the Unclustered share is still above ``max_unclustered``, the best-scoring remaining noise
   features join too (most similar first) until the share is at most ``max_unclustered``.

Labels are plain ints (``-1`` = noise), so the reducer sits between the clusterer and
:func:`core.stages.factors.build_factors`, and a re-cluster with another factor count reuses the
cached projection and clustering.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.stages.types import Feature

DEFAULT_N_FACTORS = 12
DEFAULT_MAX_UNCLUSTERED = 1 / 3
DEFAULT_OUTLIER_SIMILARITY = 0.6
DIRECTION_WEIGHT = 1.0
EFFECT_WEIGHT = 0.5
EFFECT_DEAD_ZONE = 0.25  # in units of the user's score spread: smaller effects count as none


@dataclass
class Reduction:
    """What :meth:`FactorReducer.reduce` returns.

    Attributes:
        labels: Coarse label per feature id (``-1`` = noise).
        parents: ``{fine_label: coarse_label}`` for every fine cluster.
        fine: The fine label per feature id before merging (``-1`` for former noise).
        joined: Feature ids that were noise and joined a factor as outliers.
    """

    labels: dict[str, int]
    parents: dict[int, int]
    fine: dict[str, int]
    joined: set[str] = field(default_factory=set)


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


class FactorReducer:
    """Merge fine clusters into at most ``n_factors`` and bound the Unclustered share.

    Args:
        n_factors: Most factors kept (0 = keep every fine cluster, no merging).
        max_unclustered: Largest share of features left Unclustered (1.0 = no forced joins).
        outlier_similarity: A noise feature at least this close to a factor (see the module
            docstring) joins it whatever the share.
        direction_weight: How strongly opposite directions keep clusters (and outliers) apart.

    Examples:
        >>> fs = [Feature(f"i{k}#0", f"i{k}", "p", "a", "raised", 1.0, "e") for k in range(6)]
        >>> vec = {f.id: np.array([1.0, 0.1 * k]) for k, f in enumerate(fs)}
        >>> r = FactorReducer(n_factors=1).reduce(fs, {f.id: k // 2 for k, f in enumerate(fs)}, vec)
        >>> sorted(set(r.labels.values())), r.parents
        ([0], {0: 0, 1: 0, 2: 0})
    """

    def __init__(self, n_factors: int = DEFAULT_N_FACTORS, max_unclustered: float = DEFAULT_MAX_UNCLUSTERED,
                 outlier_similarity: float = DEFAULT_OUTLIER_SIMILARITY,
                 direction_weight: float = DIRECTION_WEIGHT, effect_weight: float = EFFECT_WEIGHT) -> None:
        """Create the reducer."""
        if n_factors < 0:
            raise ValueError("n_factors must be 0 (no merging) or more")
        if not 0.0 <= max_unclustered <= 1.0:
            raise ValueError("max_unclustered must be within 0..1")
        self.n_factors = int(n_factors)
        self.max_unclustered = float(max_unclustered)
        self.outlier_similarity = float(outlier_similarity)
        self.direction_weight = float(direction_weight)
        self.effect_weight = float(effect_weight)

    def identity(self) -> dict[str, Any]:
        """Return what identifies this reducer's output."""
        return {"kind": "ward", "version": 7, "n_factors": self.n_factors,
                "max_unclustered": round(self.max_unclustered, 4), "outlier_similarity": self.outlier_similarity,
                "direction_weight": self.direction_weight, "effect_weight": self.effect_weight}

    def reduce(self, features: list[Feature], labels: dict[str, int], vectors: dict[str, np.ndarray] | None,
               effects: dict[int, float] | None = None) -> Reduction:
        """Merge clusters and join outliers; see the module docstring.

        Args:
            features: The clustered features (their direction gives the polarity).
            labels: Fine label per feature id, ``-1`` = noise.
            vectors: Unit embeddings by feature id; without them (for half the features or more)
                nothing is merged or joined.
            effects: Each fine cluster's effect on the response in units of the user's spread (e.g.
                its influence over the standard deviation of the user's scores); None = no effect term.
        """
        fine = {f.id: int(labels.get(f.id, -1)) for f in features}
        out = dict(fine)
        fine_labels = sorted({lab for lab in fine.values() if lab >= 0})
        parents = {lab: lab for lab in fine_labels}
        usable = [f for f in features if vectors and f.id in vectors]
        if not usable or len(usable) < len(features) * 0.5:
            return Reduction(out, parents, fine)
        dim = len(next(iter(vectors.values())))  # type: ignore[union-attr]
        sums = {lab: np.zeros(dim) for lab in fine_labels}
        signs = dict.fromkeys(fine_labels, 0.0)
        sizes = dict.fromkeys(fine_labels, 0)
        for f in usable:
            lab = fine[f.id]
            if lab >= 0:
                sums[lab] += vectors[f.id]  # type: ignore[index]
                signs[lab] += f.sign
                sizes[lab] += 1
        live = [lab for lab in fine_labels if sizes[lab]]
        if self.n_factors and len(live) > 1:
            eff = {lab: float((effects or {}).get(lab) or 0.0) for lab in live}
            keys = _aspect_keys(features, fine, signs, sizes, eff)
            parents.update(self._merge(live, sums, signs, sizes, keys, eff))
        for fid, lab in fine.items():
            if lab >= 0:
                out[fid] = parents[lab]
        joined = self._join_outliers(usable, out, vectors)  # type: ignore[arg-type]
        for fid, lab in joined.items():
            out[fid] = lab
        return Reduction(out, parents, fine, set(joined))

    def _merge(self, live: list[int], sums: dict[int, np.ndarray], signs: dict[int, float], sizes: dict[int, int],
               keys: dict[int, tuple[str, int, int] | None], effects: dict[int, float]) -> dict[int, int]:
        """Merge the closest pair (Ward) until ``n_factors`` clusters remain; return ``{fine: coarse}``.

        Two passes: first every pair with the same aspect key (:func:`_aspect_keys`), however many
        clusters that leaves, then any pair until ``n_factors`` remain.
        """
        labs = list(live)
        alpha = np.sqrt(self.direction_weight) / 2.0
        # a feature is its unit embedding plus its direction sign scaled by alpha, as one more coordinate
        # ... and its cluster's effect scaled by effect_weight (sums: times the cluster's size)
        s = np.column_stack([np.stack([sums[lab] for lab in labs]), [alpha * signs[lab] for lab in labs],
                             [self.effect_weight * effects[lab] * sizes[lab] for lab in labs]])
        n = np.array([float(sizes[lab]) for lab in labs])
        alive = np.ones(len(labs), dtype=bool)
        members = {i: [labs[i]] for i in range(len(labs))}
        key_list = [keys.get(lab) for lab in labs]
        same = np.array([[a is not None and a == b for b in key_list] for a in key_list], dtype=bool)

        def ward_row(i: int) -> np.ndarray:
            mu = s / n[:, None]
            d = (n * n[i] / (n + n[i])) * ((mu - mu[i]) ** 2).sum(axis=1)
            d[~alive] = np.inf
            d[i] = np.inf
            return d

        dist = np.stack([ward_row(i) for i in range(len(labs))])
        for restrict in (True, False):
            # pass 1 merges every same-key pair (a factor is an aspect read one way; its fine clusters
            # become sub-factors), pass 2 any pair while more than n_factors remain
            while int(alive.sum()) > (1 if restrict else self.n_factors):
                cand = np.where(same, dist, np.inf) if restrict else dist
                flat = int(np.argmin(cand))
                i, j = divmod(flat, dist.shape[1])
                if not np.isfinite(cand[i, j]):
                    break
                # the larger cluster absorbs the smaller (ties: the lower index), so coarse ids follow big clusters
                keep, gone = (i, j) if (n[i], -i) >= (n[j], -j) else (j, i)
                s[keep] += s[gone]
                n[keep] += n[gone]
                alive[gone] = False
                members[keep].extend(members.pop(gone))
                same[gone, :] = False
                same[:, gone] = False
                dist[gone, :] = np.inf
                dist[:, gone] = np.inf
                row = ward_row(keep)
                dist[keep, :] = row
                dist[:, keep] = row
        return {lab: labs[k] for k, group in members.items() for lab in group}

    def _join_outliers(self, usable: list[Feature], labels: dict[str, int],
                       vectors: dict[str, np.ndarray]) -> dict[str, int]:
        """Return ``{feature_id: coarse_label}`` for the noise features that join a factor."""
        by_lab: dict[int, list[Feature]] = {}
        for f in usable:
            if labels[f.id] >= 0:
                by_lab.setdefault(labels[f.id], []).append(f)
        coarse = sorted(by_lab)
        noise = [f for f in usable if labels[f.id] < 0]
        if not coarse or not noise:
            return {}
        cent = _unit(np.stack([np.mean([vectors[f.id] for f in by_lab[lab]], axis=0) for lab in coarse]))
        pol = np.array([np.mean([f.sign for f in by_lab[lab]]) for lab in coarse])
        x = _unit(np.stack([vectors[f.id] for f in noise]))
        sign = np.array([f.sign for f in noise])
        score = x @ cent.T - self.direction_weight * np.abs(sign[:, None] - pol[None, :]) / 2.0
        best = score.argmax(axis=1)
        best_score = score[np.arange(len(noise)), best]
        n_all = len(labels)
        allowed_noise = int(np.floor(self.max_unclustered * n_all + 1e-9))
        order = np.argsort(-best_score, kind="stable")
        joined: dict[str, int] = {}
        n_noise = sum(1 for lab in labels.values() if lab < 0)
        for k in order.tolist():
            if best_score[k] < self.outlier_similarity and n_noise <= allowed_noise:
                break
            joined[noise[k].id] = coarse[int(best[k])]
            n_noise -= 1
        return joined


def _aspect_keys(features: list[Feature], fine: dict[str, int], signs: dict[int, float], sizes: dict[int, int],
                 effects: dict[int, float]) -> dict[int, tuple[str, int, int] | None]:
    """Return each fine cluster's ``(aspect, direction sign, effect sign)`` when most of its features name one aspect.

    Clusters with the same key are merged first: two clusters about "customer service" that both
    raised the score belong together before either joins a cluster about another aspect. The effect
    sign (0 within :data:`EFFECT_DEAD_ZONE` of the user's spread) keeps apart same-aspect clusters
    whose features carry no direction but whose items went opposite ways. Clusters without a
    majority aspect get None (they merge in the second pass only).
    """
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for f in features:
        lab = fine.get(f.id, -1)
        if lab >= 0:
            counts[lab][f.aspect.strip().lower()] += 1
    out: dict[int, tuple[str, int] | None] = {}
    for lab, cnt in counts.items():
        aspect, k = cnt.most_common(1)[0]
        pol = signs.get(lab, 0.0) / max(1, sizes.get(lab, 0))
        eff = effects.get(lab, 0.0)
        eff_sign = 0 if abs(eff) < EFFECT_DEAD_ZONE else int(np.sign(eff))
        out[lab] = ((aspect, int(np.sign(round(pol, 6))), eff_sign) if aspect and k * 2 > sum(cnt.values())
                    else None)
    return out


def subfactor_groups(reduction: Reduction) -> dict[int, list[tuple[str, list[str]]]]:
    """Group a reduction's features by coarse label into their fine clusters (and joined outliers).

    Args:
        reduction: The reducer's output.

    Returns:
        ``{coarse_label: [(key, feature_ids), ...]}`` with key ``"<fine label>"`` per fine cluster
        (largest first) and ``"joined"`` for outliers that joined; coarse labels with one fine
        cluster and no joined outliers are left out (they have no finer level).
    """
    groups: dict[int, dict[str, list[str]]] = {}
    for fid, coarse in reduction.labels.items():
        if coarse < 0:
            continue
        key = "joined" if fid in reduction.joined else str(reduction.fine[fid])
        groups.setdefault(coarse, {}).setdefault(key, []).append(fid)
    out: dict[int, list[tuple[str, list[str]]]] = {}
    for coarse, parts in groups.items():
        if len(parts) < 2:
            continue
        fine_parts = sorted(((k, v) for k, v in parts.items() if k != "joined"), key=lambda kv: (-len(kv[1]), kv[0]))
        out[coarse] = fine_parts + ([("joined", parts["joined"])] if "joined" in parts else [])
    return out
