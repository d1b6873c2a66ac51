from collections import Counter

import pytest

from core.data.model import Item, Task
from core.evaluate.baselines import (
    UserBaselines,
    format_score,
    global_majority,
    knn_label,
    knn_score,
    knn_text,
    user_majority,
    user_mean,
)
from core.stages.retrieval import BM25Retriever
from core.stages.types import RetrievedDoc

SCORE = Task(kind="score")
LABEL = Task(kind="label", labels=("comedy", "drama", "horror"))


def doc(i: str, output: str, score: float) -> RetrievedDoc:
    return RetrievedDoc(id=i, text="", output=output, score=score)


def items(outputs: list[str], texts: list[str] | None = None) -> list[Item]:
    texts = texts or [f"text {n}" for n in range(len(outputs))]
    return [Item(id=f"i{n}", input=t, output=o) for n, (o, t) in enumerate(zip(outputs, texts, strict=True))]


def test_user_statistics():
    assert user_mean(items(["5", "4", "2", "x"]), SCORE) == format_score(11 / 3) == "3.6667"
    assert user_mean(items(["x"]), SCORE) is None
    assert user_majority(items(["drama", "comedy", "drama"]), LABEL) == "drama"
    # global majority over all users' histories, "5.0" counted as "5"
    assert global_majority([items(["5", "4"]), items(["5.0", "4", "5"])], SCORE) == "5"
    assert global_majority([[]], SCORE) is None


def test_knn_score_similarity_weighted():
    docs = [doc("a", "5", 3.0), doc("b", "1", 1.0), doc("c", "4", -2.0)]  # negative weight clipped to 0
    assert float(knn_score(docs, SCORE)) == pytest.approx((3 * 5 + 1 * 1) / 4)
    # all weights zero -> plain mean
    assert float(knn_score([doc("a", "5", 0.0), doc("b", "2", 0.0)], SCORE)) == pytest.approx(3.5)
    assert knn_score([doc("a", "n/a", 1.0)], SCORE) is None


def test_knn_label_weighted_vote_and_ties():
    docs = [doc("a", "drama", 0.9), doc("b", "comedy", 0.5), doc("c", "comedy", 0.5)]
    assert knn_label(docs, LABEL) == "comedy"  # 0.5 + 0.5 outweighs 0.9
    assert knn_label([doc("a", "drama", 2.0), doc("b", "comedy", 0.5)], LABEL) == "drama"
    # equal weight: more retrieved items wins
    assert knn_label([doc("a", "drama", 1.0), doc("b", "comedy", 0.5), doc("c", "comedy", 0.5)], LABEL) == "comedy"
    # equal weight and count: the user's more frequent label wins
    tie = [doc("a", "drama", 1.0), doc("b", "horror", 1.0)]
    assert knn_label(tie, LABEL, Counter({"horror": 3, "drama": 1})) == "horror"
    assert knn_label(tie, LABEL) == "drama"  # then the first seen
    assert knn_label([], LABEL) is None
    assert knn_text([doc("a", " best title ", 1.0)]) == "best title"


def test_user_baselines_with_bm25_retrieval():
    hist = items(["1", "2", "5", "5"], ["battery died fast", "battery weak and died", "lovely bright screen",
                                        "great screen colours"])
    base = UserBaselines(SCORE, hist, "4", {"bm25": BM25Retriever(hist)}, k=2)
    out = base.predict("the battery died again")
    assert out["majority"]["prediction"] == "4"
    assert out["user-mean"]["prediction"] == "3.25"
    assert set(out["knn-bm25"]["docs"]) == {"i0", "i1"}
    assert 1.0 <= float(out["knn-bm25"]["prediction"]) <= 2.0
    assert "knn-feature" not in out  # no feature retriever given


def test_user_baselines_labels_fallback_when_nothing_retrieved():
    hist = items(["drama", "drama", "comedy"])
    base = UserBaselines(LABEL, hist, "comedy", {"bm25": BM25Retriever(hist)}, k=0)
    out = base.predict("anything")
    assert out["user-majority"]["prediction"] == "drama"
    assert out["knn-bm25"]["prediction"] == "drama" and out["knn-bm25"]["docs"] == []


def test_text_tasks_get_the_query_copied_as_a_baseline():
    text = Task(kind="text", name="tweet", instruction="Paraphrase the tweet:")
    hist = items(["my phone died lol", "cant wait 4 the weekend"], ["my phone died lol", "cant wait 4 the weekend"])
    out = UserBaselines(text, hist, None, {"bm25": BM25Retriever(hist)}, k=1).predict("  My phone has died.  ")
    assert out["copy-input"] == {"prediction": "My phone has died.", "docs": []}
    assert out["knn-bm25"]["prediction"] == "my phone died lol"
    assert "copy-input" not in UserBaselines(SCORE, items(["1", "5"]), "4", {}, k=1).predict("the battery died")
