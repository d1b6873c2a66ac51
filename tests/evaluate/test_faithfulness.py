"""Faithfulness over a dataset, with a loopback model whose answer depends on one kind of evidence only."""

import json
import math

import pytest

from core.data.model import split_last
from core.evaluate.faithfulness import KINDS, faithfulness_rows, format_faithfulness
from core.evaluate.harness import evaluate
from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from core.viz.faithfulness import faithfulness_figure
from tests.evaluate.conftest import rating_dataset
from tests.fakes.openai_server import FakeOpenAIServer, default_responder

SETTINGS = PipelineSettings(extractor="lexicon", hdbscan_min_cluster_size=3, umap_neighbors=5)


def examples_responder(messages, fmt):
    """Score answers are 1 when the prompt shows retrieved examples, else 4: only the items matter."""
    spec = (fmt or {}).get("json_schema") or {}
    if spec.get("name") == "Answer":
        return json.dumps({"answer": "1" if "Example 1" in messages[-1]["content"] else "4"})
    return default_responder(messages, fmt)


@pytest.fixture(scope="module")
def result(tmp_path_factory, embedder):
    ws = Workspace(tmp_path_factory.mktemp("faith") / "ws.sqlite")
    history, queries = split_last(rating_dataset(), 0.2)
    with FakeOpenAIServer(responder=examples_responder) as server:
        client = LLMClient(OpenAIBackend(server.base_url, "sk-test", "fake-model", free_text_quality="weak"), ws,
                           max_retries=0, timeout_s=10.0)
        out = evaluate(ws, history, queries, methods=["zero", "bm25", "summary"], client=client,
                       embedder=embedder, settings=SETTINGS, k=3, faithfulness=True, baselines=False)
    ws.close()
    return out


def test_retrieved_items_are_comprehensive_and_sufficient_for_bm25(result):
    items = result.faithfulness["bm25"]["items"]
    assert items["n"] == 4 and items["not_used"] == 0
    assert items["moved"] == 1.0 and items["shift"] == pytest.approx(3.0)  # 1 with examples, 4 without
    assert items["kept_same"] == 1.0 and items["kept_distance"] == 0.0
    for kind in ("factor", "summary"):  # bm25 shows neither: nothing to measure
        agg = result.faithfulness["bm25"][kind]
        assert agg["n"] == 0 and agg["not_used"] == 4 and math.isnan(agg["moved"])


def test_summary_is_used_but_does_not_move_an_examples_only_model(result):
    summ = result.faithfulness["summary"]["summary"]
    assert summ["n"] == 4 and summ["moved"] == 0.0 and summ["kept_same"] == 1.0
    assert result.faithfulness["summary"]["items"]["n"] == 0


def test_zero_shows_no_evidence(result):
    assert all(result.faithfulness["zero"][k]["n"] == 0 for k in KINDS)
    rec = result.per_query[0]["faithfulness"]["bm25"]
    assert [r["kind"] for r in rec] == list(KINDS)
    assert isinstance(rec[1]["target"], list) and len(rec[1]["target"]) == 3


def test_table_and_figure(result):
    rows = faithfulness_rows(result)
    assert len(rows) == 3 * len(KINDS)
    bm25_items = next(r for r in rows if r["method"] == "bm25" and r["removed"] == "items")
    assert bm25_items["moved"] == 1.0 and bm25_items["not used"] == 0
    assert "kept_same" in format_faithfulness(result)
    data = faithfulness_figure(result.faithfulness).to_dict()["data"]
    names = [t["name"] for t in data]
    assert names == [f"{k}: {m}" for k in ("top factor", "retrieved items", "summary")
                     for m in ("removed", "kept alone")]
    items_removed = data[names.index("retrieved items: removed")]
    assert list(items_removed["x"]) == ["bm25"] and list(items_removed["y"]) == [1.0]
