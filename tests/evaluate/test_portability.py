"""Portability (POPI): one model writes the summaries, another answers with them."""

import json

import pytest

from core.data.model import split_last
from core.evaluate.harness import evaluate
from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from tests.evaluate.conftest import rating_dataset
from tests.fakes.openai_server import FakeOpenAIServer, default_responder

SETTINGS = PipelineSettings(extractor="lexicon", hdbscan_min_cluster_size=3, umap_neighbors=5)
PORTED = "PORTED: this user punishes anything that breaks."


def source_responder(messages, fmt):
    """The summary model: every free-text call is a summary request."""
    return PORTED if fmt is None else default_responder(messages, fmt)


def target_responder(messages, fmt):
    """The answering model: 1 when the ported summary is in the prompt, else 5."""
    spec = (fmt or {}).get("json_schema") or {}
    if spec.get("name") == "Answer":
        return json.dumps({"answer": "1" if "PORTED" in messages[-1]["content"] else "5"})
    return default_responder(messages, fmt)


@pytest.fixture(scope="module")
def run(tmp_path_factory, embedder):
    ws = Workspace(tmp_path_factory.mktemp("port") / "ws.sqlite")
    history, queries = split_last(rating_dataset(), 0.2)
    with FakeOpenAIServer(responder=source_responder, model="big-model") as src, \
            FakeOpenAIServer(responder=target_responder, model="small-model") as dst:
        source = LLMClient(OpenAIBackend(src.base_url, "sk-test", "big-model", free_text_quality="good"), ws,
                           max_retries=0, timeout_s=10.0)
        target = LLMClient(OpenAIBackend(dst.base_url, "sk-test", "small-model", free_text_quality="weak"), ws,
                           max_retries=0, timeout_s=10.0)
        result = evaluate(ws, history, queries, methods=["zero", "history", "bm25", "summary"], client=target,
                          embedder=embedder, settings=SETTINGS, k=2, summary_client=source)
        summary_calls = len(src.calls())
    yield result, ws, summary_calls
    ws.close()


def test_the_answering_model_uses_the_summary_the_other_model_wrote(run):
    result, _, summary_calls = run
    assert summary_calls == 2  # one summary per user, written by the source model
    assert all(r["predictions"]["summary"] == "1" for r in result.per_query)
    assert all(r["predictions"]["zero"] == "5" and r["predictions"]["history"] == "5" for r in result.per_query)
    port = result.portability
    assert port["users"] == 2 and set(port["summaries"].values()) == {PORTED}
    assert port["source"]["model"] == "big-model" and result.backend["model"] == "small-model"
    assert port["summary_tokens_mean"] < port["history_tokens_mean"] and 0 < port["ratio_mean"] < 1


def test_prompt_tokens_summary_against_full_history_and_bm25(run):
    result, _, _ = run
    toks = {m: result.methods[m]["prompt_tokens_mean"] for m in ("zero", "history", "bm25", "summary")}
    assert toks["zero"] < toks["summary"] < toks["history"]
    assert toks["bm25"] < toks["history"]


def test_the_ported_summary_is_not_stored_as_the_users_summary(run):
    result, ws, _ = run
    for uid in ("ava", "ben"):
        texts = [v["text"] for v in ws.list_summary_versions(result.dataset_id, uid)]
        assert texts and PORTED not in texts
