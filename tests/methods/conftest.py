"""Fixtures for the answering-method tests: a small fixed profile and a scripted loopback model."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from core.data.model import Item, Task
from core.embed.hashing import HashingEmbedder
from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.methods.context import AnswerContext
from core.stages.paths import render
from core.stages.profile import Profile
from core.stages.types import Factor, FactorStats, Feature, ReasoningPath
from core.store.workspace import Workspace
from tests.fakes.openai_server import FakeOpenAIServer, default_responder

SCORE_TASK = Task(kind="score", name="phone_rating", instruction="What score from 1 to 5 would this user give?")

ITEMS = [
    ("i1", "The battery died after two days and the charger broke.", "1"),
    ("i2", "Battery drains fast, I had to charge it twice a day.", "2"),
    ("i3", "Gorgeous bright screen, colours pop.", "5"),
    ("i4", "The display is sharp and vivid, a lovely screen.", "4"),
    ("i5", "Shipping box was blue and arrived on Monday.", "3"),
    ("i6", "Battery is weak and the case cracked.", "2"),
]

# (feature id, phrase, aspect, direction, strength, evidence, factor id)
FEATURES = [
    ("i1#0", "battery died", "battery", "lowered", 0.9, "battery died", "F1"),
    ("i2#0", "battery drains fast", "battery", "lowered", 0.8, "Battery drains fast", "F1"),
    ("i3#0", "bright screen", "screen", "raised", 0.9, "bright screen", "F2"),
    ("i4#0", "sharp display", "screen", "raised", 0.8, "display is sharp", "F2"),
    ("i5#0", "blue shipping box", "shipping", "neutral", 0.3, "Shipping box was blue", "noise"),
    ("i6#0", "battery is weak", "battery", "lowered", 0.7, "Battery is weak", "F1"),
    ("i6#1", "case cracked", "build", "lowered", 0.5, "case cracked", "F3"),
]

SUMMARY = ("This user punishes poor Battery life harshly. They reward a bright, sharp Screen quality. "
           "Shipping details do not matter to them.")


def make_profile(task: Task = SCORE_TASK, embedder: Any | None = None,
                 outputs: dict[str, str] | None = None) -> Profile:
    """A six-item phone-review profile with three factors and an Unclustered group."""
    embedder = embedder or HashingEmbedder(dim=256)
    outputs = outputs or {}
    items = [Item(id=i, input=text, output=outputs.get(i, out)) for i, text, out in ITEMS]
    features: dict[str, list[Feature]] = {it.id: [] for it in items}
    assignments: dict[str, str] = {}
    for fid, phrase, aspect, direction, strength, evidence, factor_id in FEATURES:
        item_id = fid.split("#")[0]
        features[item_id].append(Feature(id=fid, item_id=item_id, phrase=phrase, aspect=aspect, direction=direction,
                                         strength=strength, evidence=evidence))
        assignments[fid] = factor_id
    stats = {
        "F1": FactorStats(n_features=3, n_items=3, coverage=0.5, influence=-2.33, ci_low=-3.1, ci_high=-1.5,
                          mean_with=1.67, mean_without=4.0, polarity=-1.0, consistency=1.0),
        "F2": FactorStats(n_features=2, n_items=2, coverage=0.33, influence=2.25, ci_low=1.2, ci_high=3.3,
                          mean_with=4.5, mean_without=2.25, polarity=1.0, consistency=1.0),
        "F3": FactorStats(n_features=1, n_items=1, coverage=0.17, influence=-1.0, ci_low=-2.5, ci_high=0.5,
                          mean_with=2.0, mean_without=3.0, polarity=-1.0, consistency=1.0),
        "noise": FactorStats(n_features=1, n_items=1, coverage=0.17),
    }
    if task.kind == "label":
        stats["F1"] = FactorStats(n_features=3, n_items=3, coverage=0.5, lift={"negative": 2.0}, mutual_info=0.35,
                                  top_label="negative", polarity=-1.0, consistency=1.0)
        stats["F2"] = FactorStats(n_features=2, n_items=2, coverage=0.33, lift={"positive": 3.0}, mutual_info=0.3,
                                  top_label="positive", polarity=1.0, consistency=1.0)
    names = {"F1": ("Battery life", "battery drains or dies quickly", ["battery", "drains"]),
             "F2": ("Screen quality", "bright, sharp displays", ["screen", "display"]),
             "F3": ("Build", "fragile or cracked cases", ["case", "cracked"]),
             "noise": ("Unclustered", "", [])}
    by_factor: dict[str, list[str]] = {}
    for fid, fac in assignments.items():
        by_factor.setdefault(fac, []).append(fid)
    all_feats = {f.id: f for fs in features.values() for f in fs}
    factors = []
    for fac_id, (name, desc, kws) in names.items():
        vecs = embedder.embed([all_feats[f].text for f in by_factor[fac_id]])
        centroid = vecs.mean(axis=0)
        centroid = (centroid / np.linalg.norm(centroid)).tolist()
        factors.append(Factor(id=fac_id, name=name, description=desc, feature_ids=by_factor[fac_id], keywords=kws,
                              stats=stats[fac_id], centroid=centroid))
    factor_by_id = {f.id: f for f in factors}
    paths = {}
    for it in items:
        steps = []
        for feat in features[it.id]:
            fac = factor_by_id[assignments[feat.id]]
            if fac.is_noise:
                continue
            infl = fac.stats.influence
            hop = f"{fac.name} (influence {infl:+.1f} stars)" if infl is not None else fac.name
            steps.append({"feature": feat.phrase, "feature_id": feat.id, "direction": feat.direction,
                          "factor_id": fac.id, "factor": fac.name, "influence": infl, "hop": hop})
        response = f"rated {it.output}" if task.kind == "score" else f"labelled {it.output}"
        paths[it.id] = ReasoningPath(item_id=it.id, steps=steps, response=response, text=render(steps, response))
    return Profile(dataset_id="phones", user_id="u1", task=task, items=items, features=features, factors=factors,
                   assignments=assignments, coords2d={}, summary=SUMMARY, summary_version=3, paths=paths,
                   run_ids={}, settings={"extractor_kind": "lexicon", "embedder_name": embedder.name})


Responder = Callable[[str, dict[str, Any] | None], str]


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def unfence(prompt: str) -> str:
    """Return a prompt with its JSON-fenced data decoded, i.e. as it read before fencing.

    Tests about what a prompt says read it this way; the fencing itself is tested in
    ``test_prompt_fencing.py``.
    """
    return _JSON_STRING.sub(lambda m: json.loads(m.group(0)), prompt)


class ScriptedModel:
    """A loopback OpenAI-compatible server whose answer calls are scripted by the test.

    ``script(prompt, response_format) -> completion`` answers every request whose structured schema
    is the answer schema, or which carries no schema (free-text answers); other structured calls get
    the fake server's default valid instance. Prompts reach the script, and :attr:`prompts`, with
    their fenced data decoded (:func:`unfence`).
    """

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server = server
        self.script: Responder = lambda prompt, fmt: json.dumps({"answer": "3"})
        self.prompts: list[str] = []
        server.responder = self._respond

    def _respond(self, messages: list[dict[str, Any]], fmt: dict[str, Any] | None) -> str:
        name = ((fmt or {}).get("json_schema") or {}).get("name")
        if fmt is None or name == "Answer":
            prompt = unfence(next(m["content"] for m in reversed(messages) if m["role"] == "user"))
            self.prompts.append(prompt)
            return self.script(prompt, fmt)
        return default_responder(messages, fmt)

    def answer_schema(self) -> dict[str, Any]:
        """The JSON schema of the last answer request."""
        for req in reversed(self.server.calls()):
            fmt = req["body"].get("response_format") or {}
            if (fmt.get("json_schema") or {}).get("name") == "Answer":
                return fmt["json_schema"]["schema"]
        raise AssertionError("no structured answer request was made")


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def model(fake_server: FakeOpenAIServer) -> Iterator[ScriptedModel]:
    fake_server.reset()
    scripted = ScriptedModel(fake_server)
    yield scripted
    fake_server.responder = default_responder


@pytest.fixture
def client(fake_server: FakeOpenAIServer, model: ScriptedModel) -> Iterator[LLMClient]:
    ws = Workspace(":memory:")
    backend = OpenAIBackend(fake_server.base_url, "sk-test", "fake-model", free_text_quality="weak")
    yield LLMClient(backend, ws, max_retries=0)
    ws.close()


@pytest.fixture(scope="session")
def embedder() -> HashingEmbedder:
    return HashingEmbedder(dim=256)


@pytest.fixture(scope="session")
def profile(embedder: HashingEmbedder) -> Profile:
    return make_profile(embedder=embedder)


@pytest.fixture
def make_ctx(client: LLMClient, embedder: HashingEmbedder, profile: Profile) -> Callable[..., AnswerContext]:
    def make(**kw: Any) -> AnswerContext:
        prof = kw.pop("profile", profile)
        return AnswerContext(task=prof.task, profile=prof, client=client, embedder=embedder, run_id="answer-test", **kw)

    return make
