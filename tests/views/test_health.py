from dataclasses import replace

from core.stages.types import NOISE_ID, Factor
from core.views.health import profile_health


def _only_noise(profile, n_keep: int | None = None):
    feats = {k: v for k, v in profile.features.items()}
    ids = [f.id for fs in feats.values() for f in fs]
    if n_keep is not None:
        keep = set(ids[:n_keep])
        feats = {k: [f for f in v if f.id in keep] for k, v in feats.items()}
        ids = ids[:n_keep]
    return replace(profile, features=feats, factors=[Factor(NOISE_ID, "Unclustered", "", ids)],
                   assignments={i: NOISE_ID for i in ids})


def test_a_profile_with_factors_is_healthy(profile):
    assert profile_health(profile) is None


def test_no_factors_suggests_a_smaller_cluster_size_then_the_extractor(profile):
    many = {it.id: [replace(f, id=f"{it.id}#{k}") for k in range(3) for f in profile.features[it.id]]
            for it in profile.items}
    p = replace(_only_noise(profile), features=many, settings={"hdbscan_min_cluster_size": 8,
                                                              "extractor_kind": "lexicon"})
    h = profile_health(p)
    assert h.kind == "no_factors" and h.min_cluster_size == 5
    assert "all 12 features are Unclustered" in h.message
    assert h.actions[0].startswith("Lower the HDBSCAN min cluster size from 8 to 5")
    assert "LLM backend" in h.actions[1]


def test_too_few_or_no_features(profile):
    p = replace(_only_noise(profile, 1), settings={"extractor_kind": "llm"})
    h = profile_health(p)
    assert h.kind == "few_features" and "Only 1 feature from 4 history items" in h.message
    assert "lexicon extractor" in h.actions[0] and h.min_cluster_size is None
    h = profile_health(_only_noise(profile, 0))
    assert h.kind == "no_features" and "LLM backend" in h.actions[0]
