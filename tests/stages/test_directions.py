"""Feature directions checked against the item's score relative to the user's usual score."""

from __future__ import annotations

import pytest

from core.data.model import Dataset, Item, Task, User
from core.embed.hashing import HashingEmbedder
from core.stages.directions import DirectionCheck, direction_report
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings
from core.stages.types import Feature
from core.store.workspace import Workspace
from core.views.profile_view import direction_note

TASK = Task(kind="score")


def _items(scores: list[int]) -> list[Item]:
    return [Item(f"i{k}", "text", str(s)) for k, s in enumerate(scores)]


def test_only_items_clearly_off_the_usual_score_are_checked():
    items = _items([5, 5, 5, 4, 5, 5, 2, 5])
    check = DirectionCheck.for_items(items, TASK)
    assert check.usual == pytest.approx(4.5)
    assert check.tolerance == pytest.approx(1.069, abs=0.01)  # the standard deviation, above half a step
    assert [check.expected(it, TASK) for it in items[3:7]] == [None, None, None, "lowered"]
    assert DirectionCheck.for_items(items, Task(kind="label")).expected(items[6], TASK) is None


def test_lexicon_directions_follow_the_data_and_disagreements_are_counted():
    items = _items([5, 5, 5, 5, 1])
    check = DirectionCheck.for_items(items, TASK)
    feats = [Feature("i4#0", "i4", "heroine kept making", "heroine", "raised", 0.5, "e"),
             Feature("i4#1", "i4", "the strap", "durability", "raised", 0.5, "e"),
             Feature("i4#2", "i4", "broke", "durability problems", "lowered", 0.5, "e"),
             Feature("i4#3", "i4", "bought it", "bought", "neutral", 0.5, "e")]
    fixed = check.apply(items[4], TASK, feats, correct=True)
    assert [f.direction for f in fixed] == ["lowered", "lowered", "lowered", "neutral"]
    assert [f.aspect for f in fixed] == [f.aspect for f in feats]  # the text (and so the embedding) is unchanged
    assert [f.extracted_direction for f in fixed] == ["raised", "raised", "", ""]
    assert direction_report(fixed) == {"directed": 3, "disagree": 2, "corrected": 2}
    kept = check.apply(items[4], TASK, feats, correct=False)  # a model's directions are only marked
    assert [f.direction for f in kept] == ["raised", "raised", "lowered", "neutral"]
    assert direction_report(kept) == {"directed": 3, "disagree": 2, "corrected": 0}
    assert Feature.from_dict(fixed[0].to_dict()) == fixed[0]


def test_a_build_stores_checked_directions_and_shows_the_count(tmp_path):
    texts = ["The heroine was lovely and the plot was great."] * 9 + ["The heroine was lovely but I hated it."]
    items = [Item(f"r{k}", t, "5" if k < 9 else "1") for k, t in enumerate(texts)]
    ws = Workspace(tmp_path / "ws.sqlite")
    ws.add_dataset(Dataset("d", TASK, [User("u", items)]))
    p = build_profile(ws, "d", "u", client=None, embedder=HashingEmbedder(),
                      settings=PipelineSettings(extractor="lexicon"))
    low = p.features["r9"]
    assert low and all(f.direction != "raised" for f in low)  # the 1-star review raised nothing
    changed = [f for f in low if f.extracted_direction == "raised"]
    assert changed
    rep = direction_report(p.all_features())
    assert rep["corrected"] == len(changed) and rep["disagree"] == len(changed)
    assert f"{len(changed)} of {rep['directed']}" in direction_note(p)
    ws.close()
