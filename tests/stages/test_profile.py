from __future__ import annotations

import json

import pytest

from core.errors import InputError
from core.stages.edits import apply_edit, reapply_edit, redo_edit, undo_edit
from core.stages.pipeline import build_profile, load_profile, recluster
from core.stages.profile import PipelineSettings, profile_to_json
from core.stages.types import NOISE_ID
from core.store.workspace import Workspace
from tests.stages.conftest import CountingEmbedder, durability_dataset

SETTINGS = PipelineSettings(extractor="lexicon", hdbscan_min_cluster_size=4)


@pytest.fixture
def fresh(tmp_path):
    ws = Workspace(tmp_path / "ws.sqlite")
    ws.add_dataset(durability_dataset())
    emb = CountingEmbedder()
    profile = build_profile(ws, "dura", "ava", client=None, embedder=emb, settings=SETTINGS)
    yield ws, profile, emb
    ws.close()


def test_settings_round_trip():
    s = PipelineSettings(embedder="minilm", hdbscan_min_samples=3)
    assert PipelineSettings.from_dict({**s.to_dict(), "unknown": 1}) == s


def test_rebuild_reuses_every_stage_and_load_profile_matches(built):
    ws, p = built.ws, built.profile
    calls = built.embedder.calls
    stages = []
    again = build_profile(ws, "dura", "ava", client=None, embedder=built.embedder, settings=SETTINGS,
                          progress=lambda s, d, t: stages.append(s))
    for stage in ("features", "projection", "clustering", "factors", "summary", "paths"):
        assert again.run_ids[stage] == p.run_ids[stage]
        assert stage in stages
    assert built.embedder.calls == calls  # all vectors came from the workspace cache
    assert again.summary_version == p.summary_version
    loaded = load_profile(ws, "dura", "ava")
    assert [f.to_dict() for f in loaded.factors] == [f.to_dict() for f in again.factors]
    assert loaded.summary == p.summary and loaded.paths == p.paths
    assert loaded.coords2d.keys() == p.coords2d.keys()
    assert load_profile(ws, "dura", "nobody") is None
    assert p.factor(p.factors[0].id) is p.factors[0]
    assert p.item("r00").id == "r00"
    with pytest.raises(KeyError):
        p.factor("F999")


def test_profile_json_export(built):
    data = profile_to_json(built.profile)
    text = json.dumps(data)
    assert data["summary"]["text"] == built.profile.summary
    assert len(data["features"]) == len(built.profile.all_features())
    assert {"x", "y", "factor_id"} <= set(data["features"][0])
    assert "centroid" not in data["factors"][0]
    assert json.loads(text)["factors"][0]["stats"]["influence"] is not None


def test_recluster_does_not_embed_or_project_again(fresh):
    ws, p, emb = fresh
    calls, texts = emb.calls, emb.texts
    p2 = recluster(ws, p, min_cluster_size=8, embedder=emb)
    assert (emb.calls, emb.texts) == (calls, texts)
    assert p2.run_ids["projection"] == p.run_ids["projection"]
    assert p2.run_ids["clustering"] != p.run_ids["clustering"]
    assert ws.get_run(p2.run_ids["clustering"]).params["min_cluster_size"] == 8
    assert p2.settings["hdbscan_min_cluster_size"] == 8
    assert load_profile(ws, "dura", "ava").run_ids["clustering"] == p2.run_ids["clustering"]
    assert len(ws.list_runs("projection")) == 1


def test_edits_survive_a_rebuild_and_undo(fresh):
    ws, p, emb = fresh
    dura = p.factors[0]
    p = apply_edit(ws, p, "rename", {"factor": dura.id, "name": "Durability"})
    p = apply_edit(ws, p, "pin", {"factor": p.factors[1].id, "pinned": True})
    assert p.factors[0].pinned  # pinned first
    moved = p.factor(p.assignments[dura.feature_ids[0]]).feature_ids[:2]
    p = apply_edit(ws, p, "move", {"feature_ids": moved, "target": None, "name": "Moved out"})
    assert p.factor(p.assignments[moved[0]]).name == "Moved out"
    assert p.factor(p.assignments[moved[0]]).stats.n_features == 2  # stats recomputed after edits
    assert any(f.name == "Durability" for f in p.factors)
    # Rebuild with other clustering parameters: the edits are replayed onto the new clusters.
    p2 = recluster(ws, p, min_cluster_size=5, embedder=emb)
    assert any(f.name == "Durability" and f.stats.influence < -2 for f in p2.factors)
    assert p2.factor(p2.assignments[moved[0]]).name == "Moved out"
    assert [e["applied"] for e in p2.edit_log] == [True, True, True]
    # Undo the rename; redo it.
    rename_id = ws.list_edits("dura", "ava")[0]["id"]
    p3 = undo_edit(ws, p2, rename_id)
    assert not any(f.name == "Durability" for f in p3.factors)
    assert len(ws.list_edits("dura", "ava", include_undone=True)) == 3
    p4 = redo_edit(ws, p3, rename_id)
    assert any(f.name == "Durability" for f in p4.factors)
    loaded = load_profile(ws, "dura", "ava")
    assert [f.name for f in loaded.factors] == [f.name for f in p4.factors]
    # Paths follow the curated factors.
    item = p4.feature(moved[0]).item_id
    assert "Moved out" in p4.paths[item].text


def test_split_merge_delete_through_the_workspace(fresh):
    ws, p, _ = fresh
    big = max((f for f in p.factors if not f.is_noise), key=lambda f: len(f.feature_ids))
    n = len([f for f in p.factors if not f.is_noise])
    p = apply_edit(ws, p, "split", {"factor": big.id})  # automatic: KMeans on its embeddings
    stored = ws.list_edits("dura", "ava")[-1]["payload"]
    assert stored["method"] == "kmeans" and stored["feature_ids"]
    assert stored["factor"]["members"] == big.feature_ids
    assert len([f for f in p.factors if not f.is_noise]) == n + 1
    a, b = [f for f in p.factors if not f.is_noise][:2]
    p = apply_edit(ws, p, "merge", {"factors": [a.id, b.id], "name": "Merged"})
    merged = next(f for f in p.factors if f.name == "Merged")
    assert set(a.feature_ids) | set(b.feature_ids) == set(merged.feature_ids)
    p = apply_edit(ws, p, "delete", {"factor": merged.id})
    assert set(merged.feature_ids) <= set(p.factor(NOISE_ID).feature_ids)
    with pytest.raises(InputError):
        apply_edit(ws, p, "explode", {})
    with pytest.raises(InputError):
        apply_edit(ws, p, "rename", {"factor": "F404", "name": "x"})


def test_build_errors_are_input_errors(built):
    with pytest.raises(InputError):
        build_profile(built.ws, "missing", "ava", client=None, embedder=built.embedder)
    with pytest.raises(InputError):
        build_profile(built.ws, "dura", "nobody", client=None, embedder=built.embedder)
    with pytest.raises(InputError):
        build_profile(built.ws, "dura", "ava", client=None, embedder=built.embedder,
                      settings=PipelineSettings(extractor="llm"))


def test_load_profile_is_none_after_the_data_changed(fresh):
    ws, p, _ = fresh
    assert load_profile(ws, "dura", "ava") is not None
    changed = durability_dataset(n=30)
    ws.add_dataset(changed)
    assert load_profile(ws, "dura", "ava") is None


def test_a_user_without_any_feature_still_builds(tmp_path):
    from core.data.model import Dataset, Item, Task, User
    from core.stages.retrieval import FeatureRetriever

    ws = Workspace(tmp_path / "ws.sqlite")
    ws.add_dataset(Dataset("e", Task(kind="score"), [User("u", [Item("a", "It is a thing.", "3"),
                                                                 Item("b", "We got it on Tuesday.", "4")])]))
    p = build_profile(ws, "e", "u", client=None, embedder=CountingEmbedder(), settings=SETTINGS)
    assert [f.id for f in p.factors] == [NOISE_ID] and p.all_features() == []
    assert "No recurring factor" in p.summary and p.paths["a"].text == "no features found -> rated 3"
    assert load_profile(ws, "e", "u").summary == p.summary
    from core.stages.lexicon import LexiconFeatureExtractor

    assert FeatureRetriever(p, LexiconFeatureExtractor(), CountingEmbedder()).retrieve("broken handle", 2) == []
    ws.close()


def test_edits_a_rebuild_cannot_replay_are_reported_then_reapplied(fresh):
    ws, p, emb = fresh
    target = p.factors[0]
    p = apply_edit(ws, p, "rename", {"factor": target.id, "name": "Durability"})
    p = apply_edit(ws, p, "pin", {"factor": target.id, "pinned": True})
    # A clustering that puts everything in Unclustered: nothing to act on.
    p2 = recluster(ws, p, min_cluster_size=500, embedder=emb)
    assert [f for f in p2.factors if not f.is_noise] == []
    assert [e["applied"] for e in p2.edit_log] == [False, False]
    assert "none of its" in p2.edit_log[0]["reason"]
    pin_id = ws.list_edits("dura", "ava")[1]["id"]
    p3 = reapply_edit(ws, p2, pin_id)
    pinned = [f for f in p3.factors if f.pinned]
    assert len(pinned) == 1 and set(pinned[0].feature_ids) == set(target.feature_ids)
    assert pinned[0].name == "Durability"  # the name it had when it was pinned
    edits = ws.list_edits("dura", "ava", include_undone=True)
    assert next(e for e in edits if e["id"] == pin_id)["undone"]
    assert [e["applied"] for e in p3.edit_log] == [False, True, True]  # the rename is still reported
