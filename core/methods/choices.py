"""The closed set of valid answers of a task (scores in range, or labels), for prompts and parsing.

Kept apart from :mod:`core.methods.prompting` because :class:`core.methods.context.AnswerContext`
needs it and prompting in turn works on an answer context: one module below both avoids a loop.
"""

from __future__ import annotations

import math

from core.data.model import Task

MAX_ENUM_SCORES = 101  # wider integer ranges are asked for as a plain number
MAX_ENUM_LABELS = 200


def answer_choices(task: Task, history_outputs: list[str] | None = None) -> list[str] | None:
    """Return the closed set of valid answers, or None when the answer is free.

    Args:
        task: The task.
        history_outputs: The user's known responses (label tasks without a declared label set
            take their labels from here, in first-seen order).

    Returns:
        Score tasks: the integer scores in range as strings (None for non-integer or very wide
        ranges); label tasks: the labels (None if there are none or too many); text tasks: None.
    """
    if task.kind == "score":
        lo, hi = math.ceil(task.score_min), math.floor(task.score_max)
        if hi < lo or hi - lo + 1 > MAX_ENUM_SCORES:
            return None
        return [str(v) for v in range(lo, hi + 1)]
    if task.kind == "label":
        labels = list(task.labels) or list(dict.fromkeys(o.strip() for o in history_outputs or [] if o.strip()))
        return labels if 0 < len(labels) <= MAX_ENUM_LABELS else None
    return None
