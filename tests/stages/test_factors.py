from __future__ import annotations

import numpy as np
import pytest

from core.data.model import Item, Task
from core.stages.cluster import HDBSCANClusterer, ManualClusterer, run_clustering
from core.stages.factors import build_factors
from core.stages.naming import ctfidf, keyword_name, top_keywords
from core.stages.project import PCAProjector, ProjectionParams, UMAPProjector, exact_knn, run_projection
from core.stages.types import NOISE_ID, Feature
from core.store.workspace import Workspace
from tests.stages.conftest import CountingEmbedder


def test_durability_factor_has_clearly_negative_influence(built):
    p = built.profile
    dura = [f for f in p.factors if not f.is_noise and "broke" in " ".join(f.keywords[:5])]
    assert dura, [f.name for f in p.factors]
    f = dura[0]
    # Measured -3.25 (upper 95% bound -2.94) on this CPU and on the simulated other CPU (see Makefile's
    # OTHER_CPU): the threshold leaves over a rating point for clustering differences between machines.
    assert f.stats.influence is not None and f.stats.influence < -2.0
    assert f.stats.ci_high is not None and f.stats.ci_high < 0  # the interval excludes zero
    assert f.stats.polarity < -0.5
    # strongest factor first, noise last and explicit
    assert p.factors[0].id == f.id
    assert p.factors[-1].id == NOISE_ID and p.factors[-1].name == "Unclustered"
    # every feature is assigned to exactly one factor and has display coordinates
    fids = {x.id for x in p.all_features()}
    assert set(p.assignments) == fids
    assert sum(len(x.feature_ids) for x in p.factors) == len(fids)
    assert set(p.coords2d) == fids


def test_stats_are_the_direct_computation_on_the_built_profile(built):
    p = built.profile
    f = p.factors[0]
    touched = {p.feature(fid).item_id for fid in f.feature_ids}
    with_ = [float(it.output) for it in p.items if it.id in touched]
    without = [float(it.output) for it in p.items if it.id not in touched]
    assert f.stats.coverage == pytest.approx(len(touched) / len(p.items))
    assert f.stats.influence == pytest.approx(np.mean(with_) - np.mean(without))


def test_ctfidf_prefers_terms_distinctive_for_a_class():
    w = ctfidf({"a": ["durability: zipper broke", "durability: handle broke"], "b": ["shipping: fast shipping"]})
    kws = top_keywords(w["a"], 3)
    assert kws[0] in ("broke", "durability")
    assert "shipping" not in kws
    assert keyword_name(["durability", "broke", "zipper"]) == "Durability, broke, zipper"
    assert keyword_name([]) == "Unnamed factor"


def test_exact_knn_matches_brute_force():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    idx, dist = exact_knn(x, 5, block=7)
    d = 1 - x @ x.T
    for i in range(40):
        assert idx[i, 0] == i
        assert set(idx[i, 1:]) == set(np.argsort(d[i])[:5][1:]) or np.allclose(sorted(d[i, idx[i, 1:]]),
                                                                                  sorted(np.sort(d[i])[1:5]))
        assert np.all(np.diff(dist[i]) >= -1e-6)


def test_tiny_inputs_skip_umap_and_cluster_safely():
    x = np.eye(6, 16, dtype=np.float32)
    two, nd = UMAPProjector().project(x, ProjectionParams(n_components=5))
    assert two.shape == (6, 2) and nd.shape == (6, 5)
    one2, one5 = PCAProjector().project(x[:1], ProjectionParams())
    assert one2.shape == (1, 2) and not one5.any()
    assert list(HDBSCANClusterer(5).fit_predict(nd[:2])) == [-1, -1]
    labels = HDBSCANClusterer(5).fit_predict(np.vstack([np.zeros((4, 2)), np.ones((4, 2)) * 10]))
    assert len(set(labels.tolist())) == 2 and -1 not in labels


def test_projection_cached_and_recluster_reuses_it(tmp_path):
    ws = Workspace(tmp_path / "ws.sqlite")
    feats = [Feature(f"i{k}#0", f"i{k}", f"phrase {k % 3} word{k % 3}", "aspect", "raised", 0.5, "e") for k in range(9)]
    emb = CountingEmbedder()
    proj = run_projection(ws, "features-x", feats, emb, projector=PCAProjector())
    again = run_projection(ws, "features-x", feats, emb, projector=PCAProjector())
    assert emb.calls == 1 and again.run_id == proj.run_id
    assert np.allclose(again.coordsnd, proj.coordsnd, atol=1e-4)
    manual = ManualClusterer([0, 1, 2] * 3)
    run_a, labels = run_clustering(ws, proj.run_id, proj.feature_ids, proj.coordsnd, manual)
    assert labels["i4#0"] == 1
    assert run_clustering(ws, proj.run_id, proj.feature_ids, proj.coordsnd, ManualClusterer([0, 1, 2] * 3))[0] == run_a
    run_b, _ = run_clustering(ws, proj.run_id, proj.feature_ids, proj.coordsnd, ManualClusterer([0] * 9))
    assert run_b != run_a and ws.get_run(run_b).parents == [proj.run_id]
    with pytest.raises(ValueError):
        ManualClusterer([0, 1]).fit_predict(proj.coordsnd)
    ws.close()


def test_build_factors_with_manual_labels_and_label_task():
    task = Task(kind="label", labels=("pos", "neg"))
    items = [Item(f"i{k}", "t", "pos" if k < 3 else "neg") for k in range(6)]
    feats = [Feature(f"i{k}#0", f"i{k}", "great plot twist" if k < 3 else "boring middle", "plot", "x", 0.5, "e")
             for k in range(6)]
    labels = {f.id: (0 if k < 3 else 1) for k, f in enumerate(feats)}
    factors, assign = build_factors(feats, labels, items, task)
    top = {f.stats.top_label for f in factors if not f.is_noise}
    assert top == {"pos", "neg"}
    assert all(f.stats.lift[f.stats.top_label] == pytest.approx(2.0) for f in factors if not f.is_noise)
    assert factors[-1].is_noise and factors[-1].feature_ids == []


def test_warm_up_runs_a_tiny_projection_and_numba_cache_dir(tmp_path, monkeypatch):
    from core.stages.numba_cache import cache_dir, import_umap
    from core.stages.warmup import warm_up

    assert import_umap().__name__ == "umap"
    assert warm_up(n=40) > 0
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "nb"))
    assert cache_dir() == tmp_path / "nb"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "inflow" / "numba"


def test_umap_path_on_varied_features_finds_the_durability_problems_factor(tmp_path):
    from core.stages.pipeline import build_profile
    from core.stages.profile import PipelineSettings
    from tests.stages.conftest import GivenExtractor, varied_features

    ds, feats = varied_features()
    ws = Workspace(tmp_path / "ws.sqlite")
    ws.add_dataset(ds)
    p = build_profile(ws, "varied", "val", client=None, embedder=CountingEmbedder(),
                      settings=PipelineSettings(hdbscan_min_cluster_size=8), extractor=GivenExtractor(feats))
    assert len({f.text for f in p.all_features()}) > 100
    assert ws.get_run(p.run_ids["projection"]).params["projector"] == "umap"
    xy = np.array(list(p.coords2d.values()))
    assert xy.shape == (180, 2) and np.isfinite(xy).all() and xy.std(axis=0).min() > 0
    first = p.factors[0]
    assert "durability" in " ".join(first.keywords[:3]), [f.name for f in p.factors]
    # measured -2.98 (upper bound -2.77) on this CPU and the simulated other one: about a point of margin
    assert first.stats.influence < -2.0 and first.stats.ci_high < 0
    members = {p.feature(fid).aspect for fid in first.feature_ids}
    assert members == {"durability problems"}
    ws.close()


def test_split_by_direction_separates_mixed_clusters_only_when_both_sides_are_big_enough():
    from core.stages.factors import split_by_direction

    def feats(pattern: str, item0: int = 0) -> list[Feature]:
        sides = {"r": "raised", "l": "lowered", "n": "neutral"}
        return [Feature(f"i{item0 + k}#0", f"i{item0 + k}", "p", "price", sides[c], 1.0, "e")
                for k, c in enumerate(pattern)]

    mixed, pure, small = feats("rrrlllln"), feats("rrrrr", 10), feats("rrrrl", 20)
    labels = {**{f.id: 0 for f in mixed}, **{f.id: 1 for f in pure}, **{f.id: 2 for f in small}, "x#0": -1}
    out = split_by_direction(mixed + pure + small, labels, 3)
    assert {out[f.id] for f in mixed if f.direction == "lowered"} == {0}  # the larger side keeps the label
    assert {out[f.id] for f in mixed if f.direction == "raised"} == {3}  # the other gets a new one
    assert out["i7#0"] == 0  # neutral stays with the larger side
    assert all(out[f.id] == 1 for f in pure) and all(out[f.id] == 2 for f in small)
    assert out["x#0"] == -1


def test_build_factors_splits_a_mixed_price_cluster_so_influence_is_not_averaged_away():
    items, feats = [], []
    for k in range(20):
        good = k % 2 == 0
        items.append(Item(f"i{k}", "x", "5" if good else "1"))
        feats.append(Feature(f"i{k}#0", f"i{k}", "worth it" if good else "not worth it", "price",
                             "raised" if good else "lowered", 1.0, "e"))
    task = Task(kind="score")
    labels = {f.id: 0 for f in feats}
    merged, _ = build_factors(feats, labels, items, task)
    split, _ = build_factors(feats, labels, items, task, split_min_size=5)
    assert len([f for f in merged if not f.is_noise]) == 1
    real = [f for f in split if not f.is_noise]
    assert len(real) == 2
    assert sorted(round(f.stats.influence, 6) for f in real) == [-4.0, 4.0]
    assert all(f.stats.consistency == 1.0 for f in real)
