"""Empty or degenerate profiles explained: what went wrong and the action that helps.

A build can finish with no features, too few to cluster, or every feature Unclustered. The pages
then show an explanation and the way out (a smaller HDBSCAN min cluster size, another feature
extractor, an LLM backend) instead of an empty map, an empty chart and a summary that reads normal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.stages.profile import Profile

MIN_FEATURES = 5  # below this, clustering into factors cannot say much


@dataclass
class Health:
    """Why a profile has no usable factors and what to try.

    Attributes:
        kind: ``no_features``, ``few_features`` or ``no_factors``.
        message: What happened, in numbers.
        actions: What helps, most direct first (plain sentences).
        min_cluster_size: A smaller HDBSCAN min cluster size worth a re-cluster, or None.
    """

    kind: str
    message: str
    actions: list[str] = field(default_factory=list)
    min_cluster_size: int | None = None


def _extractor_actions(profile: Profile) -> list[str]:
    kind = str(profile.settings.get("extractor_kind", "lexicon"))
    if kind == "llm":
        return ["Try the lexicon extractor (sidebar: Model backend → Stage implementations: deterministic), then "
                "Rebuild: it reads opinion words and aspects from a fixed list, which suits reviews."]
    return ["Use an LLM backend (sidebar: Model backend → openai with an endpoint, Stage implementations: llm), "
            "then Rebuild: the lexicon extractor only finds opinion words and aspects from its fixed list, which "
            "texts other than reviews (questions, titles, tags) rarely contain."]


def profile_health(profile: Profile) -> Health | None:
    """Return what is wrong with a profile's factors, or None when it has at least one factor.

    Args:
        profile: A built profile.
    """
    n_items = len(profile.items)
    n_feat = sum(len(v) for v in profile.features.values())
    n_fac = sum(1 for f in profile.factors if not f.is_noise)
    if n_fac > 0:
        return None
    size = int(profile.settings.get("hdbscan_min_cluster_size") or 5)
    # The default size when above it (a size set high is the usual cause), else a step down to 2.
    smaller = (5 if size > 5 else max(2, size - 2)) if size > 2 else None
    if smaller is not None and n_feat < 2 * smaller:
        smaller = None
    if n_feat == 0:
        return Health("no_features", f"No features were extracted from the {n_items:,} history items, so there is "
                                     "nothing to map, cluster or summarise.", _extractor_actions(profile))
    if n_feat < MIN_FEATURES:
        return Health("few_features", f"Only {n_feat} feature{'s' if n_feat > 1 else ''} from {n_items:,} history "
                                      "items: too few to form factors, so the map, the factor statistics and the "
                                      "summary say next to nothing about this user.",
                      _extractor_actions(profile), None)
    actions = []
    if smaller is not None:
        actions.append(f"Lower the HDBSCAN min cluster size from {size} to {smaller} and Re-cluster (Factor map): "
                       "smaller groups of similar features then count as factors.")
    actions.extend(_extractor_actions(profile))
    return Health("no_factors", f"No factors: all {n_feat:,} features are Unclustered (no group of at least {size} "
                                "similar features was found), so the factor statistics are empty and the summary "
                                "has no factor to describe.", actions, smaller)
