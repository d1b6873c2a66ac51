"""bench/llm_stages.py's figures: the item sample and the feature quality counts, on small fixed data."""

from bench.llm_stages import _grounded, _specific, expected_direction, feature_quality, sample_items, spread
from core.data.model import Item, Task
from core.stages.types import Feature

TASK = Task(kind="score", score_min=1.0, score_max=5.0)


def _items(ratings: list[int]) -> list[Item]:
    return [Item(f"i{k}", f"The plot twist in chapter {k} was clever.", str(r)) for k, r in enumerate(ratings)]


def test_sample_is_half_below_and_half_above_the_mean_in_history_order():
    items = _items([5, 5, 5, 2, 5, 5, 3, 5, 5, 5, 1, 5])  # mean 4.25: 1-3 below, 5 above
    chosen = sample_items(items, TASK, 4)
    assert [it.id for it in chosen] == sorted((it.id for it in chosen), key=lambda s: int(s[1:]))
    below = [it for it in chosen if expected_direction(it, TASK, 4.25) == "lowered"]
    above = [it for it in chosen if expected_direction(it, TASK, 4.25) == "raised"]
    assert len(below) == 2 and len(above) == 2
    assert [it.id for it in spread(items, 3)] == ["i0", "i6", "i11"]  # first, middle, last
    assert len(sample_items(_items([5, 5, 4]), TASK, 10)) == 3  # fewer items than asked: all that have a direction


def test_a_rating_near_the_mean_has_no_expected_direction():
    assert expected_direction(Item("a", "x", "4"), TASK, 4.1) is None
    assert expected_direction(Item("a", "x", "4"), TASK, 4.5) == "lowered"
    assert expected_direction(Item("a", "x", "n/a"), TASK, 4.5) is None


def test_grounded_and_specific():
    text = "The plot  twist was clever.\nThe ending dragged."
    assert _grounded("plot twist was clever", text)  # whitespace runs do not matter
    assert not _grounded("the plot twist", text)  # case does: an exact quote
    assert not _grounded("  ", text)
    assert _specific("clever twists", text) and not _specific("concrete properties", text)


def test_feature_quality_counts_coverage_grounding_and_directions():
    items = _items([5, 1])
    raw = {"i0": [{"phrase": "clever twist", "evidence": "plot twist", "direction": "raised"},
                  {"phrase": "themes", "evidence": "not in the review", "direction": "lowered"}],
           "i1": [{"phrase": "chapter", "evidence": "chapter 1", "direction": "raised"}]}
    kept = {"i0": [Feature("i0#0", "i0", "clever twist", "plot", "raised", 0.5, "plot twist")], "i1": []}
    q = feature_quality(items, TASK, raw, kept, mean=3.0)
    assert (q["items"], q["with_feature"], q["raw"], q["kept"]) == (2, 1, 3, 1)
    assert q["grounded"] == 2 and q["specific"] == 2
    assert (q["directed"], q["agree"]) == (3, 1)  # raised on a 5 agrees; lowered on a 5 and raised on a 1 do not


def test_the_measured_section_is_replaced_and_the_hand_written_decision_kept(tmp_path):
    from bench.llm_stages import BEGIN, END, write_section

    doc = tmp_path / "LLM_STAGES.md"
    doc.write_text(f"# Title\n\n{BEGIN}\nold figures\n{END}\n\n## Decision\nkept\n", encoding="utf-8")
    write_section(f"{BEGIN}\nnew figures\n{END}", doc)
    text = doc.read_text(encoding="utf-8")
    assert "new figures" in text and "old figures" not in text
    assert text.count(BEGIN) == 1 and text.endswith("## Decision\nkept\n")
    fresh = tmp_path / "new.md"
    write_section(f"{BEGIN}\nfigures\n{END}", fresh)
    assert fresh.read_text(encoding="utf-8").startswith("# Profile stages") and "figures" in fresh.read_text()
