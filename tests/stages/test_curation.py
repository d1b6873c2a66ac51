from __future__ import annotations

import numpy as np

from core.stages.curation import (
    apply_edits,
    factor_ref,
    kmeans_split,
    locate,
    reapply_actions,
    resolve,
    selection_to_feature_ids,
)
from core.stages.factors import factors_from_labels
from core.stages.types import NOISE_ID, Factor, Feature

FIDS = [f"i{k}#0" for k in range(10)]
# Clusters: A = i0..i3, B = i4..i6, C = i7..i8, noise = i9.
LABELS = {**{f: 0 for f in FIDS[:4]}, **{f: 1 for f in FIDS[4:7]}, **{f: 2 for f in FIDS[7:9]}, FIDS[9]: -1}


def base():
    return factors_from_labels(FIDS, LABELS)


def by_members(factors, member):
    return next(f for f in factors if member in f.feature_ids)


def test_factors_from_labels_numbers_by_size_and_keeps_noise_last():
    factors, assign = base()
    assert [f.id for f in factors] == ["F1", "F2", "F3", NOISE_ID]
    assert factors[0].feature_ids == FIDS[:4]
    assert factors[-1].name == "Unclustered" and factors[-1].feature_ids == [FIDS[9]]
    assert assign[FIDS[5]] == "F2"


def test_each_operation_and_purity():
    factors, assign = base()
    f1, f2, f3 = factors[:3]
    edits = [
        {"id": 1, "op": "rename", "payload": {"factor": factor_ref(f1), "name": "Durability"}},
        {"id": 2, "op": "describe", "payload": {"factor": factor_ref(f1), "description": "Things breaking."}},
        {"id": 3, "op": "pin", "payload": {"factor": factor_ref(f2), "pinned": True}},
        {"id": 4, "op": "merge", "payload": {"factors": [factor_ref(f2), factor_ref(f3)], "name": "Service"}},
        {"id": 5, "op": "move", "payload": {"feature_ids": [FIDS[9]], "target": None, "name": "Odd one"}},
        {"id": 6, "op": "split", "payload": {"factor": factor_ref(f1), "feature_ids": [FIDS[2], FIDS[3]]}},
        {"id": 7, "op": "bogus", "payload": {}},
    ]
    log: list = []
    out, new_assign = apply_edits(factors, assign, edits, log=log)
    assert [e["applied"] for e in log] == [True] * 6 + [False]
    d = by_members(out, FIDS[0])
    assert (d.id, d.name, d.description, d.feature_ids) == ("F1", "Durability", "Things breaking.", FIDS[:2])
    s = by_members(out, FIDS[4])
    assert s.name == "Service" and s.pinned and s.feature_ids == FIDS[4:9]
    assert new_assign[FIDS[9]] == "E5" and by_members(out, FIDS[9]).name == "Odd one"
    assert new_assign[FIDS[2]] == "E6" and by_members(out, FIDS[2]).name == "Durability (split)"
    assert out[-1].is_noise and out[-1].feature_ids == []
    assert "F3" not in {f.id for f in out}
    # inputs untouched
    assert f1.name == "Factor 1" and f2.feature_ids == FIDS[4:7] and assign[FIDS[9]] == NOISE_ID


def test_delete_sends_features_to_unclustered_and_noise_cannot_be_deleted():
    factors, assign = base()
    edits = [{"id": 1, "op": "delete", "payload": {"factor": factor_ref(factors[2])}},
             {"id": 2, "op": "delete", "payload": {"factor": {"factor_id": NOISE_ID, "members": []}}}]
    log: list = []
    out, new_assign = apply_edits(factors, assign, edits, log=log)
    assert [e["applied"] for e in log] == [True, False]
    assert new_assign[FIDS[7]] == NOISE_ID and set(out[-1].feature_ids) == {FIDS[7], FIDS[8], FIDS[9]}


def test_replay_after_rebuild_maps_factors_by_feature_overlap():
    factors, assign = base()
    edits = [{"id": 1, "op": "rename", "payload": {"factor": factor_ref(factors[1]), "name": "Service"}},
             {"id": 2, "op": "merge", "payload": {"factors": [factor_ref(factors[0]), factor_ref(factors[2])]}}]
    # Rebuild: clusters renumbered (B is now the biggest) and membership shifted a little.
    new_labels = {**{f: 5 for f in FIDS[:3]}, **{f: 9 for f in FIDS[3:8]}, FIDS[8]: 7, FIDS[9]: 7}
    rebuilt, rassign = factors_from_labels(FIDS, new_labels)
    assert by_members(rebuilt, FIDS[4]).id == "F1"
    out, new_assign = apply_edits(rebuilt, rassign, edits)
    service = by_members(out, FIDS[4])
    assert service.name == "Service"  # old F2 {i4..i6} -> new F1 {i3..i7} by overlap
    merged = by_members(out, FIDS[0])
    assert set(merged.feature_ids) == {FIDS[0], FIDS[1], FIDS[2], FIDS[8], FIDS[9]}


def test_resolve_rules():
    factors = [Factor("F1", "a", feature_ids=["x", "y"]), Factor("F2", "b", feature_ids=["z"]),
               Factor(NOISE_ID, "Unclustered", feature_ids=["w"])]
    assert resolve({"factor_id": "F9", "members": ["z"]}, factors).id == "F2"
    # anchored to features: no overlap means not found, even when a factor now carries the old id
    assert resolve({"factor_id": "F2", "members": ["q"]}, factors) is None
    assert resolve({"factor_id": "F9", "members": ["q"]}, factors) is None
    # a minority share is not the factor the edit acted on
    f, why = locate({"factor_id": "F1", "members": ["x", "z", "w"], "name": "a"}, factors)
    assert f is None and "spread over 2 factors" in why
    assert locate({"factor_id": "F1", "members": ["x", "y", "w"]}, factors)[0].id == "F1"  # 2 of 3
    assert resolve("F1", factors).id == "F1"
    assert resolve({"factor_id": NOISE_ID, "members": []}, factors).is_noise


def test_names_from_keywords_when_features_are_given():
    factors, assign = base()
    feats = {f: Feature(f, f.split("#")[0], "zipper broke" if k < 2 else "fast shipping", "durability", "lowered",
                        0.5, "e") for k, f in enumerate(FIDS)}
    edits = [{"id": 3, "op": "move", "payload": {"feature_ids": [FIDS[0], FIDS[1]], "target": None}}]
    out, _ = apply_edits(factors, assign, edits, features=feats)
    new = by_members(out, FIDS[0])
    assert new.id == "E3" and "zipper" in new.name.lower() and new.keywords


def test_kmeans_split_returns_the_smaller_group():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.01, (5, 4)) + np.array([1, 0, 0, 0])
    b = rng.normal(0, 0.01, (3, 4)) + np.array([0, 1, 0, 0])
    vecs = {f"f{k}": v for k, v in enumerate(np.vstack([a, b]))}
    assert sorted(kmeans_split(list(vecs), vecs)) == ["f5", "f6", "f7"]


def test_selection_to_feature_ids_accepts_plotly_shapes():
    event = {"selection": {"points": [{"customdata": ["i1#0", "F1"]}, {"customdata": "i2#1"},
                                      {"customdata": ["i1#0"]}, {"x": 1}]}}
    assert selection_to_feature_ids(event) == ["i1#0", "i2#1"]
    assert selection_to_feature_ids([{"customdata": ["a#0"]}]) == ["a#0"]
    assert selection_to_feature_ids({"points": []}) == []


def test_rebuild_never_acts_on_whatever_now_holds_the_old_id():
    factors, assign = base()
    edits = [{"id": 1, "op": "rename", "payload": {"factor": factor_ref(factors[2]), "name": "Shipping"}},
             {"id": 2, "op": "pin", "payload": {"factor": factor_ref(factors[2]), "pinned": True}}]
    # Rebuild: old F3 {i7, i8} went to Unclustered; a new F3 exists with other features.
    new_labels = {**{f: 0 for f in FIDS[:3]}, **{f: 1 for f in FIDS[3:5]}, **{f: 2 for f in FIDS[5:7]},
                  **{f: -1 for f in FIDS[7:]}}
    rebuilt, rassign = factors_from_labels(FIDS, new_labels)
    assert "F3" in {f.id for f in rebuilt}
    log: list = []
    out, _ = apply_edits(rebuilt, rassign, edits, log=log)
    assert [e["applied"] for e in log] == [False, False]
    assert "Factor 3 (F3): none of its 2 features is in a factor now" == log[0]["reason"]
    assert all(f.name != "Shipping" and not f.pinned for f in out)


def test_merge_already_together_after_rebuild_is_applied_and_missing_part_is_not():
    factors, assign = base()
    merge = {"id": 1, "op": "merge", "payload": {"factors": [factor_ref(factors[1]), factor_ref(factors[2])],
                                                 "name": "Service"}}
    together = {**{f: 0 for f in FIDS[:4]}, **{f: 1 for f in FIDS[4:9]}, FIDS[9]: -1}
    rebuilt, rassign = factors_from_labels(FIDS, together)
    log: list = []
    out, _ = apply_edits(rebuilt, rassign, [merge], log=log)
    assert log[0] == {"id": 1, "op": "merge", "applied": True, "reason": "already one factor"}
    assert by_members(out, FIDS[4]).name == "Service"
    gone = {**{f: 0 for f in FIDS[:7]}, **{f: -1 for f in FIDS[7:]}}
    rebuilt, rassign = factors_from_labels(FIDS, gone)
    log = []
    out, _ = apply_edits(rebuilt, rassign, [merge], log=log)
    assert not log[0]["applied"] and log[0]["reason"].startswith("Factor 3 (F3): none of")
    assert all(f.name != "Service" for f in out)


def test_reapply_actions_gather_the_anchored_features_then_act():
    factors, assign = base()
    f3 = factor_ref(factors[2])
    known = set(FIDS)
    edit = {"id": 4, "op": "pin", "payload": {"factor": f3, "pinned": True}}
    actions = reapply_actions(edit, known)
    assert [op for op, _ in actions] == ["move", "pin"]
    edits = [{"id": 10 + i, "op": op, "payload": p} for i, (op, p) in enumerate(actions)]
    gone = {**{f: 0 for f in FIDS[:7]}, **{f: -1 for f in FIDS[7:]}}
    rebuilt, rassign = factors_from_labels(FIDS, gone)
    log: list = []
    out, _ = apply_edits(rebuilt, rassign, edits, log=log)
    assert all(e["applied"] for e in log)
    new = by_members(out, FIDS[7])
    assert new.id == "E10" and new.pinned and new.name == "Factor 3" and new.feature_ids == FIDS[7:9]
    merge = {"id": 5, "op": "merge", "payload": {"factors": [factor_ref(factors[0]), f3], "name": None}}
    (op, p), = reapply_actions(merge, known)
    assert op == "move" and p["target"] is None and p["feature_ids"] == FIDS[:4] + FIDS[7:9]
    assert reapply_actions(edit, {"other#0"}) == []


def test_generated_description_count_follows_membership():
    factors, assign = base()
    factors[1].description = "3 features such as 'late'."
    edits = [{"id": 1, "op": "merge", "payload": {"factors": [factor_ref(factors[1]), factor_ref(factors[2])]}}]
    out, _ = apply_edits(factors, assign, edits)
    assert by_members(out, FIDS[4]).description == "5 features such as 'late'."
