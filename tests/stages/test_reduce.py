"""Reducing fine clusters to a handful of factors (Ward, direction-aware) and bounding the Unclustered share."""

from __future__ import annotations

import numpy as np
import pytest

from core.stages.pipeline import build_profile, recluster
from core.stages.profile import PipelineSettings
from core.stages.reduce import FactorReducer, subfactor_groups
from core.stages.types import Feature
from core.store.workspace import Workspace
from tests.stages.conftest import CountingEmbedder, GivenExtractor, varied_features


def _feats(n: int, direction: str = "raised", start: int = 0, aspect: str = "a") -> list[Feature]:
    return [Feature(f"i{start + k}#0", f"i{start + k}", "p", aspect, direction, 1.0, "e") for k in range(n)]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_ward_merges_fine_clusters_of_the_same_topic():
    rng = np.random.default_rng(0)
    topics = np.eye(8)[:3]
    feats, labels, vectors = [], {}, {}
    for t in range(3):  # three topics, four fine clusters each, five features per fine cluster
        for c in range(4):  # no aspect is shared by most of a cluster's features: Ward alone decides
            for f in _feats(5, start=len(feats), aspect=f"t{t}c{c}"):
                feats.append(f)
                labels[f.id] = t * 4 + c
                vectors[f.id] = _unit(topics[t] + 0.15 * rng.normal(size=8))
    r = FactorReducer(n_factors=3, max_unclustered=1.0).reduce(feats, labels, vectors)
    coarse_of_topic = [{r.parents[t * 4 + c] for c in range(4)} for t in range(3)]
    assert all(len(s) == 1 for s in coarse_of_topic)  # each topic became one factor
    assert len(set().union(*coarse_of_topic)) == 3  # and the topics stayed apart
    groups = subfactor_groups(r)
    assert sorted(len(g) for g in groups.values()) == [4, 4, 4]  # four sub-factors each
    # the same aspect and direction: one factor whatever the count allows
    same_aspect = [Feature(f.id, f.item_id, f.phrase, "service", f.direction, 1.0, "e") for f in feats[:20]]
    one = FactorReducer(n_factors=10, max_unclustered=1.0).reduce(same_aspect, labels, vectors)
    assert len({one.parents[c] for c in range(4)}) == 1
    # no merging asked: every fine cluster stays a factor
    same = FactorReducer(n_factors=0, max_unclustered=1.0).reduce(feats, labels, vectors)
    assert same.labels == labels and not subfactor_groups(same)


def test_opposite_directions_stay_apart_unless_the_weight_is_zero():
    a, b = _unit(np.array([1.0, 0.0, 0.0])), _unit(np.array([1.0, 0.5, 0.0]))  # b is near a (cos 0.89)
    up, down, other = _feats(6, "raised", 0, "x"), _feats(6, "lowered", 6, "y"), _feats(6, "raised", 12, "z")
    labels = {**{f.id: 0 for f in up}, **{f.id: 1 for f in down}, **{f.id: 2 for f in other}}
    vectors = {**{f.id: a for f in up + down}, **{f.id: b for f in other}}
    with_dir = FactorReducer(n_factors=2, max_unclustered=1.0).reduce(up + down + other, labels, vectors)
    assert with_dir.parents[0] == with_dir.parents[2] != with_dir.parents[1]  # raised "a" joins raised "b"
    without = FactorReducer(n_factors=2, max_unclustered=1.0, direction_weight=0.0).reduce(up + down + other, labels,
                                                                                          vectors)
    assert without.parents[0] == without.parents[1] != without.parents[2]  # identical centroids merge first


def test_same_aspect_and_direction_merge_first_and_effects_keep_clusters_apart():
    a, b = _unit(np.array([1.0, 0.0, 0.0])), _unit(np.array([0.0, 1.0, 0.0]))
    s1, s2, near = _feats(6, "raised", 0, "service"), _feats(6, "raised", 6, "service"), _feats(6, "raised", 12, "x")
    labels = {**{f.id: 0 for f in s1}, **{f.id: 1 for f in s2}, **{f.id: 2 for f in near}}
    vectors = {**{f.id: a for f in s1 + near}, **{f.id: b for f in s2}}  # "near" sits on s1, s2 far away
    r = FactorReducer(n_factors=2, max_unclustered=1.0).reduce(s1 + s2 + near, labels, vectors)
    assert r.parents[0] == r.parents[1] != r.parents[2]  # the two "service" clusters first
    # without aspects to go by: the effect term decides between two equally near clusters
    p1, p2, p3 = _feats(6, "raised", 0, "p"), _feats(6, "raised", 6, "q"), _feats(6, "raised", 12, "r")
    labels = {**{f.id: 0 for f in p1}, **{f.id: 1 for f in p2}, **{f.id: 2 for f in p3}}
    vectors = {**{f.id: a for f in p1}, **{f.id: _unit(a + 0.3 * b) for f in p2 + p3}}
    feats = p1 + p2 + p3
    small_effect = FactorReducer(n_factors=2, max_unclustered=1.0).reduce(feats, labels, vectors,
                                                                         effects={0: 0.1, 1: 2.0, 2: 0.1})
    assert small_effect.parents[0] == small_effect.parents[2] != small_effect.parents[1]


def test_outliers_join_when_close_and_the_unclustered_share_is_bounded():
    rng = np.random.default_rng(1)
    base = _unit(np.array([1.0, 0.0, 0.0, 0.0]))
    clustered = _feats(10)
    close = _feats(3, start=10)
    far = _feats(17, start=13)
    feats = clustered + close + far
    labels = {**{f.id: 0 for f in clustered}, **{f.id: -1 for f in close + far}}
    vectors = {f.id: base for f in clustered}
    vectors.update({f.id: _unit(base + 0.1 * rng.normal(size=4)) for f in close})
    vectors.update({f.id: _unit(np.array([0.0, *rng.normal(size=3)])) for f in far})
    only_close = FactorReducer(n_factors=5, max_unclustered=1.0).reduce(feats, labels, vectors)
    assert only_close.joined == {f.id for f in close}
    bounded = FactorReducer(n_factors=5, max_unclustered=1 / 3).reduce(feats, labels, vectors)
    noise = [fid for fid, lab in bounded.labels.items() if lab < 0]
    assert len(noise) == 10  # 30 features: at most a third left, the least similar ones
    assert {f.id for f in close} <= bounded.joined
    groups = subfactor_groups(bounded)
    assert groups[0][-1][0] == "joined" and len(groups[0][-1][1]) == 10
    with pytest.raises(ValueError):
        FactorReducer(max_unclustered=1.5)


def test_built_profile_has_at_most_n_factors_with_sub_factors_and_recluster_changes_the_count(tmp_path):
    ds, feats = varied_features()
    ws = Workspace(tmp_path / "ws.sqlite")
    ws.add_dataset(ds)
    emb = CountingEmbedder()
    fine = build_profile(ws, "varied", "val", client=None, embedder=emb,
                         settings=PipelineSettings(hdbscan_min_cluster_size=4, n_factors=0),
                         extractor=GivenExtractor(feats))
    n_fine = sum(1 for f in fine.factors if not f.is_noise)
    assert n_fine > 2 and not any(f.subfactors for f in fine.factors)
    coarse = recluster(ws, fine, min_cluster_size=4, embedder=emb, n_factors=2)
    real = [f for f in coarse.factors if not f.is_noise]
    assert len(real) == 2
    assert coarse.run_ids["clustering"] == fine.run_ids["clustering"]  # same HDBSCAN run, only factors redone
    assert coarse.settings["n_factors"] == 2
    total = sum(len(f.feature_ids) for f in coarse.factors)
    assert len(coarse.factor("noise").feature_ids) <= total / 3
    with_subs = [f for f in real if f.subfactors]
    assert with_subs
    for f in with_subs:
        assert all(s["id"].startswith(f"{f.id}.") and set(s["feature_ids"]) <= set(f.feature_ids)
                   for s in f.subfactors)
        assert sum(len(s["feature_ids"]) for s in f.subfactors) == len(f.feature_ids)
        assert all(s["name"] for s in f.subfactors)
    ws.close()
