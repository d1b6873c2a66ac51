"""Factor names a person can read: phrases offline, model names checked against the members."""

from __future__ import annotations

import json

import pytest

from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.stages.factors import noise_factor
from core.stages.naming import KeywordNamer, LLMNamer, name_support, phrase_terms, sentiment_words
from core.stages.text import STOP_WORDS
from core.stages.types import Factor, Feature
from core.store.workspace import Workspace
from tests.fakes.openai_server import openai_server, openai_server_session  # noqa: F401


def _factor(fid: str, rows: list[tuple[str, str]], start: int = 0) -> tuple[Factor, list[Feature]]:
    feats = [Feature(f"{fid}i{start + k}#0", f"{fid}i{start + k}", phrase, aspect, "raised", 0.8, phrase)
             for k, (phrase, aspect) in enumerate(rows)]
    return Factor(fid, "", feature_ids=[f.id for f in feats]), feats


def _named(*groups: list[tuple[str, str]]) -> list[Factor]:
    factors, feats = [], {}
    for n, rows in enumerate(groups, 1):
        f, fs = _factor(f"F{n}", rows)
        factors.append(f)
        feats.update({x.id: x for x in fs})
    factors.append(noise_factor())
    return KeywordNamer().name_factors(factors, feats)


def test_phrase_terms_need_a_topical_word_and_content_ends():
    assert set(phrase_terms("they fall in love slowly")) == {"fall in love", "love slowly"}
    assert phrase_terms("really good and great") == ()  # sentiment and stop words only
    assert "meanwhile the" not in phrase_terms("meanwhile the heroine")


def test_offline_names_are_distinctive_phrases_never_single_filler_words():
    factors = _named(
        [("voluntarily leaving a review", "voluntarily"), ("voluntarily leaving a review", "voluntarily"),
         ("received an arc copy", "received"), ("voluntarily leaving a review", "voluntarily")],
        [("fall in love again", "romance"), ("they fall in love", "romance"), ("second chance romance", "romance"),
         ("a second chance at love", "romance")],
        [("meanwhile it was great", "meanwhile"), ("great", "great"), ("meanwhile good", "meanwhile")],
    )
    names = {f.id: f.name for f in factors}
    assert names["F1"] == "Voluntarily leaving"  # "review" is a filler word in reviews: it never ends a phrase
    assert names["F2"].startswith("Romance: ") and ("fall in love" in names["F2"] or "second chance" in names["F2"])
    for name in names.values():  # no name is one stop, filler or sentiment word
        low = name.lower()
        assert " " in low or (low not in STOP_WORDS and low not in sentiment_words() and low != "meanwhile")
    assert names["F3"] == "Meanwhile it was great"  # nothing topical: the members' own phrase, not "Great"


def test_name_support_matches_word_forms_and_ignores_filler():
    fs = [Feature("i#0", "i", "the zipper broke", "durability", "lowered", 1.0, "The zipper broke on day one")]
    assert name_support("Broken zippers", fs) == ["broken", "zippers"]
    assert name_support("Great stuff", fs) == []
    assert name_support("Zeppelin dreams", fs) == []


@pytest.fixture
def client(openai_server, tmp_path):  # noqa: F811
    ws = Workspace(tmp_path / "ws.sqlite")
    yield LLMClient(OpenAIBackend(openai_server.base_url, "sk-test", "fake-model", timeout_s=5.0), ws,
                    backoff_base_s=0.001, timeout_s=5.0), openai_server
    ws.close()


def _zipper_factor() -> tuple[list[Factor], dict[str, Feature]]:
    f, fs = _factor("F1", [("the zipper broke", "durability"), ("zipper broke again", "durability"),
                           ("the zipper broke fast", "durability")])
    return [f, noise_factor()], {x.id: x for x in fs}


def test_an_unsupported_model_name_is_rejected_and_asked_again(client):
    llm, server = client
    prompts: list[str] = []

    def responder(messages, fmt):
        user = messages[-1]["content"]
        prompts.append(user)
        name = "Broken zippers" if "was rejected" in user else "Zeppelin dreams"
        return json.dumps({"name": name, "description": "Zippers that broke."})

    server.responder = responder
    factors, feats = _zipper_factor()
    namer = LLMNamer(llm)
    namer.name_factors(factors, feats)
    assert factors[0].name == "Broken zippers" and factors[0].description == "Zippers that broke."
    assert namer.rejected == {"F1": ["Zeppelin dreams"]}
    assert len(prompts) == 2 and '"Zeppelin dreams" was rejected' in prompts[1]
    assert 'evidence "the zipper broke' in prompts[0]  # evidence is sent, fenced as data


def test_two_unsupported_answers_keep_the_offline_phrase_name(client):
    llm, server = client
    server.responder = lambda messages, fmt: json.dumps({"name": "Zeppelin dreams", "description": "Airships."})
    factors, feats = _zipper_factor()
    offline = KeywordNamer().name_factors(_zipper_factor()[0], feats)[0].name
    namer = LLMNamer(llm)
    namer.name_factors(factors, feats)
    assert factors[0].name == offline and "zipper" in offline.lower()
    assert factors[0].description != "Airships."
    assert namer.rejected == {"F1": ["Zeppelin dreams", "Zeppelin dreams"]}


def test_word_form_index_agrees_with_same_word():
    import random

    from core.stages.naming import has_form, same_word, word_forms

    rng = random.Random(0)
    vocab = ["".join(rng.choice("abc") for _ in range(rng.randint(3, 7))) for _ in range(300)]
    for _ in range(2000):
        doc, w = rng.sample(vocab, 20), rng.choice(vocab)
        assert has_form(w, word_forms(" ".join(doc))) == any(same_word(w, v) for v in doc), (w, doc)
