"""The LaMP benchmark metrics, computed with scikit-learn and ``rouge-score``.

LaMP (Salemi et al., 2023) scores its tasks as follows, and so do we:

* **Label tasks** (LaMP-1, LaMP-2): accuracy and macro-F1 over the task's closed label set. A
  prediction outside the label set counts as wrong for accuracy and adds to no class for F1
  (LaMP maps it to ``-1``; we map it to a sentinel that is not in ``labels``). Classes that never
  occur get an F1 of 0 (``zero_division=0``, as scikit-learn's default does after its warning).
* **Score tasks** (LaMP-3): MAE and RMSE. A prediction that is not a number in ``[lo, hi]``
  counts as whichever of ``lo`` and ``hi`` is farther from the gold score (LaMP does this for
  non-numbers; the issue extends it to out-of-range numbers, so a model cannot gain by answering
  ``0`` or ``6``).
* **Text tasks** (LaMP-4..7): ROUGE-1 and ROUGE-L F-measure, averaged over queries, with
  ``rouge-score``'s default tokenizer and no stemming (what LaMP's ``evaluate.load("rouge")``
  uses, without its bootstrap resampling).

Predictions and golds are stripped of surrounding whitespace first, as LaMP's post-processing does.

Two scorings (:data:`SCORINGS`) are computed side by side:

* ``inflow`` (above): out-of-range numbers count as the farther bound, so no answer scores better
  than the worst in-range one.
* ``lamp``: exactly the official evaluator (``eval/evaluation.py`` of LaMP-Benchmark/LaMP,
  ``create_metric_mae_rmse``): whatever Python's ``float()`` reads is scored as that raw value
  (``"7"`` against gold 5 is an error of 2, ``"0"`` against gold 1 an error of 1, ``"1e1"`` is 10);
  anything else counts as whichever of 1 and 5 is farther from the gold (the official bounds are
  the fixed 1 and 5; a task with another range uses its own bounds). ``float()`` also reads
  ``"nan"`` and ``"inf"``, on which the official code *crashes* (scikit-learn refuses NaN and
  infinite inputs): here such a prediction is scored like a non-number (the farther bound) and
  counted in ``nonfinite``, so a published number can say how many there were. Label and text
  metrics are the same under both scorings (the official code strips, matches labels exactly and
  case-sensitively, and maps anything else to a class of its own, as above); the official ROUGE
  is a bootstrap estimate of the mean (random resampling, unseeded), ours is the mean itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rouge_score import rouge_scorer
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from core.data.model import Task

# Metric names per task kind, in display order; "lower" says whether lower is better.
METRICS: dict[str, tuple[str, ...]] = {"score": ("mae", "rmse"), "label": ("accuracy", "f1"),
                                       "text": ("rouge-1", "rouge-l")}
LOWER_IS_BETTER = frozenset({"mae", "rmse"})
SCORINGS = ("inflow", "lamp")

_NOT_A_LABEL = "\x00<not a label>"


def _check_lengths(preds: Sequence[str], golds: Sequence[str]) -> None:
    if len(preds) != len(golds):
        raise ValueError(f"{len(preds)} predictions but {len(golds)} golds")


def parse_score(text: object, lo: float = 1.0, hi: float = 5.0) -> float | None:
    """Read a predicted score; return None unless it is a finite number in ``[lo, hi]``.

    Examples:
        >>> parse_score(" 4 "), parse_score("4.5"), parse_score("6"), parse_score("four")
        (4.0, 4.5, None, None)
    """
    try:
        x = float(str(text).strip())
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x) or x < lo or x > hi:
        return None
    return x


def score_value(pred: object, gold: float, lo: float = 1.0, hi: float = 5.0) -> float:
    """Return the value LaMP scores for one prediction: itself, or the farther bound from ``gold``."""
    x = parse_score(pred, lo, hi)
    if x is not None:
        return x
    return lo if abs(lo - gold) > abs(hi - gold) else hi


def lamp_score_value(pred: object, gold: float, lo: float = 1.0, hi: float = 5.0) -> tuple[float, bool]:
    """Return the value the official LaMP evaluator scores for one prediction, and whether it was NaN / infinite.

    The official rule: ``float(pred.strip())`` when Python can read it (out-of-range values kept as
    they are), else the farther of ``lo`` and ``hi`` from ``gold`` (a tie picks ``hi``). NaN and
    infinities crash the official code; they get the farther bound here and the flag says so.

    Examples:
        >>> lamp_score_value("7", 5.0), lamp_score_value("4 stars", 2.0), lamp_score_value("nan", 4.0)
        ((7.0, False), (5.0, False), (1.0, True))
    """
    try:
        x = float(str(pred).strip())
    except (TypeError, ValueError):
        x = None
    nonfinite = x is not None and not math.isfinite(x)
    if x is not None and not nonfinite:
        return x, False
    return (lo if abs(lo - gold) > abs(hi - gold) else hi), nonfinite


def score_metrics(preds: Sequence[str], golds: Sequence[str], lo: float = 1.0, hi: float = 5.0, *,
                  scoring: str = "inflow") -> dict[str, float]:
    """MAE and RMSE of score predictions (LaMP-3).

    Args:
        preds: Predicted scores as text (anything that is not a number in range is allowed).
        golds: True scores as text (must be numbers).
        lo: Lowest valid score.
        hi: Highest valid score.
        scoring: ``"inflow"`` or ``"lamp"`` (see the module docstring).

    Returns:
        ``{"mae": ..., "rmse": ...}`` (``lamp`` adds ``"nonfinite"``: predictions the official
        code would crash on); NaN for both when there are no predictions.

    Raises:
        ValueError: Lengths differ, a gold is not a number, or an unknown ``scoring``.
    """
    _check_lengths(preds, golds)
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}")
    extra = {"nonfinite": 0} if scoring == "lamp" else {}
    if not golds:
        return {"mae": math.nan, "rmse": math.nan, **extra}
    y_true = np.array([float(str(g).strip()) for g in golds], dtype=np.float64)
    if scoring == "lamp":
        pairs = [lamp_score_value(p, g, lo, hi) for p, g in zip(preds, y_true, strict=True)]
        y_pred = np.array([v for v, _ in pairs], dtype=np.float64)
        extra["nonfinite"] = sum(1 for _, bad in pairs if bad)
    else:
        y_pred = np.array([score_value(p, g, lo, hi) for p, g in zip(preds, y_true, strict=True)], dtype=np.float64)
    return {"mae": float(mean_absolute_error(y_true, y_pred)),
            "rmse": float(math.sqrt(mean_squared_error(y_true, y_pred))), **extra}


def label_metrics(preds: Sequence[str], golds: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro-F1 over a closed label set (LaMP-1, LaMP-2).

    Args:
        preds: Predicted labels (labels outside ``labels`` count as wrong).
        golds: True labels.
        labels: The task's label set; macro-F1 averages over exactly these classes.

    Returns:
        ``{"accuracy": ..., "f1": ...}``; NaN for both when there are no predictions.

    Raises:
        ValueError: Lengths differ or ``labels`` is empty.
    """
    _check_lengths(preds, golds)
    if not labels:
        raise ValueError("label_metrics needs the task's label set")
    if not golds:
        return {"accuracy": math.nan, "f1": math.nan}
    known = {str(x).strip() for x in labels}

    def norm(x: object) -> str:
        s = str(x).strip()
        return s if s in known else _NOT_A_LABEL

    y_true = [norm(g) for g in golds]
    y_pred = [norm(p) for p in preds]
    ordered = list(dict.fromkeys(str(x).strip() for x in labels))
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "f1": float(f1_score(y_true, y_pred, labels=ordered, average="macro", zero_division=0))}


_SCORER: rouge_scorer.RougeScorer | None = None


def _scorer() -> rouge_scorer.RougeScorer:
    global _SCORER
    if _SCORER is None:
        _SCORER = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)
    return _SCORER


def text_metrics(preds: Sequence[str], golds: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1 and ROUGE-L F-measure (LaMP-4..7).

    Returns:
        ``{"rouge-1": ..., "rouge-l": ...}``; NaN for both when there are no predictions.

    Raises:
        ValueError: Lengths differ.
    """
    _check_lengths(preds, golds)
    if not golds:
        return {"rouge-1": math.nan, "rouge-l": math.nan}
    r1, rl = [], []
    for p, g in zip(preds, golds, strict=True):
        s = _scorer().score(str(g).strip(), str(p).strip())  # score(target, prediction)
        r1.append(s["rouge1"].fmeasure)
        rl.append(s["rougeL"].fmeasure)
    return {"rouge-1": float(np.mean(r1)), "rouge-l": float(np.mean(rl))}


def metrics_for(task: Task, preds: Sequence[str], golds: Sequence[str],
                labels: Sequence[str] | None = None, *, scoring: str = "inflow") -> dict[str, float]:
    """Score predictions with the metrics of the task's kind.

    Args:
        task: The task (its kind picks the metrics; score range and labels come from it).
        preds: Predictions as text.
        golds: True outputs as text.
        labels: Label set for label tasks when the task does not carry one (e.g. the labels seen in
            the data); ignored for other kinds.
        scoring: ``"inflow"`` or ``"lamp"``; only score tasks differ (see the module docstring).

    Returns:
        A dict with the kind's metric names (see :data:`METRICS`).

    Raises:
        ValueError: Lengths differ, a label task has no label set at all, or an unknown ``scoring``.
    """
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}")
    if task.kind == "score":
        return score_metrics(preds, golds, task.score_min, task.score_max, scoring=scoring)
    if task.kind == "label":
        return label_metrics(preds, golds, tuple(task.labels) or tuple(labels or ()))
    return text_metrics(preds, golds)
