import math

import pytest

from core.data.model import Task
from core.metrics import label_metrics, metrics_for, parse_score, score_metrics, score_value, text_metrics


def test_score_metrics_hand_computed_with_out_of_range_rule():
    # errors: 4 vs 5 -> 1; 2 vs 2 -> 0; "x" vs 4 -> counted as 1 (farther bound) -> 3;
    # "6" vs 2 -> out of range, counted as 5 -> 3; " 5 " vs 5 -> 0.
    preds = ["4", "2", "x", "6", " 5 "]
    golds = ["5", "2", "4", "2", "5"]
    m = score_metrics(preds, golds)
    assert m["mae"] == pytest.approx(7 / 5)
    assert m["rmse"] == pytest.approx(math.sqrt(19 / 5))


def test_score_value_bounds_and_ties():
    assert score_value("0", 4.0) == 1.0  # below range, gold 4: 1 is farther
    assert score_value("", 1.0) == 5.0
    assert score_value("nan", 2.0) == 5.0
    assert score_value("banana", 3.0) == 5.0  # tie -> upper bound, as LaMP's abs(1-y) > abs(5-y) test
    assert score_value("4.5", 3.0) == 4.5
    assert parse_score("4.5", 1, 5) == 4.5 and parse_score("5.5", 1, 5) is None


def test_score_metrics_custom_range():
    # range 0..10; "11" vs gold 8 -> farther bound 0 -> error 8; "7" vs 8 -> 1
    m = score_metrics(["11", "7"], ["8", "8"], lo=0, hi=10)
    assert m["mae"] == pytest.approx(4.5)
    assert m["rmse"] == pytest.approx(math.sqrt((64 + 1) / 2))


def test_label_metrics_hand_computed():
    golds = ["a", "a", "b", "c"]
    preds = ["a", "b", "b", "zzz"]  # "zzz" is not a label: wrong, and no class gets it
    m = label_metrics(preds, golds, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(0.5)
    # F1: a = 2/3 (P 1, R 1/2), b = 2/3 (P 1/2, R 1), c = 0
    assert m["f1"] == pytest.approx(4 / 9)


def test_label_metrics_macro_over_full_label_set():
    m = label_metrics(["a", "b", "b", "zzz"], ["a", "a", "b", "c"], ["a", "b", "c", "d"])
    assert m["f1"] == pytest.approx((2 / 3 + 2 / 3) / 4)
    assert label_metrics([" a "], ["a"], ["a", "b"])["accuracy"] == 1.0


def test_label_metrics_needs_labels():
    with pytest.raises(ValueError):
        label_metrics(["a"], ["a"], [])


def test_text_metrics_hand_computed():
    preds = ["the cat sat", "mat the on"]
    golds = ["The cat sat on the mat", "on the mat"]
    m = text_metrics(preds, golds)
    # pair 1: P 3/3, R 3/6 -> F 2/3 for both ROUGE-1 and ROUGE-L (LCS 3)
    # pair 2: ROUGE-1 F 1; LCS 1 -> P = R = 1/3 -> F 1/3
    assert m["rouge-1"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["rouge-l"] == pytest.approx((2 / 3 + 1 / 3) / 2)


def test_metrics_for_dispatch_and_lengths():
    assert set(metrics_for(Task(kind="score"), ["3"], ["3"])) == {"mae", "rmse"}
    assert metrics_for(Task(kind="label", labels=("x", "y")), ["x"], ["x"]) == {"accuracy": 1.0, "f1": 0.5}
    assert metrics_for(Task(kind="label"), ["x"], ["x"], labels=["x"])["f1"] == 1.0
    assert set(metrics_for(Task(kind="text"), ["a b"], ["a b"])) == {"rouge-1", "rouge-l"}
    with pytest.raises(ValueError):
        score_metrics(["1"], [])
    assert math.isnan(score_metrics([], [])["mae"])
