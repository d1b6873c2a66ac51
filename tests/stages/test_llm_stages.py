"""The LLM stage implementations against the loopback OpenAI-compatible fake server."""

from __future__ import annotations

import json
import re

import pytest

from core.data.model import Item, Task
from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.stages.features import LLMFeatureExtractor
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings
from core.stages.summary import LLMSummarizer, run_summary
from core.stages.types import Factor, FactorStats
from core.store.workspace import Workspace
from tests.fakes.openai_server import FakeOpenAIServer, openai_server, openai_server_session  # noqa: F401
from tests.stages.conftest import CountingEmbedder, durability_dataset


def _schema_name(fmt):
    return (fmt or {}).get("json_schema", {}).get("name", "")


def item_text(user: str) -> str:
    """Return the item text of a feature prompt (the JSON string after ``Item text: ``)."""
    line = next(x for x in user.splitlines() if x.startswith("Item text: "))
    return json.loads(line[len("Item text: "):])


def scripted(messages, fmt):
    """Answer like a capable model would, per stage."""
    system = messages[0]["content"]
    user = next(m["content"] for m in messages if m["role"] == "user")  # the prompt, also in a repair round trip
    name = _schema_name(fmt)
    if name == "ExtractedFeatures" or "response-influential" in system or "analyse one item" in system:
        text = item_text(user)
        feats = []
        for sentence in re.split(r"(?<=\.)\s+", text):
            low = sentence.lower()
            if "broke" in low or "stopped working" in low or "snapped" in low:
                feats.append({"phrase": sentence.rstrip(".").lower(), "aspect": "durability", "direction": "lowered",
                              "strength": 0.9, "evidence": sentence.rstrip(".")})
            elif any(w in low for w in ("shipping", "value", "easy", "design", "service", "colour", "color")):
                feats.append({"phrase": sentence.rstrip(".").lower()[:40], "aspect": "pleasant extras",
                              "direction": "raised", "strength": 0.4, "evidence": sentence.upper()})
        feats.append({"phrase": "made up", "aspect": "hallucination", "direction": "raised", "strength": 0.5,
                      "evidence": "this sentence is not in the review at all"})
        return json.dumps({"features": feats})
    if name == "FactorName" or "You name groups" in system:
        own = user.split("Distinctive keywords")[0]  # the group's own features, not the contrast
        return json.dumps({"name": "Broken parts" if "broke" in own else "Pleasant extras",
                           "description": "What the features share."})
    if name == "PathOut" or "explain why" in system:
        ids = [json.loads(q) for q in re.findall(r'^- id ("(?:[^"\\]|\\.)*")', user, flags=re.MULTILINE)]
        return json.dumps({"hops": [{"feature_id": ids[0], "direction": "lowered"}] if ids else [],
                           "text": "LLM path"})
    return "Dislikes things that break (LLM summary)."


@pytest.fixture
def llm(openai_server, tmp_path):  # noqa: F811
    openai_server.responder = scripted
    ws = Workspace(tmp_path / "ws.sqlite")
    client = LLMClient(OpenAIBackend(openai_server.base_url, "sk-test", "fake-model", timeout_s=5.0), ws,
                       backoff_base_s=0.001, timeout_s=5.0)
    yield ws, client, openai_server
    ws.close()


def test_llm_extractor_validates_evidence(llm):
    ws, client, _ = llm
    item = Item("i", "Nice colour. The strap broke after a day.", "1")
    out = LLMFeatureExtractor(client).extract([item], Task(kind="score"))["i"]
    assert [f.aspect for f in out] == ["pleasant extras", "durability"]  # the invented evidence is dropped
    assert out[0].evidence == "Nice colour."  # case-insensitive match mapped to the item's own text
    assert out[1].evidence == "The strap broke after a day" and out[1].direction == "lowered"


def test_full_llm_build_then_rebuild_makes_no_model_calls(llm):
    ws, client, server = llm
    ws.add_dataset(durability_dataset(n=30))
    settings = PipelineSettings(hdbscan_min_cluster_size=4)
    p = build_profile(ws, "dura", "ava", client=client, embedder=CountingEmbedder(), settings=settings)
    assert p.settings["extractor_kind"] == "llm" and p.settings["paths_kind"] == "llm"
    feats = p.all_features()
    assert feats and all(f.evidence in p.item(f.item_id).input for f in feats)
    assert not any(f.aspect == "hallucination" for f in feats)
    breakage = next(f for f in p.factors if f.name == "Broken parts")
    assert breakage.stats.influence < -2.0 and breakage.description == "What the features share."
    assert p.summary == "Dislikes things that break (LLM summary)."
    assert ws.latest_summary("dura", "ava")["source"] == "generated"
    broke_item = next(it for it in p.items if "broke" in it.input.lower())
    path = p.paths[broke_item.id]
    assert path.text == "LLM path" and path.steps[0]["factor"] == "Broken parts" and path.consistent
    traces = ws.list_traces(stage="features")
    assert traces and traces[0]["run_id"] == p.run_ids["features"]
    calls = server.chat_calls
    again = build_profile(ws, "dura", "ava", client=client, embedder=CountingEmbedder(), settings=settings)
    assert server.chat_calls == calls
    assert again.run_ids == {**p.run_ids, "profile": again.run_ids["profile"]}


def test_llm_summary_failure_falls_back_to_the_template(llm):
    ws, client, server = llm
    server.add_faults("400")
    items = [Item("a", "t", "1"), Item("b", "t", "5")]
    factors = [Factor("F1", "Breakage", stats=FactorStats(n_items=1, coverage=0.5, influence=-4.0))]
    run_id, text, version = run_summary(ws, "factors-x", factors, items, Task(kind="score"), LLMSummarizer(client),
                                        dataset_id="d", user_id="u")
    assert text.startswith("Rates 3.0 on average") and "Breakage" in text
    assert ws.get_artifact(run_id, "fallback")
    assert ws.latest_summary("d", "u")["note"].startswith("fallback to template")
