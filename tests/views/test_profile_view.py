from dataclasses import replace

from core.views.profile_view import (
    direction_note,
    factor_bars,
    factor_feature_rows,
    factor_order,
    factor_rows,
    map_points,
    profile_caption,
    subfactor_rows,
    unclustered_share,
)
from core.viz.factor_map import NOISE_NAME, factor_map_figure


def test_map_points_carry_factor_response_and_noise(profile):
    pts = {p.feature_id: p for p in map_points(profile)}
    assert set(pts) == {"a#0", "b#0", "c#0", "d#0"}
    assert pts["a#0"].factor_name == "Durability" and pts["a#0"].response == "1"
    assert pts["a#0"].evidence == "broke in a week" and (pts["a#0"].x, pts["a#0"].y) == (0.0, 0.0)
    assert pts["d#0"].is_noise and pts["d#0"].factor_name == NOISE_NAME
    data = factor_map_figure(map_points(profile), factor_order=factor_order(profile)).to_dict()["data"]
    assert [t["name"] for t in data] == [NOISE_NAME, "Price", "Durability"]


def test_factor_order_pinned_first_then_strength(profile):
    assert factor_order(profile) == ["F2", "F1"]
    profile.factors[1].pinned = False
    assert factor_order(profile) == ["F2", "F1"]  # |2.3| > |-2.0|
    profile.factors[1].stats.influence = 0.5
    assert factor_order(profile) == ["F1", "F2"]


def test_factor_rows_and_bars(profile):
    rows = factor_rows(profile)
    assert [r["factor"] for r in rows] == ["Price", "Durability", NOISE_NAME]
    dur = rows[1]
    assert dur["influence"] == -2.0 and dur["95% CI"] == "-3.00 … -1.00" and dur["features"] == 2
    assert rows[0]["95% CI"] == ""
    bars = {b.factor_id: b for b in factor_bars(profile)}
    assert set(bars) == {"F1", "F2"} and bars["F1"].ci_low == -3.0


def test_factor_feature_rows_and_caption(profile):
    rows = factor_feature_rows(profile, "F1")
    assert [(r["feature"], r["response"]) for r in rows] == [("broke in a week", "1"), ("case cracked", "2")]
    assert factor_feature_rows(profile, "nope") == []
    assert profile_caption(profile) == "4 items · 4 features · 2 factors · 1 unclustered"


def test_sub_factors_unclustered_share_and_the_direction_check(profile):
    f1 = profile.factor("F1")
    f1.subfactors = [{"id": "F1.1", "name": "Broke", "keywords": ["broke"], "feature_ids": ["a#0"], "joined": False},
                     {"id": "F1.2", "name": "Joined from Unclustered", "keywords": [], "feature_ids": ["c#0", "x#9"],
                      "joined": True}]
    rows = subfactor_rows(profile, "F1")
    assert [(r["id"], r["features"], r["feature_ids"]) for r in rows] == [("F1.1", 1, ["a#0"]), ("F1.2", 1, ["c#0"])]
    f1.feature_ids = ["c#0"]  # after a curation edit moved a#0 away, its sub-factor is gone
    assert [r["id"] for r in subfactor_rows(profile, "F1")] == ["F1.2"]
    assert subfactor_rows(profile, "nope") == []
    assert unclustered_share(profile) == 0.25
    assert direction_note(profile).startswith("Direction check: 0 of 3 raised/lowered features disagreed")
    assert direction_note(replace(profile, task=replace(profile.task, kind="label"))) == ""
    profile.features["b"] = [replace(profile.features["b"][0], direction="lowered", extracted_direction="raised")]
    assert direction_note(profile).startswith("Direction check: 1 of 3 raised/lowered features disagreed")
    assert "1 set to the data's direction" in direction_note(profile)
    assert factor_feature_rows(profile, "F2")[0]["checked"] == "extracted raised"
