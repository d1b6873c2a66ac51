from __future__ import annotations

from core.data.model import Item
from core.stages.lexicon import LexiconFeatureExtractor
from core.stages.retrieval import BM25Retriever, FeatureRetriever, Retriever, profile_retriever


def test_feature_retrieval_ranks_the_matching_breakage_review_first(built):
    p = built.profile
    r = FeatureRetriever(p, LexiconFeatureExtractor(), built.embedder)
    assert isinstance(r, Retriever)
    docs = r.retrieve("The zipper broke on the second trip, what a shame.", k=3)
    assert len(docs) == 3
    top = docs[0]
    assert "zipper broke on the second trip" in top.text.lower()
    assert top.score >= docs[1].score >= docs[2].score
    assert top.matched and {"query", "item", "similarity", "factor"} <= set(top.matched[0])
    assert top.matched[0]["similarity"] > 0.9
    assert top.matched[0]["factor"] == p.factors[0].name
    assert top.path == p.paths[top.id].text
    assert r.last_query_features and r.last_query_features[0].direction == "lowered"
    # breakage queries retrieve breakage reviews (rated 1-2)
    assert all(d.output in ("1", "2") for d in docs)


def test_influence_weighting_prefers_items_in_influential_factors(built):
    p = built.profile
    r = FeatureRetriever(p, LexiconFeatureExtractor(), built.embedder, floor=0.3)
    weights = dict(zip([f.id for f in p.all_features()], r._weights, strict=True))
    strongest = p.factors[0].feature_ids[0]
    assert weights[strongest] == max(weights.values()) == 1.0
    assert min(weights.values()) >= 0.3


def test_query_without_features_falls_back_to_its_text(built):
    r = profile_retriever(built.profile, client=None, embedder=built.embedder, ws=built.ws)
    docs = r.retrieve("Tuesday", k=2)
    assert len(docs) == 2 and r.last_query_features[0].aspect == "query"
    assert r.retrieve("", k=2) == []


def test_bm25_over_raw_text():
    items = [Item("a", "fast shipping and great price", "5"), Item("b", "the zipper broke", "1"),
             Item("c", "lovely colour", "4")]
    docs = BM25Retriever(items).retrieve("zipper broke again", k=2)
    assert [d.id for d in docs] == ["b", "a"]
    assert docs[0].score > 0 and docs[0].matched == [] and docs[0].output == "1"
    assert BM25Retriever([]).retrieve("x", 3) == []
