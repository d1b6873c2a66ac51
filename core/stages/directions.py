"""Checking feature directions against the data: did the item's response go up or down for this user.

A feature's direction says whether it *raised* or *lowered* the user's response. The offline
extractor takes it from the clause's sentiment, which misreads plot summaries ("her mother died" in
a five-star novel) and sarcasm. The data has a better witness: the item's score relative to the
user's usual score. :class:`DirectionCheck` compares the two on score tasks:

* the user's *usual* response is the mean of their parsed scores; an item is *off the usual* when
  its score differs from that mean by more than the tolerance ``max(half a step on a 1-5 scale,
  the user's standard deviation)`` (a step is a quarter of the score range), so only items clearly
  above or below what this user usually gives are checked;
* a directed feature (raised / lowered) of an off-the-usual item *disagrees* when it points the
  other way than the item's score moved;
* a disagreeing feature keeps the extractor's direction in ``extracted_direction``; with
  ``correct=True`` (the sentiment-lexicon extractor) its direction becomes the data's (its aspect
  and phrase stay as extracted, so its embedding and the projection do not move); a model-written
  direction is only counted.

Label and text tasks are not checked (there is no "usual" direction of a label).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from core.data.model import Item, Task
from core.stages.types import Feature


@dataclass(frozen=True)
class DirectionCheck:
    """The user's usual response and the tolerance an item must exceed to be checked.

    Attributes:
        usual: The user's mean score (None: nothing is checked).
        tolerance: How far from ``usual`` an item's score must be to count as raised / lowered.
    """

    usual: float | None
    tolerance: float

    VERSION = 1

    @classmethod
    def for_items(cls, items: list[Item], task: Task) -> DirectionCheck:
        """Return the check of a user's items (score tasks with at least 2 parsed scores; else a no-op)."""
        if task.kind != "score":
            return cls(None, 0.0)
        scores = [s for s in (task.parse_score(it.output) for it in items) if s is not None]
        if len(scores) < 2:
            return cls(None, 0.0)
        mean = sum(scores) / len(scores)
        std = math.sqrt(sum((s - mean) ** 2 for s in scores) / (len(scores) - 1))
        step = (float(task.score_max) - float(task.score_min)) / 4.0
        return cls(mean, max(0.5 * step, std))

    def identity(self) -> dict[str, Any]:
        """Return what identifies the check's effect on stored features."""
        return {"version": self.VERSION, "usual": None if self.usual is None else round(self.usual, 4),
                "tolerance": round(self.tolerance, 4)}

    def expected(self, item: Item, task: Task) -> str | None:
        """Return ``"raised"`` / ``"lowered"`` for an item clearly off the usual, else None."""
        if self.usual is None or task.kind != "score":
            return None
        score = task.parse_score(item.output)
        if score is None or abs(score - self.usual) <= self.tolerance:
            return None
        return "raised" if score > self.usual else "lowered"

    def apply(self, item: Item, task: Task, features: list[Feature], *, correct: bool) -> list[Feature]:
        """Return the item's features with disagreements marked (and corrected when ``correct``)."""
        want = self.expected(item, task)
        if want is None:
            return features
        out = []
        for f in features:
            if f.direction in ("raised", "lowered") and f.direction != want:
                f = replace(f, extracted_direction=f.direction)
                if correct:
                    f = replace(f, direction=want)
            out.append(f)
        return out


def direction_report(features: list[Feature]) -> dict[str, int]:
    """Count directed features, disagreements with the data and corrections.

    Returns:
        ``{"directed", "disagree", "corrected"}``: features with a raised / lowered direction, those
        whose extracted direction disagreed with the item's response relative to the user's usual
        one, and those whose direction was replaced by the data's.
    """
    directed = sum(1 for f in features if f.direction in ("raised", "lowered"))
    disagree = [f for f in features if f.extracted_direction]
    corrected = sum(1 for f in disagree if f.direction != f.extracted_direction)
    return {"directed": directed, "disagree": len(disagree), "corrected": corrected}
