"""What the sample reviewers were designed to show, and how a built profile is checked against it.

One definition for ``tests/stages/test_sample_data.py`` and ``bench/sample_seeds.py``: each reviewer's
key aspect (``sample_data/generate.py``'s ``REVIEWERS``) is named by cues in the features' aspects, and
a profile recovers it when a factor on that aspect lowers the ratings significantly and is not read
the other way.
"""

from __future__ import annotations

from typing import Any

DESIGNED: dict[str, tuple[str, ...]] = {"ava": ("durability",), "ben": ("price", "value"), "chloe": ("service",),
                                        "dev": ("ease", "use")}
"""Each reviewer's designed aspect, as cues found in the aspect of the features about it."""


def on_aspect(profile: Any, cues: tuple[str, ...]) -> list:
    """Factors at least 60% of whose features name one of ``cues`` in their aspect."""
    out = []
    for f in profile.factors:
        if f.is_noise or not f.feature_ids:
            continue
        aspects = [profile.feature(fid).aspect for fid in f.feature_ids]
        if sum(any(c in a for c in cues) for a in aspects) / len(aspects) >= 0.6:
            out.append(f)
    return out


def lowering(factors: list) -> list:
    """The factors whose influence is at most -0.6 with the whole 95% interval below zero."""
    return [f for f in factors if f.stats.ci_high is not None and f.stats.ci_high < 0 and f.stats.influence <= -0.6]


def read_the_other_way(profile: Any, factor: Any) -> list[str] | None:
    """The factor's directed features when fewer than 70% of them say "lowered", else None.

    A factor of neutral features only (the lexicon hears no sentiment in "took an afternoon to set
    up"; directions are checked against the data) has none to contradict it.
    """
    directed = [profile.feature(fid).direction for fid in factor.feature_ids]
    directed = [d for d in directed if d in ("raised", "lowered")]
    return directed if directed and directed.count("lowered") / len(directed) < 0.7 else None
