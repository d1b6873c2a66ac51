import pytest

from core.viz.factor_stats import FactorBar, factor_stats_figure
from core.viz.palette import LOWERED_COLOR, RAISED_COLOR


def _bars() -> list[FactorBar]:
    return [
        FactorBar("F1", "Durability", coverage=0.3, influence=-1.4, ci_low=-2.1, ci_high=-0.7, polarity=-0.8),
        FactorBar("F2", "Price", coverage=0.5, influence=0.6, ci_low=0.1, ci_high=1.0, polarity=0.4),
        FactorBar("F3", "Shipping", coverage=0.1, influence=None, polarity=0.0),
    ]


def test_influence_bars_sorted_with_ci_error_bars():
    data = factor_stats_figure(_bars(), "influence").to_dict()["data"]
    assert len(data) == 1
    bar = data[0]
    assert bar["y"] == ["Price", "Durability"]  # largest |influence| last = top of a horizontal chart
    assert bar["x"] == [0.6, -1.4]
    assert bar["error_x"]["array"] == pytest.approx([0.4, 0.7])
    assert bar["error_x"]["arrayminus"] == pytest.approx([0.5, 0.7])
    assert bar["marker"]["color"] == [RAISED_COLOR, LOWERED_COLOR]
    assert [c[0] for c in bar["customdata"]] == ["F2", "F1"]


def test_coverage_has_every_factor_and_no_error_bars():
    bar = factor_stats_figure(_bars(), "coverage").to_dict()["data"][0]
    assert bar["y"] == ["Shipping", "Durability", "Price"]
    assert "error_x" not in bar


def test_duplicate_names_are_disambiguated():
    bars = [FactorBar("F1", "Same", coverage=0.1), FactorBar("F2", "Same", coverage=0.2)]
    assert factor_stats_figure(bars, "coverage").to_dict()["data"][0]["y"] == ["Same (F1)", "Same (F2)"]


def test_unknown_metric():
    with pytest.raises(ValueError):
        factor_stats_figure(_bars(), "size")
