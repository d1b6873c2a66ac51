"""The per-user decision rule: its arithmetic, its leave-one-out choice, and rpm's use of it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data.model import Item, Task
from core.methods import decision as d
from core.methods.ablation import ablate
from core.methods.registry import get_method
from core.methods.rpm import MIN_DEV_ITEMS, RPMMethod
from tests.methods.conftest import make_profile

SCORE = Task(kind="score")
OPTS = ("1", "2", "3", "4", "5")


def onehot(i: int) -> np.ndarray:
    v = np.full(5, 0.025)
    v[i] = 0.9
    return v


def terms(raw: np.ndarray, calibrated: np.ndarray | None = None, knn: np.ndarray | None = None,
          prior: np.ndarray | None = None) -> d.Terms:
    flat = np.full(5, 0.2)
    return d.Terms(OPTS, raw, calibrated, flat if knn is None else knn, flat if prior is None else prior)


def test_distributions_from_history_and_retrieval():
    prior = d.prior_distribution(["5", "5", "4", "5.0", "x"], OPTS, SCORE)
    assert prior.sum() == pytest.approx(1.0)
    assert prior[4] == pytest.approx(3.5 / 6.5) and prior[0] == pytest.approx(0.5 / 6.5)
    knn = d.knn_distribution([("2", 3.0), ("4", 1.0), ("oops", 5.0)], OPTS, SCORE, prior)
    assert knn.tolist() == pytest.approx([0, 0.75, 0, 0.25, 0])
    assert d.knn_distribution([("2", 0.0), ("4", 0.0)], OPTS, SCORE, prior).tolist() == pytest.approx([0, .5, 0, .5, 0])
    assert d.knn_distribution([], OPTS, SCORE, prior) is prior
    raw, cal, scored = d.model_distribution({"raw": dict(zip(OPTS, [.1, .1, .1, .6, .1], strict=True)),
                                             "calibrated": None}, OPTS, 4.0, SCORE)
    assert scored and cal is None and raw[3] == pytest.approx(0.6)
    raw, cal, scored = d.model_distribution(None, OPTS, 2.0, SCORE)  # a remote model: its answer, one-hot
    assert not scored and raw.tolist() == [0, 1, 0, 0, 0]


def test_decide_shows_each_terms_contribution():
    t = terms(onehot(3), knn=np.array([0, 0, 0, 0, 1.0]), prior=np.array([.1, .1, .1, .2, .5]))
    rule = d.Rule("fusion", "raw", (0.5, 0.25, 0.25), "median")
    out = d.decide(t, rule, SCORE)
    parts = out["contributions"]
    for o in OPTS:
        total = parts["model"][o] + parts["knn"][o] + parts["prior"][o]
        assert total == pytest.approx(out["distribution"][o], abs=1e-3)
    assert out["answer"] == "4" and out["value"] == 4.0  # the median of 0.46 on 4 and 0.375 on 5
    mean = d.decide(t, d.Rule("fusion", "raw", (0.5, 0.25, 0.25), "mean"), SCORE)
    assert mean["index"] is None and 4.0 < mean["value"] < 5.0
    with pytest.raises(ValueError, match="calibrated"):
        d.decide(t, d.Rule("calibrated", "calibrated"), SCORE)


def test_the_rule_that_fits_the_dev_slice_wins():
    # the model is right: raw wins (the simplest rule on a tie)
    dev = [(terms(onehot(g - 1), onehot(0)), str(g)) for g in (1, 2, 5, 4, 3, 2, 5, 1)]
    fitted = d.fit_rule(dev, SCORE)
    assert fitted.rule.name == "raw" and fitted.dev_error == 0.0
    assert fitted.dev_errors["calibrated"] > 0
    # a raw model stuck on "4", its calibrated scores right: calibrated wins
    dev = [(terms(onehot(3), onehot(g - 1)), str(g)) for g in (1, 2, 5, 4, 3, 2, 5, 1)]
    assert d.fit_rule(dev, SCORE).rule.name == "calibrated"
    # the model is noise, this user always says 5: the prior alone wins (the fusion ties it, and is less simple)
    prior = np.array([.05, .05, .05, .05, .8])
    rng = np.random.default_rng(0)
    dev = [(terms(onehot(int(rng.integers(0, 4))), onehot(int(rng.integers(0, 4))), prior=prior), "5")
           for _ in range(10)]
    fitted = d.fit_rule(dev, SCORE, [f"i{n}" for n in range(10)])
    assert fitted.rule.name == "prior" and fitted.dev_error == 0.0 and fitted.dev_errors["fusion"] == 0.0
    assert fitted.dev_errors["raw"] > 1.0 and fitted.rule.weights == (0.0, 0.0, 1.0)
    assert fitted.to_dict()["n_dev"] == 10
    assert d.fit_rule([], SCORE).rule.name == "raw"


def test_a_model_rule_must_beat_the_prior_by_more_than_one_standard_error():
    prior = np.array([.05, .05, .05, .15, .7])  # this user mostly says 5
    # 20 dev items, 17 rated 5: the prior says 5 (error 3 x 1 / 20 = 0.15); the model gets one of the 4s
    # right and the rest as the prior does (error 0.10): better by 0.05, one item, within the noise
    golds = ["5"] * 17 + ["4"] * 3
    dev = [(terms(onehot(3) if n == 17 else onehot(4), prior=prior), g) for n, g in enumerate(golds)]
    fitted = d.fit_rule(dev, SCORE)
    assert fitted.lowest == "raw" and fitted.dev_errors["raw"] == pytest.approx(0.10)
    assert fitted.dev_errors["prior"] == pytest.approx(0.15)
    assert fitted.standard_errors["prior"] == pytest.approx(0.05)  # one difference of 1 in 20: sd 0.224 / sqrt 20
    assert fitted.rule.name == "prior" and fitted.to_dict()["selection"] == "one standard error"
    # the model gets all three 4s right: better by 0.15 against a standard error of 0.08: trusted
    dev = [(terms(onehot(int(g) - 1), prior=prior), g) for g in golds]
    fitted = d.fit_rule(dev, SCORE)
    assert fitted.rule.name == "raw" and fitted.lowest == "raw" and fitted.dev_error == 0.0
    assert d.alternatives(dev[-1][0], fitted, SCORE) == {"prior": 5.0, "raw": 4.0, "fusion": 4.0}


def test_the_best_model_rule_must_beat_the_prior_by_one_standard_error():
    per_item = {"prior": [1.0, 0.0, 0.0, 0.0], "raw": [0.0, 0.0, 0.0, 0.0], "fusion": [0.0, 0.0, 0.0, 0.0]}
    chosen, lowest, ses = d.one_standard_error(per_item)
    assert (chosen, lowest) == ("prior", "raw") and ses["prior"] == pytest.approx(0.25)
    per_item["prior"] = [1.0, 1.0, 1.0, 0.0]  # mean 0.75 against 0 +- 0.25: out of the margin
    assert d.one_standard_error(per_item)[0] == "raw"
    # the model rules compete on error alone: calibrated a little better than raw still wins
    per_item = {"prior": [2.0, 2.0, 2.0, 2.0], "raw": [1.0, 0.0, 1.0, 0.0], "calibrated": [1.0, 0.0, 0.0, 0.0]}
    assert d.one_standard_error(per_item)[:2] == ("calibrated", "calibrated")
    assert d.one_standard_error({"raw": [1.0], "fusion": [0.0]})[0] == "fusion"  # no prior: the lowest


def test_labels_use_the_mode_and_error_rate():
    task = Task(kind="label", labels=("a", "b"))
    t = d.Terms(("a", "b"), np.array([0.7, 0.3]), None, np.array([0.0, 1.0]), np.array([0.2, 0.8]))
    assert d.decide(t, d.Rule("raw"), task)["value"] == "a"
    assert d.error(t, d.Rule("raw"), "b", task) == 1.0
    fitted = d.fit_rule([(t, "b")] * 4, task)
    assert fitted.rule.name == "prior" and fitted.metric == "error rate" and fitted.dev_error == 0.0
    assert fitted.rule.estimator == "mode" and fitted.dev_errors["raw"] == 1.0


def test_leave_one_out_keeps_the_fusion_honest():
    # each dev item alone says its fitted weights were perfect, but no weights predict the one left out
    same = terms(onehot(0), knn=onehot(4), prior=onehot(2))
    dev = [(same, "1"), (same, "5"), (same, "3")] * 3
    fitted = d.fit_rule(dev, SCORE)
    in_sample = min(np.mean([d.error(t, r, g, SCORE) for t, g in dev]) for r in d.fusion_candidates(SCORE, ["raw"]))
    assert fitted.dev_errors["fusion"] >= in_sample


def answer_json(value: str) -> str:
    return json.dumps({"answer": value})


def fives_profile(embedder):
    """The six-item phone profile plus ten later reviews this user all rated 5."""
    prof = make_profile(embedder=embedder)
    prof.items = prof.items + [Item(id=f"j{n}", input=f"Parcel {n} came, it is a phone I use daily.", output="5")
                               for n in range(10)]
    return prof


def test_rpm_fits_a_rule_on_the_users_history_and_shows_it(model, make_ctx, embedder):
    model.script = lambda prompt, fmt: answer_json("1")  # a model stuck on "1"
    ctx = make_ctx(profile=fives_profile(embedder), k=3)
    ans = RPMMethod(dev_size=12).answer("The phone came today and I use it daily.", ctx)
    decide = ans.trace.steps[-1]
    assert decide.name == "Decide with this user's rule" and decide.kind == "reason"
    rule = decide.detail.decision
    # the model's "1" never beats the user's own prior on dev: the prior decides, and the trace says
    # what the model alone would have answered
    assert rule["rule"]["name"] == "prior" and rule["n_dev"] == 12  # the latest 12 items
    assert rule["alternatives"]["raw"] == 1.0 and rule["alternatives"]["prior"] == 5.0
    assert rule["dev_errors"]["raw"] > rule["dev_error"]
    assert set(rule["dev_items"]) <= {f"j{n}" for n in range(10)} | {"i5", "i6"}
    assert decide.input["model_answer"] == "1" and ans.value == 5.0 and ans.text == "5"
    assert set(rule["contributions"]) == {"model", "knn", "prior"}
    # each dev item was answered without itself: its own text is never among its demonstrations
    dev_prompts = model.prompts[:-1]
    assert len(dev_prompts) == 12
    for prompt in dev_prompts:
        own = prompt.rpartition("Input: ")[2].split("\n")[0]
        assert prompt.count(own) == 1  # only as the input being answered
    # a second answer reuses the fitted rule: one more call, not eleven
    before = len(model.prompts)
    RPMMethod(dev_size=12).answer("Another phone parcel.", ctx)
    assert len(model.prompts) == before + 1


def test_ablation_moves_the_answer_through_the_same_rule(model, make_ctx, embedder):
    model.script = lambda prompt, fmt: answer_json("1")
    ctx = make_ctx(profile=fives_profile(embedder), k=3)
    query = "The phone came today and I use it daily."
    first = get_method("rpm").answer(query, ctx).trace.steps[-1].detail.decision["knn_items"][0]["id"]
    res = ablate("rpm", query, ctx, item=first)
    before, after = res.original.trace.steps[-1].detail.decision, res.ablated.trace.steps[-1].detail.decision
    assert before["rule"] == after["rule"] and before["dev_error"] == after["dev_error"]
    assert first in [k["id"] for k in before["knn_items"]] and first not in [k["id"] for k in after["knn_items"]]
    assert before["terms"]["knn"] != after["terms"]["knn"]  # the item's vote left the same arithmetic


def test_short_histories_keep_the_models_answer(model, make_ctx):
    model.script = lambda prompt, fmt: answer_json("2")
    ans = get_method("rpm").answer("The battery died.", make_ctx(k=3))
    rule = ans.trace.steps[-1].detail.decision
    assert rule["rule"]["name"] == "raw" and rule["n_dev"] < MIN_DEV_ITEMS and ans.value == 2.0
    assert len(model.prompts) == 1  # no dev calls


def test_the_trace_view_shows_the_rule_and_each_terms_share(model, make_ctx, embedder):
    from core.views.trace_view import step_cards

    model.script = lambda prompt, fmt: answer_json("1")
    ans = RPMMethod(dev_size=12).answer("The phone came today.", make_ctx(profile=fives_profile(embedder), k=3))
    card = step_cards(ans.trace)[-1]
    assert card.decision is not None and card.decision["rule"].startswith("prior: the user's own response")
    assert "leave-one-out absolute error on 12 of the user's items: prior 0.417, raw 3.583" in card.decision["rule"]
    assert [r["option"] for r in card.decision["rows"]] == ["1", "2", "3", "4", "5"]
    row = card.decision["rows"][4]
    assert row["model"] + row["knn"] + row["prior"] == pytest.approx(row["total"], abs=1e-3)
    assert card.decision["answer"] == ans.text and card.decision["alternatives"]["raw"] == 1.0


def test_the_trace_view_names_a_fusion_and_the_one_standard_error_choice():
    from core.views.trace_view import decision_view

    record = {"rule": {"name": "fusion", "source": "calibrated", "weights": {"model": 0.5, "knn": 0.25, "prior": 0.25},
                       "estimator": "median"}, "dev_errors": {"prior": 0.4, "raw": 0.3, "fusion": 0.2},
              "lowest": "fusion", "metric": "absolute error", "n_dev": 20, "answer": "4"}
    text = decision_view(record)["rule"]
    assert text.startswith("fusion: 0.5 x calibrated model + 0.25 x retrieved items + 0.25 x the user's prior, median")
    assert "lowest" not in text
    record = {**record, "rule": {"name": "prior", "estimator": "median"}, "lowest": "raw"}
    text = decision_view(record)["rule"]
    assert "; raw was lower, by less than one standard error, so the user's prior decides)" in text


def test_the_cli_text_names_the_rule(model, make_ctx, embedder):
    from core.methods.render import format_answer

    model.script = lambda prompt, fmt: answer_json("1")
    text = format_answer(get_method("rpm").answer("The phone came.", make_ctx(profile=fives_profile(embedder), k=3)))
    assert "rule: prior" in text and "leave-one-out dev errors" in text and "prior: {" in text


def test_reason_first_puts_the_models_reasoning_in_the_trace_and_the_prompt(model, make_ctx):
    def script(prompt, fmt):
        if fmt is None:  # the free-text reasoning call
            return "This user punishes battery problems, so a low score."
        return answer_json("1")

    model.script = script
    ans = get_method("rpm").answer("The battery died.", make_ctx(k=3, reason_first=True))
    kinds = [s.kind for s in ans.trace.steps]
    assert kinds == ["features", "retrieve", "reason", "llm", "llm", "reason"]
    thought, final = ans.trace.steps[3], ans.trace.steps[4]
    assert thought.name == "Reason before answering" and thought.output.startswith("This user punishes")
    assert "Do not give the final answer" in thought.input and "Answer with only" not in thought.input
    assert "This user punishes battery problems" in final.input and ans.value == 1.0
    assert ans.trace.tokens_in == sum(s.tokens_in for s in ans.trace.steps)
