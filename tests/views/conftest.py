"""A tiny fixed profile for the view-model tests."""

from __future__ import annotations

import pytest

from core.data.model import Item, Task
from core.stages.profile import Profile
from core.stages.types import NOISE_ID, Factor, FactorStats, Feature, ReasoningPath

TASK = Task(kind="score", name="rating")


def build_profile() -> Profile:
    items = [Item("a", "It broke in a week.", "1"), Item("b", "Cheap and cheerful.", "5"),
             Item("c", "The case cracked.", "2"), Item("d", "Blue box.", "3")]
    feats = {
        "a": [Feature("a#0", "a", "broke in a week", "durability", "lowered", 0.9, "broke in a week")],
        "b": [Feature("b#0", "b", "cheap", "price", "raised", 0.8, "Cheap")],
        "c": [Feature("c#0", "c", "case cracked", "durability", "lowered", 0.7, "case cracked")],
        "d": [Feature("d#0", "d", "blue box", "design", "neutral", 0.2, "Blue box")],
    }
    factors = [
        Factor("F1", "Durability", "Things that break", ["a#0", "c#0"], ["broke", "cracked"],
               FactorStats(n_features=2, n_items=2, coverage=0.5, influence=-2.0, ci_low=-3.0, ci_high=-1.0,
                           polarity=-1.0, consistency=1.0)),
        Factor("F2", "Price", "", ["b#0"], ["cheap"],
               FactorStats(n_features=1, n_items=1, coverage=0.25, influence=2.3, ci_low=None, ci_high=None,
                           polarity=1.0, consistency=1.0), pinned=True),
        Factor(NOISE_ID, "Unclustered", "", ["d#0"]),
    ]
    assignments = {"a#0": "F1", "c#0": "F1", "b#0": "F2", "d#0": NOISE_ID}
    coords = {"a#0": (0.0, 0.0), "c#0": (0.5, 0.1), "b#0": (4.0, 4.0), "d#0": (9.0, 9.0)}
    paths = {"a": ReasoningPath("a", [], "1", "broke in a week -> Durability (influence -2.00) -> 1")}
    return Profile(dataset_id="ds", user_id="u", task=TASK, items=items, features=feats, factors=factors,
                   assignments=assignments, coords2d=coords, summary="Hates breakage. Loves deals.",
                   summary_version=1, paths=paths, run_ids={"features": "features-1"}, settings={})


@pytest.fixture
def profile() -> Profile:
    return build_profile()
