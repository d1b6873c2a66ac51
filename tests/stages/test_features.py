from __future__ import annotations

import pytest

from core.data.model import Dataset, Item, Task, User
from core.errors import InputError
from core.stages.features import (
    LLMFeatureExtractor,
    choose_extractor,
    load_features,
    run_features,
    validate_features,
)
from core.stages.lexicon import LexiconFeatureExtractor
from core.stages.text import clauses, locate_evidence
from core.store.workspace import Workspace

SCORE = Task(kind="score")


def test_clauses_keep_exact_offsets():
    text = "The strap broke after two days, but shipping was fast. Love the colour!\nWould buy again"
    spans = clauses(text)
    assert [s.text for s in spans] == ["The strap broke after two days", "shipping was fast", "Love the colour",
                                       "Would buy again"]
    for s in spans:
        assert text[s.start:s.end] == s.text


def test_locate_evidence_exact_case_whitespace_fuzzy_and_missing():
    src = "The battery  died after a week. Otherwise fine."
    assert locate_evidence("battery  died", src) == "battery  died"
    assert locate_evidence("THE BATTERY", src) == "The battery"
    assert locate_evidence("battery died after", src) == "battery  died after"
    # A model paraphrased the tail: trimmed to the part actually in the item.
    assert locate_evidence("died after a week, sadly so", src) == "died after a week"
    assert locate_evidence("the screen cracked", src) is None


def test_lexicon_extracts_durability_lowered_with_evidence_spans():
    item = Item("i1", "I bought it for camping. The zipper broke after two weeks. Shipping was fast!", "1")
    feats = LexiconFeatureExtractor().extract([item], SCORE)["i1"]
    by_aspect = {f.aspect: f for f in feats}
    # lowered aspect-lexicon features are named as problems, so they cluster apart from praise
    assert by_aspect["durability problems"].direction == "lowered"
    assert "zipper broke" in by_aspect["durability problems"].phrase
    assert by_aspect["shipping"].direction == "raised"
    for k, f in enumerate(feats):
        assert f.id == f"i1#{k}"
        assert f.evidence in item.input
        assert 0.0 <= f.strength <= 1.0


def test_lexicon_domain_phrases_negation_and_other_products():
    fx = LexiconFeatureExtractor()
    feats = fx.extract_one(Item("a", "It has been going strong for a year. Nothing has loosened or worn out.", "5"),
                           SCORE)
    assert [(f.aspect, f.direction) for f in feats] == [("durability", "raised"), ("durability", "raised")]
    other = fx.extract_one(Item("b", "The hinge is sturdier than on my last one, which broke within a year.", "5"),
                           SCORE)
    assert [(f.aspect, f.direction) for f in other] == [("durability", "raised")]
    assert fx.sentiment("it gave out after a week") < 0 < fx.sentiment("made to last")


def test_lexicon_label_direction_is_item_label_and_query_uses_sentiment():
    task = Task(kind="label", labels=("positive", "negative"))
    fx = LexiconFeatureExtractor()
    labelled = fx.extract([Item("a", "The plot twist was brilliant.", "positive")], task)["a"]
    assert labelled and all(f.direction == "positive" for f in labelled)
    query = fx.extract([Item("q", "The plot twist was brilliant.", "")], task)["q"]
    assert query and query[0].direction == "raised"


def test_lexicon_is_deterministic_and_skips_bland_text():
    fx = LexiconFeatureExtractor()
    item = Item("x", "It is a thing. We got it on Tuesday.", "3")
    assert fx.extract([item], SCORE)["x"] == []
    a = LexiconFeatureExtractor().extract([Item("y", "Great price, terrible battery life.", "3")], SCORE)
    b = LexiconFeatureExtractor().extract([Item("y", "Great price, terrible battery life.", "3")], SCORE)
    assert a == b


def test_validate_features_drops_unfound_evidence_and_clamps():
    item = Item("i", "The hinge cracked on day two. Great price though.", "2")
    raw = [
        {"phrase": "hinge cracked", "aspect": "Durability", "direction": "lowered", "strength": 1.7,
         "evidence": "hinge cracked on day two"},
        {"phrase": "invented", "aspect": "x", "direction": "raised", "strength": 0.5, "evidence": "not in the item"},
        {"phrase": "great price", "aspect": "price", "direction": "sideways", "strength": -1,
         "evidence": "GREAT PRICE"},
    ]
    out = validate_features(item, raw, SCORE)
    assert [f.phrase for f in out] == ["hinge cracked", "great price"]
    assert out[0].aspect == "durability" and out[0].strength == 1.0
    assert out[1].direction == "neutral" and out[1].strength == 0.0 and out[1].evidence == "Great price"
    assert [f.id for f in out] == ["i#0", "i#1"]


class _Caps:
    def __init__(self, weak: bool, structured: bool = True) -> None:
        self.is_weak = weak
        self.structured_output = structured
        self.backend = "x"
        self.model = "m"


class _Client:
    def __init__(self, weak: bool) -> None:
        self.capabilities = _Caps(weak)


def test_choose_extractor_follows_capabilities_and_choice():
    assert isinstance(choose_extractor(None), LexiconFeatureExtractor)
    assert isinstance(choose_extractor(_Client(weak=True)), LexiconFeatureExtractor)
    assert isinstance(choose_extractor(_Client(weak=False)), LLMFeatureExtractor)
    assert isinstance(choose_extractor(_Client(weak=False), "lexicon"), LexiconFeatureExtractor)
    assert isinstance(choose_extractor(_Client(weak=True), "llm"), LLMFeatureExtractor)
    with pytest.raises(InputError):
        choose_extractor(None, "llm")
    with pytest.raises(InputError):
        choose_extractor(None, "magic")


class _Flaky(LexiconFeatureExtractor):
    """Lexicon extractor that dies after ``fail_after`` items (a crash mid-stage)."""

    def __init__(self, fail_after: int | None) -> None:
        super().__init__()
        self.fail_after = fail_after
        self.seen: list[str] = []

    def extract(self, items, task, progress=None, *, run_id=None):
        out = {}
        for it in items:
            if self.fail_after is not None and len(self.seen) >= self.fail_after:
                raise KeyboardInterrupt
            self.seen.append(it.id)
            out[it.id] = self.extract_one(it, task)
        return out


def test_run_features_resumes_after_a_crash_and_reuses_when_done(tmp_path):
    items = [Item(f"i{k}", f"The lid broke after {k + 2} days. Fast shipping.", "2") for k in range(10)]
    ws = Workspace(tmp_path / "ws.sqlite")
    ws.add_dataset(Dataset("d", SCORE, [User("u", items)]))
    crashing = _Flaky(fail_after=5)
    with pytest.raises(KeyboardInterrupt):
        run_features(ws, "d", "u", crashing, chunk=2)
    (run,) = ws.list_runs("features", dataset_id="d", user_id="u")
    assert run.status == "cancelled"  # the run protocol: an interrupt cancels
    assert len(load_features(ws, run.id)) == 4  # two whole chunks stored; the chunk in flight lost
    resumed = _Flaky(fail_after=None)
    run_id, feats = run_features(ws, "d", "u", resumed, chunk=2)
    assert run_id == run.id
    assert resumed.seen == [f"i{k}" for k in range(4, 10)]
    assert ws.get_run(run_id).status == "done"
    assert set(feats) == {it.id for it in items} and all(feats[it.id] for it in items)
    again = _Flaky(fail_after=0)
    assert run_features(ws, "d", "u", again)[0] == run_id  # finished run reused, nothing extracted
    ws.close()


def test_label_tasks_without_a_label_set_use_the_labels_seen():
    from core.stages.features import directions_for, feature_schema, task_with_labels

    items = [Item("a", "x", "comedy"), Item("b", "y", "action"), Item("c", "z", "")]
    task = task_with_labels(Task(kind="label"), items)
    assert task.labels == ("action", "comedy")
    assert directions_for(task) == ("action", "comedy", "neutral")
    assert task_with_labels(SCORE, items) is SCORE
    schema = feature_schema(directions_for(task)).model_json_schema()
    assert "comedy" in str(schema)
