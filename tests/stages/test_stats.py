from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from core.data.model import Item, Task
from core.stages.stats import effect, factor_stats, mutual_information, user_mean, welch_interval
from core.stages.types import Feature

SCORE = Task(kind="score", score_min=1, score_max=5)


def feat(fid: str, item: str, direction: str = "lowered") -> Feature:
    return Feature(id=fid, item_id=item, phrase="p", aspect="a", direction=direction, strength=0.5, evidence="e")


# Six items; the factor touches items a, b, c (a has two features in it).
ITEMS = [Item("a", "t", "1"), Item("b", "t", "2"), Item("c", "t", "2"), Item("d", "t", "5"), Item("e", "t", "4"),
         Item("f", "t", "not a score")]
FEATURES = {f.id: f for f in [feat("a#0", "a"), feat("a#1", "a", "raised"), feat("b#0", "b"), feat("c#0", "c"),
                              feat("c#1", "c", "neutral"), feat("d#0", "d", "raised")]}
MEMBERS = ["a#0", "a#1", "b#0", "c#0", "c#1"]


def test_influence_matches_a_direct_hand_computation():
    st = factor_stats(MEMBERS, FEATURES, ITEMS, SCORE)
    # With the factor: scores 1, 2, 2 (mean 5/3). Without: 5, 4 ('f' has no valid score) (mean 4.5).
    assert st.n_items == 3 and st.n_features == 5
    assert st.coverage == pytest.approx(3 / 6)
    assert st.mean_with == pytest.approx(5 / 3)
    assert st.mean_without == pytest.approx(4.5)
    assert st.influence == pytest.approx(5 / 3 - 4.5)
    # Welch by hand: s1^2 = var(1,2,2) = 1/3, s0^2 = var(5,4) = 1/2.
    v1, v0, n1, n0 = 1 / 3, 1 / 2, 3, 2
    se = math.sqrt(v1 / n1 + v0 / n0)
    df = (v1 / n1 + v0 / n0) ** 2 / ((v1 / n1) ** 2 / (n1 - 1) + (v0 / n0) ** 2 / (n0 - 1))
    half = sps.t.ppf(0.975, df) * se
    assert st.ci_low == pytest.approx(st.influence - half)
    assert st.ci_high == pytest.approx(st.influence + half)
    # Polarity: signs -1, +1, -1, -1, 0 -> -2/5; consistency: 3 of 4 directed agree with 'lowered'.
    assert st.polarity == pytest.approx(-0.4)
    assert st.consistency == pytest.approx(0.75)
    assert effect(st) == pytest.approx(st.influence)


def test_welch_interval_agrees_with_scipy_welch_test():
    a, b = [1.0, 2.0, 2.0, 3.0], [4.0, 5.0, 5.0, 3.0, 4.0]
    low, high = welch_interval(a, b)
    res = sps.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert (low, high) == pytest.approx((ci.low, ci.high))


def test_small_groups_have_no_interval_and_empty_groups_no_influence():
    items = [Item("a", "t", "1"), Item("b", "t", "5"), Item("c", "t", "4")]
    feats = {"a#0": feat("a#0", "a")}
    st = factor_stats(["a#0"], feats, items, SCORE)
    assert st.influence == pytest.approx(1 - 4.5)
    assert st.ci_low is None and st.ci_high is None
    everywhere = {f"{i.id}#0": feat(f"{i.id}#0", i.id) for i in items}
    st2 = factor_stats(list(everywhere), everywhere, items, SCORE)
    assert st2.influence is None and st2.coverage == 1.0
    assert user_mean(items, SCORE) == pytest.approx(10 / 3)


def test_label_lift_mutual_information_and_top_label():
    task = Task(kind="label", labels=("pos", "neg"))
    items = [Item("a", "t", "pos"), Item("b", "t", "pos"), Item("c", "t", "neg"), Item("d", "t", "neg")]
    feats = {"a#0": feat("a#0", "a", "pos"), "b#0": feat("b#0", "b", "pos"), "c#0": feat("c#0", "c", "neg")}
    st = factor_stats(["a#0", "b#0", "c#0"], feats, items, task)
    # P(pos | F) = 2/3, P(pos) = 1/2 -> lift 4/3; P(neg | F) = 1/3 -> lift 2/3.
    assert st.lift == pytest.approx({"neg": 2 / 3, "pos": 4 / 3})
    assert st.top_label == "pos"
    assert st.influence is None
    # MI by hand over (presence, label): (1,pos)=2/4, (1,neg)=1/4, (0,neg)=1/4.
    p = {(1, "pos"): .5, (1, "neg"): .25, (0, "neg"): .25}
    px, py = {1: .75, 0: .25}, {"pos": .5, "neg": .5}
    mi = sum(v * math.log(v / (px[x] * py[y])) for (x, y), v in p.items())
    assert st.mutual_info == pytest.approx(mi)
    assert mutual_information([True, False], ["x", "x"]) == 0.0
    assert st.consistency == pytest.approx(2 / 3)
