"""Cross-model portability: every writer's summary used by every answering model, on the same queries."""

import json

import pytest

from core.data.model import split_last
from core.evaluate.cross_model import TEMPLATE_SOURCE, cross_model_evaluate, system_name
from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from tests.evaluate.conftest import rating_dataset
from tests.fakes.openai_server import FakeOpenAIServer, default_responder

SETTINGS = PipelineSettings(extractor="lexicon", namer="keywords", summarizer="template", paths="template",
                            hdbscan_min_cluster_size=3, umap_neighbors=5)
# What each answering model says depends only on whose summary it was shown, so every cell is known.
BY_SUMMARY = {"SMALL-WROTE": "2", "BIG-WROTE": "1"}


def responder(own: str, *, empty_summary: bool = False):
    def respond(messages, fmt):
        if fmt is None:  # a free-text call: the summary request
            return "" if empty_summary else f"{own}-WROTE: this user punishes anything that breaks."
        spec = (fmt or {}).get("json_schema") or {}
        if spec.get("name") == "Answer":
            prompt = messages[-1]["content"]
            return json.dumps({"answer": next((v for k, v in BY_SUMMARY.items() if k in prompt), "5")})
        return default_responder(messages, fmt)

    return respond


def client(server, ws, model):
    return LLMClient(OpenAIBackend(server.base_url, "sk-test", model, free_text_quality="weak"), ws, max_retries=0,
                     timeout_s=10.0)


def run_grid(tmp_path, embedder, *, big_fails=False, cancel_after=None):
    ws = Workspace(tmp_path / "ws.sqlite")
    history, queries = split_last(rating_dataset(), 0.2)
    with FakeOpenAIServer(responder=responder("SMALL"), model="small") as s, \
            FakeOpenAIServer(responder=responder("BIG", empty_summary=big_fails), model="big") as b:
        clients = {"small": client(s, ws, "small"), "big": client(b, ws, "big")}
        done = []
        result = cross_model_evaluate(
            ws, history, queries, answerers=clients, writers=clients, embedder=embedder, settings=SETTINGS, k=2,
            progress=lambda d, n: done.append(d),
            cancel=(lambda: len(done) >= cancel_after) if cancel_after is not None else None)
        summary_calls = {"small": sum(1 for c in s.calls() if not c["body"].get("response_format")),
                         "big": sum(1 for c in b.calls() if not c["body"].get("response_format"))}
    ws.close()
    return result, summary_calls


@pytest.fixture(scope="module")
def grid(tmp_path_factory, embedder):
    return run_grid(tmp_path_factory.mktemp("grid"), embedder)


def test_each_answerer_uses_its_own_and_the_other_models_summary(grid):
    result, summary_calls = grid
    assert summary_calls == {"small": 2, "big": 2}  # each writer writes each of the 2 users' summary once
    for r in result["per_query"]:
        p = r["predictions"]
        for a in ("small", "big"):
            assert p[system_name(a, "summary", "big")] == "1"
            assert p[system_name(a, "summary", "small")] == "2"
            assert p[system_name(a, "summary", TEMPLATE_SOURCE)] == "5"
            assert p[system_name(a, "zero")] == p[system_name(a, "history")] == p[system_name(a, "bm25")] == "5"
    for w in ("small", "big"):
        texts = {i["text"] for i in result["writers"][w]["summaries"].values()}
        assert texts == {f"{w.upper()}-WROTE: this user punishes anything that breaks."}
        assert result["writers"][w]["backend"]["model"] == w and not result["writers"][w]["failures"]


def test_every_system_is_scored_on_the_same_queries_with_tokens(grid):
    result, _ = grid
    assert result["n"] == result["n_planned"] == len(result["per_query"]) > 0
    assert {m["n"] for m in result["methods"].values()} == {result["n"]}
    assert {m["n"] for m in result["baselines"].values()} == {result["n"]}
    assert len(result["systems"]) == 2 * 6
    for a in ("small", "big"):
        toks = {m: result["methods"][system_name(a, m)]["prompt_tokens_mean"] for m in ("zero", "history", "bm25")}
        ported = result["methods"][system_name(a, "summary", "big")]["prompt_tokens_mean"]
        assert toks["zero"] < ported < toks["history"]
    gold_err = {r["id"]: abs(1 - float(r["gold"])) for r in result["per_query"]}
    expected = sum(gold_err.values()) / len(gold_err)
    assert result["methods"][system_name("small", "summary", "big")]["mae"] == pytest.approx(expected)


def test_a_stopped_run_keeps_the_same_queries_for_every_system(tmp_path, embedder):
    result, _ = run_grid(tmp_path, embedder, cancel_after=1)
    assert result["cancelled"] and result["n"] == 1 < result["n_planned"]
    assert {m["n"] for m in result["methods"].values()} == {1}


def test_a_writer_that_writes_nothing_is_an_error_not_a_silent_fallback(tmp_path, embedder):
    result, _ = run_grid(tmp_path, embedder, big_fails=True)
    assert set(result["writers"]["big"]["failures"]) == {"ava", "ben"}
    for a in ("small", "big"):
        m = result["methods"][system_name(a, "summary", "big")]
        assert m["errors"] == result["n"] > 0
        assert result["methods"][system_name(a, "summary", "small")]["errors"] == 0
    assert all(r["predictions"][system_name("small", "summary", "big")] == "" for r in result["per_query"])
