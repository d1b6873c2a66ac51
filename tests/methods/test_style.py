"""The user's word model and the choice between the given text and the rewrite."""

from __future__ import annotations

import math

import numpy as np

from core.embed.hashing import HashingEmbedder
from core.methods.style import StyleModel, check_meaning, choose_wording, words

TWEETS = ["omg u guys r the best lol", "cant wait 4 the weekend lol", "im so tired rn but u know how it is"]


def test_words_are_lower_cased_letters_and_digits():
    assert words("OMG!! Can't wait 4 da show...") == ["omg", "can", "t", "wait", "4", "da", "show"]
    assert words("") == [] and words("?!") == []


def test_the_model_is_add_one_smoothed_over_the_users_words():
    model = StyleModel.from_texts(TWEETS)
    assert model.total == 23 and model.counts["lol"] == 2
    vocab = len(model.counts)
    assert math.isclose(model.log_prob("lol"), math.log(3 / (23 + vocab + 1)))
    assert math.isclose(model.log_prob("never-written"), math.log(1 / (23 + vocab + 1)))
    assert model.score("?!") is None


def test_a_rewrite_in_the_users_words_is_kept():
    model = StyleModel.from_texts(TWEETS)
    choice = choose_wording(model, "I am very tired at the moment, but you understand.", "im so tired rn but u know")
    assert choice.chosen == "rewrite" and choice.text == "im so tired rn but u know"
    assert choice.scores["rewrite"] > choice.scores["given"]
    assert choice.unseen["rewrite"] == 0.0 and choice.unseen["given"] > 0.5


def test_a_rewrite_that_drifts_from_the_users_words_leaves_the_given_text():
    model = StyleModel.from_texts(TWEETS)
    choice = choose_wording(model, "cant wait 4 the weekend",
                            "Eagerly anticipating the forthcoming Saturday festivities")
    assert choice.chosen == "given" and choice.text == "cant wait 4 the weekend"
    assert choose_wording(model, "u r the best", "...").chosen == "given"  # a rewrite without words is never kept
    tie = choose_wording(model, "the best", "the best")
    assert tie.chosen == "given"  # a tie keeps the given text
    assert tie.p_value is None and tie.added == tie.removed == ()  # nothing changed, nothing to test
    assert set(tie.to_dict()) == {"chosen", "scores", "unseen", "dropped", "added", "removed", "p_value", "alpha",
                                     "meaning"}


def test_only_the_changed_words_decide_and_a_difference_within_noise_keeps_the_given_text():
    model = StyleModel.from_texts(TWEETS)
    # one word swapped for a likelier one: likelier on average, but one word is no evidence
    one = choose_wording(model, "im so tired today", "im so tired rn")
    assert one.added == ("rn",) and one.removed == ("today",) and one.p_value is None
    assert one.scores["rewrite"] > one.scores["given"] and one.chosen == "given"
    # two words in, two out, as likely as each other: no evidence either way
    even = choose_wording(model, "the weekend was fun and lovely", "the weekend was nice and great")
    assert sorted(even.removed) == ["fun", "lovely"] and sorted(even.added) == ["great", "nice"]
    assert even.p_value == 1.0 and even.chosen == "given"
    # mixed evidence: the rewrite brings in one of the user's words and two they never wrote
    mixed = choose_wording(model, "the show was amazing and wonderful", "the show was so great and cool")
    assert mixed.scores["rewrite"] > mixed.scores["given"]
    assert mixed.p_value is not None and mixed.p_value > 0.05 and mixed.chosen == "given"


def test_the_p_value_is_welchs_one_sided_test():
    from scipy import stats

    model = StyleModel.from_texts(TWEETS + ["lol lol omg so tired"])
    given, rewrite = "I am very tired this weekend friend", "im so tired rn lol omg u"
    choice = choose_wording(model, given, rewrite)
    added = [model.log_prob(w) for w in choice.added]
    removed = [model.log_prob(w) for w in choice.removed]
    expected = stats.ttest_ind(added, removed, equal_var=False, alternative="greater").pvalue
    assert len(set(removed)) > 1 and len(set(added)) > 1  # spread on both sides: scipy's test applies as is
    assert math.isclose(choice.p_value, expected, rel_tol=1e-9)
    assert choice.p_value < 0.05 and choice.chosen == "rewrite"


def test_a_rewrite_that_drops_a_mention_hashtag_or_link_is_not_kept():
    model = StyleModel.from_texts(TWEETS)
    given = "@amy I am so tired at the moment #mondays http://x.co/a"
    full = choose_wording(model, given, "@amy im so tired rn #mondays http://x.co/a")
    assert full.chosen == "rewrite" and full.dropped == ()
    for rewrite, lost in (("im so tired rn #mondays http://x.co/a", ("@amy",)),
                          ("@AMY im so tired rn", ("#mondays", "http://x.co/a"))):  # case does not matter
        choice = choose_wording(model, given, rewrite)
        assert choice.chosen == "given" and choice.dropped == lost
        assert choice.scores["rewrite"] > choice.scores["given"]  # likelier words, yet the handle decides
        assert choice.to_dict()["dropped"] == list(lost)


def test_the_meaning_check_compares_cosines_with_the_given_text_and_the_nearest_earlier_text():
    own = np.array([[0.0, 2.0, 0.0], [1.0, 1.0, 0.0]])  # any scale: cosines, not dot products
    near = check_meaning(np.array([3.0, 0.0, 0.0]), np.array([0.9, 0.1, 0.0]), own, ["a", "b"])
    assert math.isclose(near.to_given, 0.9 / math.hypot(0.9, 0.1))
    assert math.isclose(near.to_nearest_own, 1.0 / math.hypot(0.9, 0.1) / math.sqrt(2)) and near.nearest_own == "b"
    assert near.restates
    tie = check_meaning(np.array([1.0, 0.0, 0.0]), np.array([1.0, 1.0, 0.0]), own[:1], ["a"])
    assert math.isclose(tie.to_given, tie.to_nearest_own) and not tie.restates  # a tie is not a restatement
    alone = check_meaning(np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.zeros((0, 2)), [])
    assert alone.to_nearest_own is None and alone.restates  # nothing else written: nothing nearer
    assert alone.to_dict() == {"to_given": 0.0, "restates": True, "nearest_own": None, "to_nearest_own": None}


def test_a_refusal_in_the_users_words_does_not_restate_the_given_text():
    own = TWEETS + ["sorry i cant make it tonight lol", "im sorry but i cant with that rn"]
    model, embedder = StyleModel.from_texts(own), HashingEmbedder(dim=256)
    given = "I am unable to attend the gathering this evening, my apologies."
    refusal = "I'm sorry, but I can't assist with that."
    assert choose_wording(model, given, refusal).chosen == "rewrite"  # its words alone are the user's
    g, r = embedder.embed([given, refusal])
    meaning = check_meaning(g, r, embedder.embed(own), own)
    assert meaning.nearest_own == "im sorry but i cant with that rn" and meaning.to_nearest_own > meaning.to_given
    choice = choose_wording(model, given, refusal, meaning)
    assert choice.p_value < 0.05 and choice.chosen == "given" and choice.text == given
    assert choice.to_dict()["meaning"]["restates"] is False
