import pytest

from core.stages.curation import apply_edits
from core.views import curation_view as cv


def _replay(profile, *edits):
    log = []
    factors, assign = apply_edits(profile.factors, profile.assignments,
                                  [{"id": i + 1, "op": op, "payload": p} for i, (op, p) in enumerate(edits)],
                                  features={f.id: f for f in profile.all_features()}, log=log)
    return {f.id: f for f in factors}, assign, log


def test_selection_actions_replay(profile):
    facs, assign, log = _replay(profile, cv.selection_new_factor(["a#0", "b#0"], " Mixed "))
    assert log[0]["applied"] and facs["E1"].name == "Mixed" and assign["a#0"] == "E1"
    facs, assign, _ = _replay(profile, cv.selection_move(profile, ["d#0"], "F1"))
    assert "d#0" in facs["F1"].feature_ids and assign["d#0"] == "F1"
    facs, assign, _ = _replay(profile, cv.selection_delete(["b#0"]))
    assert assign["b#0"] == "noise"
    facs, _, _ = _replay(profile, cv.selection_move(profile, ["a#0"], "noise"))
    assert "a#0" in facs["noise"].feature_ids


def test_factor_actions_replay(profile):
    facs, _, log = _replay(profile, cv.rename(profile, "F1", "Breakage"), cv.describe(profile, "F1", "x"),
                           cv.pin(profile, "F1"), cv.merge(profile, ["F1", "F2"], "All"))
    assert all(e["applied"] for e in log)
    assert facs["F1"].name == "All" and facs["F1"].pinned and "b#0" in facs["F1"].feature_ids
    facs, _, log = _replay(profile, cv.split(profile, "F1", ["c#0"], "Cracks"), cv.delete(profile, "F2"))
    assert facs["E1"].feature_ids == ["c#0"] and facs["E1"].name == "Cracks"
    assert "F2" not in facs and "b#0" in facs["noise"].feature_ids
    with pytest.raises(KeyError):
        cv.rename(profile, "F9", "x")


def test_describe_edit_lines(profile):
    op, p = cv.selection_new_factor(["a#0", "b#0"], "Mixed")
    assert cv.describe_edit({"op": op, "payload": p}) == "move 2 features to a new factor “Mixed”"
    op, p = cv.selection_move(profile, ["a#0"], "F1")
    assert cv.describe_edit({"op": op, "payload": p}) == "move 1 features to Durability (F1)"
    op, p = cv.selection_delete(["a#0"])
    assert cv.describe_edit({"op": op, "payload": p}) == "move 1 features to Unclustered"
    op, p = cv.rename(profile, "F1", "Breakage")
    assert cv.describe_edit({"op": op, "payload": p}) == "rename Durability (F1) → “Breakage”"
    op, p = cv.merge(profile, ["F1", "F2"])
    assert cv.describe_edit({"op": op, "payload": p}) == "merge Durability (F1), Price (F2)"
    assert cv.describe_edit({"op": "pin", "payload": {"factor": "F1", "pinned": False}}) == \
        "unpin F1"


def test_audit_keeps_the_name_at_edit_time_and_states(profile):
    op, p = cv.rename(profile, "F1", "Breakage")
    first = {"id": 1, "op": op, "payload": p}
    facs, _, log = _replay(profile, (op, p))
    renamed = type(profile)(**{**profile.__dict__, "factors": list(facs.values())})
    op2, p2 = cv.rename(renamed, "F1", "Fragility")
    assert cv.describe_edit(first) == "rename Durability (F1) → “Breakage”"
    assert cv.describe_edit({"op": op2, "payload": p2}) == "rename Breakage (F1) → “Fragility”"
    logs = {1: {"applied": True, "reason": ""}, 2: {"applied": True, "reason": "already one factor"},
            3: {"applied": False, "reason": "gone"}}
    assert cv.edit_state({"id": 1}, logs) == "applied"
    assert cv.edit_state({"id": 2}, logs) == "applied (already one factor)"
    assert cv.edit_state({"id": 3}, logs) == "not replayed: gone"
    assert cv.edit_state({"id": 3, "undone": True}, logs) == "undone"


def test_not_replayed_lists_skipped_active_edits(profile):
    edits = [{"id": 1, "op": "rename", "payload": {"factor": {"factor_id": "F7", "members": ["a#0"], "name": "Old"},
                                                   "name": "New"}, "undone": False},
             {"id": 2, "op": "pin", "payload": {"factor": {"factor_id": "F1", "members": ["zz#0"], "name": "Gone"}},
              "undone": False},
             {"id": 3, "op": "delete", "payload": {"factor": {"factor_id": "F1", "members": ["a#0"]}}, "undone": True}]
    profile.edit_log = [{"id": 1, "op": "rename", "applied": False, "reason": "spread"},
                        {"id": 2, "op": "pin", "applied": False, "reason": "none"}]
    rows = cv.not_replayed(profile, edits)
    assert [(r["id"], r["can_reapply"]) for r in rows] == [(1, True), (2, False)]
    assert rows[0]["text"] == "rename Old (F7) → “New”" and rows[0]["reason"] == "spread"
