"""A text task end to end: a model that copies the examples' label leaks no prefix into the scored prediction."""

import re

import pytest

from core.data.model import Dataset, Item, Query, Task, User
from core.evaluate.harness import evaluate
from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.metrics import text_metrics
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from tests.fakes.openai_server import FakeOpenAIServer, default_responder

TASK = Task(kind="text", name="tweet", instruction="Paraphrase the following tweet the way this user writes.")
TWEETS = ["off to the beach with the dog", "rainy monday again, coffee time", "new running shoes feel great",
          "finished my book, what a twist", "cooking pasta for friends tonight", "long drive home, good music"]
LABEL = "The user's response: "


def leaky_responder(messages, fmt):
    """Free-text answer calls get the query back behind the examples' label, as small models do."""
    prompt = messages[-1]["content"]
    if fmt is None and "## Task" in prompt:
        query = re.split(r"\n\s*\n", prompt.rsplit("## Task", 1)[-1].split("Input:", 1)[-1].strip())[0]
        return LABEL + query
    return default_responder(messages, fmt)


def test_prefix_is_stripped_counted_and_kept_in_raw(embedder, tmp_path):
    users = [User(id=u, items=[Item(id=f"{u}{n}", input=t, output=t.upper()) for n, t in enumerate(TWEETS)])
             for u in ("u1", "u2")]
    queries = [Query(id="q1", user_id="u1", input="sunny day at the park", gold="sunny day at the park"),
               Query(id="q2", user_id="u2", input="late night pizza again", gold="late night pizza")]
    ws = Workspace(tmp_path / "ws.sqlite")
    with FakeOpenAIServer(responder=leaky_responder) as server:
        client = LLMClient(OpenAIBackend(server.base_url, "sk-test", "fake-model", free_text_quality="weak"), ws,
                           max_retries=0, timeout_s=10.0)
        result = evaluate(ws, Dataset(name="tweets", task=TASK, users=users), queries, methods=["zero", "bm25"],
                          client=client, embedder=embedder, settings=PipelineSettings(extractor="lexicon"), k=2)
    ws.close()
    for rec, q in zip(result.per_query, queries, strict=True):
        for m in ("zero", "bm25"):
            assert rec["predictions"][m] == q.input  # no "The user's response: " left
            assert rec["raw"][m].startswith(LABEL)
            assert rec["rescued"][m] is True
    expected = text_metrics([q.input for q in queries], [q.gold for q in queries])
    for m in ("zero", "bm25"):
        assert result.methods[m]["rescues"] == 2
        assert result.methods[m]["rouge-1"] == pytest.approx(expected["rouge-1"])
        assert result.methods[m]["lamp"]["rouge-1"] == pytest.approx(expected["rouge-1"])
