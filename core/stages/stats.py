"""Factor statistics computed from the data, never asked of a model.

For a factor F over one user's items (an item *has* F when at least one of its features is in F):

* **coverage** = items with F / all items;
* **influence** (score tasks) = mean score of items with F - mean score of items without F, with a
  95% Welch confidence interval: ``se = sqrt(s1²/n1 + s0²/n0)``, Welch-Satterthwaite degrees of
  freedom, ``t = t_{0.975, df}``. The interval is None when either group has fewer than 2 scored
  items; influence itself is None when either group is empty. Outputs that do not parse as a score
  in the task's range are left out of the means;
* **lift** (label tasks) = P(label | F) / P(label) for every label seen; **mutual information** (nats)
  between F's presence and the label; **top_label** = the label with the highest lift among those
  seen with F;
* **polarity** = mean feature sign (raised +1, lowered -1, other 0);
* **consistency** = share of directed features (direction not ``neutral``) agreeing with the most
  common direction (for label tasks a feature's direction is a label).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import numpy as np
from scipy import stats as sps

from core.data.model import Item, Task
from core.stages.types import Factor, FactorStats, Feature


def welch_interval(with_: list[float], without: list[float], level: float = 0.95) -> tuple[float | None, float | None]:
    """Return a Welch t confidence interval of ``mean(with_) - mean(without)``.

    Returns:
        ``(low, high)``, or ``(None, None)`` when either group has fewer than 2 values.
    """
    n1, n0 = len(with_), len(without)
    if n1 < 2 or n0 < 2:
        return None, None
    a, b = np.asarray(with_, dtype=float), np.asarray(without, dtype=float)
    diff = float(a.mean() - b.mean())
    v1, v0 = float(a.var(ddof=1)), float(b.var(ddof=1))
    se2 = v1 / n1 + v0 / n0
    if se2 <= 0:
        return diff, diff
    denom = (v1 / n1) ** 2 / (n1 - 1) + (v0 / n0) ** 2 / (n0 - 1)
    df = se2 ** 2 / denom if denom > 0 else float(n1 + n0 - 2)
    t = float(sps.t.ppf(0.5 + level / 2, df))
    half = t * math.sqrt(se2)
    return diff - half, diff + half


def mutual_information(presence: list[bool], labels: list[str]) -> float:
    """Return the mutual information (nats) between a binary presence and a label, over paired samples."""
    n = len(labels)
    if n == 0:
        return 0.0
    joint = Counter(zip(presence, labels, strict=True))
    p_x = Counter(presence)
    p_y = Counter(labels)
    mi = 0.0
    for (x, y), c in joint.items():
        pxy = c / n
        mi += pxy * math.log(pxy / ((p_x[x] / n) * (p_y[y] / n)))
    return max(0.0, mi)


def _direction_stats(features: list[Feature]) -> tuple[float, float]:
    if not features:
        return 0.0, 0.0
    polarity = sum(f.sign for f in features) / len(features)
    directed = [f.direction for f in features if f.direction and f.direction != "neutral"]
    if not directed:
        return polarity, 0.0
    majority = Counter(directed).most_common(1)[0][1]
    return polarity, majority / len(directed)


class StatsData:
    """A user's items prepared once for computing many factors' statistics.

    Args:
        items: All of the user's history items.
        task: How to read the items' outputs.
    """

    def __init__(self, items: list[Item], task: Task) -> None:
        """Index the items and parse their outputs."""
        self.items = items
        self.task = task
        self.index = {it.id: i for i, it in enumerate(items)}
        parsed = [task.parse_score(it.output) for it in items] if task.kind == "score" else []
        self.scores = np.array([np.nan if x is None else x for x in parsed], dtype=float)
        self.labels = [it.output.strip() for it in items] if task.kind == "label" else []

    def influence(self, members: list[Feature]) -> float | None:
        """Return only the influence of a factor with these members (score tasks; None otherwise or when undefined)."""
        if self.task.kind != "score":
            return None
        has = np.zeros(len(self.items), dtype=bool)
        has[[self.index[f.item_id] for f in members if f.item_id in self.index]] = True
        valid = ~np.isnan(self.scores)
        a, b = self.scores[has & valid], self.scores[~has & valid]
        return float(a.mean() - b.mean()) if a.size and b.size else None

    def stats(self, members: list[Feature]) -> FactorStats:
        """Return the statistics of a factor with these member features."""
        n_all = len(self.items)
        has = np.zeros(n_all, dtype=bool)
        idx = [self.index[f.item_id] for f in members if f.item_id in self.index]
        has[idx] = True
        n_items = int(has.sum())
        polarity, consistency = _direction_stats(members)
        st = FactorStats(n_features=len(members), n_items=n_items, coverage=n_items / n_all if n_all else 0.0,
                         polarity=polarity, consistency=consistency)
        if self.task.kind == "score":
            valid = ~np.isnan(self.scores)
            a = self.scores[has & valid]
            b = self.scores[~has & valid]
            if a.size:
                st.mean_with = float(a.mean())
            if b.size:
                st.mean_without = float(b.mean())
            if a.size and b.size:
                st.influence = float(a.mean() - b.mean())
                st.ci_low, st.ci_high = welch_interval(a.tolist(), b.tolist())
        elif self.task.kind == "label":
            pairs = [(bool(h), lab) for h, lab in zip(has, self.labels, strict=True) if lab]
            if pairs:
                pres = [p for p, _ in pairs]
                labs = [lab for _, lab in pairs]
                overall = Counter(labs)
                inside = Counter(lab for p, lab in pairs if p)
                n_in = sum(inside.values())
                if n_in:
                    st.lift = {lab: (inside.get(lab, 0) / n_in) / (overall[lab] / len(labs)) for lab in sorted(overall)}
                    seen = [lab for lab in st.lift if inside.get(lab, 0) > 0]
                    st.top_label = max(seen, key=lambda lab: (st.lift[lab], inside[lab])) if seen else None
                st.mutual_info = mutual_information(pres, labs)
        return st


def factor_stats(feature_ids: Iterable[str], features: dict[str, Feature], items: list[Item],
                 task: Task) -> FactorStats:
    """Compute one factor's statistics (see the module docstring).

    Args:
        feature_ids: The factor's member features.
        features: All of the user's features by feature id.
        items: All of the user's history items.
        task: How to read the items' outputs.
    """
    return StatsData(items, task).stats([features[fid] for fid in feature_ids if fid in features])


def with_stats(factors: list[Factor], features: dict[str, Feature], items: list[Item], task: Task) -> list[Factor]:
    """Return the factors with freshly computed statistics (the factor objects are updated in place)."""
    data = StatsData(items, task)
    for f in factors:
        f.stats = data.stats([features[fid] for fid in f.feature_ids if fid in features])
    return factors


def effect(stats: FactorStats) -> float:
    """Return a signed effect size for ranking: influence (scores), log of the top lift (labels), else polarity."""
    if stats.influence is not None:
        return float(stats.influence)
    if stats.lift and stats.top_label is not None:
        return float(math.log(max(stats.lift[stats.top_label], 1e-9)))
    return float(stats.polarity)


def strength(factor: Factor) -> float:
    """Return ``|effect| * coverage``, how much a factor matters for the user (pinned factors rank first elsewhere)."""
    return abs(effect(factor.stats)) * factor.stats.coverage


def user_mean(items: list[Item], task: Task) -> float | None:
    """Return the mean score of a user's items (score tasks), or None."""
    if task.kind != "score":
        return None
    scores = [s for s in (task.parse_score(it.output) for it in items) if s is not None]
    return float(np.mean(scores)) if scores else None
