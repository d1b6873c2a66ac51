"""``bm25-lamp``'s retrieval against BM25 worked out by hand, with LaMP's tokenisation and fields."""

import math

import pytest

from core.data.model import Item, Task
from core.stages.lamp_retrieval import LAMP_K, LampBM25Retriever, corpus_text, query_text
from core.stages.retrieval import BM25Retriever

ITEMS = [Item(id="d1", input="The handle Broke .", output="1"),
         Item(id="d2", input="the handle broke fast", output="2"),
         Item(id="d3", input="great value", output="5")]


def test_scores_match_okapi_by_hand():
    # str.split() tokens: d1 [The, handle, Broke, .], d2 [the, handle, broke, fast], d3 [great, value];
    # N = 3, avgdl = 10/3. Query "Broke handle" -> [Broke, handle] (case kept: "broke" is another term).
    # idf = ln((N - df + 0.5) / (df + 0.5)): df 1 -> ln(2.5/1.5); "handle" (df 2) -> ln(0.6) < 0, which
    # BM25Okapi replaces by epsilon * mean idf = 0.25 * (8 ln(5/3) + ln 0.6) / 9 over the 9 corpus terms.
    idf1 = math.log(2.5 / 1.5)
    idf_handle = 0.25 * (8 * idf1 + math.log(0.6)) / 9
    # tf 1 in a 4-token document: (k1 + 1) / (1 + k1 (1 - b + b * 4 / avgdl)), k1 = 1.5, b = 0.75
    tf4 = 2.5 / (1 + 1.5 * (0.25 + 0.75 * 4 / (10 / 3)))
    expected = [idf1 * tf4 + idf_handle * tf4, idf_handle * tf4, 0.0]
    r = LampBM25Retriever(ITEMS, Task(kind="score", name="LaMP_3"))
    assert list(r.scores("Broke handle")) == pytest.approx(expected, abs=1e-9)
    assert [d.id for d in r.retrieve("Broke handle", 3)] == ["d1", "d2", "d3"]
    assert [d.id for d in r.retrieve("Broke handle")] == ["d1"] and LAMP_K == 1  # LaMP's default k
    # case is kept: the lower-case query finds d2's "broke" instead; Inflow's lowercasing bm25 finds both
    assert r.retrieve("broke handle")[0].id == "d2"
    assert {d.id for d in BM25Retriever(ITEMS).retrieve("Broke handle", 2)} == {"d1", "d2"}


def test_title_fields_are_indexed_for_lamp_4_and_the_input_only_elsewhere():
    items = [Item(id="a", input="markets fell today", output="Stocks Slide"),
             Item(id="b", input="Stocks were flat", output="Quiet day"),
             Item(id="c", input="rain all week", output="Wet days")]  # with 2 items a df-1 term has idf ln(1) = 0
    lamp4 = Task(kind="text", name="LaMP_4")
    assert corpus_text(items[0], lamp4) == "Stocks Slide markets fell today"
    assert corpus_text(items[0], Task(kind="text", name="LaMP_7")) == "markets fell today"
    # "Slide" occurs only in a's title: LaMP-4 finds a; indexed without titles (LaMP-7 fields) nothing matches
    assert LampBM25Retriever(items, lamp4).retrieve("Slide", 1)[0].id == "a"
    assert list(LampBM25Retriever(items, Task(kind="text", name="LaMP_7")).scores("Slide")) == [0.0, 0.0, 0.0]


def test_lamp_1_queries_with_the_two_reference_titles():
    q = 'For an author who has written the paper with the title "A", which reference is related? ' \
        'Just answer with [1] or [2] without explanation. [1]: "Deep nets" [2]: "Graph cuts"'
    assert query_text(q, Task(kind="label", name="LaMP_1")) == "Deep nets Graph cuts"
    assert query_text(q, Task(kind="label", name="LaMP_2")) == q


def test_empty_history_retrieves_nothing():
    assert LampBM25Retriever([], Task(kind="score")).retrieve("x", 1) == []
