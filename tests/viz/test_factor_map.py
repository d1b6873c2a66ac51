import pytest

from core.viz.factor_map import NOISE_NAME, MapPoint, factor_centres, factor_map_figure
from core.viz.palette import NOISE_COLOR, factor_color


def _points() -> list[MapPoint]:
    return [
        MapPoint("a#0", 0.0, 0.0, "F1", "Durability", "broke fast", "it broke after a week", "1", "lowered", "a"),
        MapPoint("b#0", 0.2, 0.4, "F1", "Durability", "sturdy", "feels sturdy", "5", "raised", "b"),
        MapPoint("c#0", 0.4, 0.2, "F1", "Durability", "cracked", "the case cracked", "2", "lowered", "c"),
        MapPoint("d#0", 5.0, 5.0, "F2", "Price", "cheap", "great price", "4", "raised", "d"),
        MapPoint("e#0", 6.0, 5.0, "F2", "Price", "overpriced", "way too expensive", "2", "lowered", "e"),
        MapPoint("f#0", 9.0, 0.0, "noise", "Unclustered", "odd", "odd remark", "3", "neutral", "f", is_noise=True),
    ]


def test_one_trace_per_factor_with_noise_grey_and_first():
    data = factor_map_figure(_points()).to_dict()["data"]
    assert [t["name"] for t in data] == [NOISE_NAME, "Durability", "Price"]
    assert [len(t["x"]) for t in data] == [1, 3, 2]
    assert data[0]["marker"]["color"] == NOISE_COLOR
    assert data[1]["marker"]["color"] != NOISE_COLOR
    assert data[1]["marker"]["color"] != data[2]["marker"]["color"]


def test_customdata_starts_with_feature_id_and_hover_has_evidence_and_response():
    data = factor_map_figure(_points()).to_dict()["data"]
    ids = [row[0] for t in data for row in t["customdata"]]
    assert sorted(ids) == ["a#0", "b#0", "c#0", "d#0", "e#0", "f#0"]
    durability = data[1]
    assert durability["customdata"][0][:5] == ["a#0", "broke fast", "it broke after a week", "1", "Durability"]
    for key in ("customdata[1]", "customdata[2]", "customdata[3]"):
        assert key in durability["hovertemplate"]


def test_factor_order_controls_legend_order():
    data = factor_map_figure(_points(), factor_order=["F2", "F1"]).to_dict()["data"]
    assert [t["name"] for t in data] == [NOISE_NAME, "Price", "Durability"]


def test_names_written_at_factor_centres_not_for_noise():
    fig = factor_map_figure(_points())
    notes = {a["text"]: (a["x"], a["y"]) for a in fig.to_dict()["layout"]["annotations"]}
    assert set(notes) == {"<b>Durability</b>", "<b>Price</b>"}
    assert notes["<b>Durability</b>"] == pytest.approx((0.2, 0.2))
    assert notes["<b>Price</b>"] == pytest.approx((5.5, 5.0))
    assert factor_centres(_points())["F2"][2] == "Price"
    assert "annotations" not in factor_map_figure(_points(), show_names=False).to_dict()["layout"]
    capped = factor_map_figure(_points(), max_names=1).to_dict()["layout"]["annotations"]
    assert [a["text"] for a in capped] == ["<b>Durability</b>"]  # the larger factor
    first = factor_map_figure(_points(), max_names=1, factor_order=["F2", "F1"]).to_dict()["layout"]["annotations"]
    assert [a["text"] for a in first] == ["<b>Price</b>"]


def test_color_by_response_orders_numeric_values_low_to_high():
    data = factor_map_figure(_points(), color_by="response").to_dict()["data"]
    assert [t["name"] for t in data] == ["Response 1", "Response 2", "Response 3", "Response 4", "Response 5"]
    assert [len(t["x"]) for t in data] == [1, 2, 1, 1, 1]
    assert data[0]["marker"]["color"] != data[-1]["marker"]["color"]


def test_color_by_response_with_labels_one_trace_per_label():
    pts = [MapPoint(f"{i}#0", float(i), 0.0, "F1", "Plot", response=lab) for i, lab in enumerate("aabc")]
    data = factor_map_figure(pts, color_by="response").to_dict()["data"]
    assert [t["name"] for t in data] == ["a", "b", "c"]
    assert [len(t["x"]) for t in data] == [2, 1, 1]


def test_color_by_polarity():
    data = factor_map_figure(_points(), color_by="polarity").to_dict()["data"]
    assert [t["name"] for t in data] == ["raised", "lowered", "neutral"]
    assert [len(t["x"]) for t in data] == [2, 3, 1]


def test_long_text_is_wrapped_and_cut():
    p = MapPoint("x#0", 0, 0, "F1", "Long", phrase="word " * 100, evidence="e", response="r" * 500)
    row = factor_map_figure([p]).to_dict()["data"][0]["customdata"][0]
    assert "<br>" in row[1] and len(row[1]) < 260
    assert row[3].endswith("…")


def test_empty_and_bad_color_by():
    fig = factor_map_figure([])
    assert fig.to_dict()["data"] == []
    with pytest.raises(ValueError):
        factor_map_figure(_points(), color_by="size")


def test_text_from_the_data_cannot_become_a_plotly_tag_or_link():
    evil = '<a href="javascript:alert(1)">x</a> <b>&'
    points = [MapPoint(f"{i}#0", float(i), 0.0, "F1", evil, evil, evil, evil, "raised", str(i)) for i in range(3)]
    fig = factor_map_figure(points).to_dict()
    texts = [fig["data"][0]["name"], *fig["data"][0]["customdata"][0][1:5],
             *(a["text"] for a in fig["layout"].get("annotations", []))]
    assert len(texts) == 6 and all("<a" not in t and "&lt;b&gt;&amp;" in t for t in texts)  # shown as written


def test_factor_colours_follow_the_factor_not_its_rank():
    def colours(order):
        data = factor_map_figure(_points(), factor_order=order).to_dict()["data"]
        return {t["name"]: t["marker"]["color"] for t in data}

    # pinning Price first (an edit that reorders factors) leaves every colour where it was
    assert colours(["F1", "F2"]) == colours(["F2", "F1"])
    assert factor_color("F1") != factor_color("F2") and factor_color("E3") == factor_color("E3")
    assert len({factor_color(f"F{n}") for n in range(1, 20)}) == 19
    assert factor_color("F2a").startswith("#")
