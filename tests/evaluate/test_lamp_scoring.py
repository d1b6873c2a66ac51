"""``scoring="lamp"``: identical to a line-by-line transcription of the official LaMP evaluator.

The transcription below copies ``create_metric_mae_rmse`` and ``create_metric_f1_accuracy`` of
LaMP-Benchmark/LaMP ``eval/evaluation.py``, with ``evaluate``'s ``mae`` / ``mse`` / ``accuracy`` /
``f1`` replaced by the scikit-learn functions they wrap.
"""

import math

import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from core.data.model import Task
from core.metrics import label_metrics, lamp_score_value, metrics_for, score_metrics

LAMP2_LABELS = ['sci-fi', 'based on a book', 'comedy', 'action', 'twist ending', 'dystopia', 'dark comedy', 'classic',
                'psychology', 'fantasy', 'romance', 'thought-provoking', 'social commentary', 'violence', 'true story']


def official_mae_rmse(preds, labels):
    def create_mapping(x, y):
        try:
            return float(x)
        except Exception:
            y = float(y)
            if abs(1 - y) > abs(5 - y):
                return 1.0
            else:
                return 5.0
    preds = [str(p).strip() for p in preds]
    labels = [str(x).strip() for x in labels]
    p = [create_mapping(x, y) for x, y in zip(preds, labels, strict=True)]
    g = [create_mapping(x, x) for x in labels]
    return {"mae": mean_absolute_error(g, p), "rmse": math.sqrt(mean_squared_error(g, p))}


def official_f1_accuracy(preds, labels, all_labels):
    def create_mapping(x):
        try:
            return all_labels.index(x)
        except Exception:
            return -1
    p = [create_mapping(str(x).strip()) for x in preds]
    g = [create_mapping(str(x).strip()) for x in labels]
    return {"accuracy": accuracy_score(g, p),
            "f1": f1_score(g, p, labels=list(range(len(all_labels))), average="macro", zero_division=0)}


def test_scores_match_the_official_code_including_out_of_range_numbers():
    preds = ["7", "0", "4 stars", " 3 ", "-1", "1e1", "2.5", "", "five", "5"]
    golds = ["5", "1", "2", "3", "4", "5", "2", "3", "1", "5"]
    ours = score_metrics(preds, golds, scoring="lamp")
    official = official_mae_rmse(preds, golds)
    assert ours["mae"] == pytest.approx(official["mae"], abs=1e-12)
    assert ours["rmse"] == pytest.approx(official["rmse"], abs=1e-12)
    assert ours["nonfinite"] == 0
    # the example: "7" against gold 5 is an error of 2 by the official rule, 4 by Inflow's
    assert score_metrics(["7"], ["5"], scoring="lamp")["mae"] == 2.0
    assert score_metrics(["7"], ["5"])["mae"] == 4.0


def test_nan_and_inf_crash_the_official_code_and_are_scored_as_non_numbers_here():
    for bad in ("nan", "inf", "-Infinity"):
        with pytest.raises(ValueError):
            official_mae_rmse([bad, "4"], ["2", "4"])
        m = score_metrics([bad, "4"], ["2", "4"], scoring="lamp")
        assert m["nonfinite"] == 1
        assert m["mae"] == pytest.approx(3 / 2)  # gold 2: 5 is the farther bound -> error 3
    assert lamp_score_value("nan", 4.0) == (1.0, True)
    assert lamp_score_value("banana", 3.0) == (5.0, False)  # a tie picks 5, as `abs(1-y) > abs(5-y)` does


def test_labels_match_the_official_code():
    golds = ["comedy", "comedy", "action", "sci-fi", "classic", "true story"]
    preds = ["comedy", "Comedy", " action ", "sci-fi.", "classic", "not a tag"]
    ours = label_metrics(preds, golds, LAMP2_LABELS)
    official = official_f1_accuracy(preds, golds, LAMP2_LABELS)
    assert ours["accuracy"] == pytest.approx(official["accuracy"], abs=1e-12)
    assert ours["f1"] == pytest.approx(official["f1"], abs=1e-12)
    lamp = metrics_for(Task(kind="label", labels=tuple(LAMP2_LABELS)), preds, golds, scoring="lamp")
    assert lamp == ours


def test_unknown_scoring_is_refused():
    with pytest.raises(ValueError, match="scoring"):
        metrics_for(Task(kind="score"), ["1"], ["1"], scoring="official")
