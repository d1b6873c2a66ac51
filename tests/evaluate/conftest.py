"""Fixtures for the evaluation tests: a tiny two-user rating dataset and a scripted loopback model."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from core.data.model import Dataset, Item, Task, User
from core.embed.hashing import HashingEmbedder
from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.store.workspace import Workspace
from tests.fakes.openai_server import FakeOpenAIServer, default_responder

BROKE = ["The handle broke after two weeks.", "The zipper broke on the second trip.",
         "The hinge cracked and broke within a week.", "The lid broke after three uses."]
GOOD = ["Shipping was fast and the box arrived early.", "Great value for the price.",
        "Very easy to set up in minutes.", "The design looks beautiful on my desk."]
NEUTRAL = ["I bought it for my kitchen.", "My brother recommended it.", "I use it every morning."]

TASK = Task(kind="score", name="product_rating", instruction="What score from 1 to 5 would this user give?")


def rating_dataset(n: int = 10, seed: int = 3) -> Dataset:
    """Two users; reviews that mention breakage are rated 1-2, the others 4-5."""
    rng = random.Random(seed)
    users = []
    for uid in ("ava", "ben"):
        items = []
        for k in range(n):
            broke = k % 3 == 0
            parts = [rng.choice(NEUTRAL), rng.choice(BROKE) if broke else rng.choice(GOOD)]
            score = rng.choice([1, 2]) if broke else rng.choice([4, 5])
            items.append(Item(id=f"{uid}-{k:02d}", input=" ".join(parts), output=str(score)))
        users.append(User(id=uid, items=items))
    return Dataset(name="ratings", task=TASK, users=users)


def rule(query_text: str) -> str:
    """What the scripted model answers: 1 for reviews mentioning breakage, else 5."""
    return "1" if "broke" in query_text.lower() else "5"


def scripted_responder(messages: list[dict[str, Any]], fmt: dict[str, Any] | None) -> str:
    """Score answer calls get ``rule(query)``; every other call gets the fake server's default (first choice)."""
    spec = (fmt or {}).get("json_schema") or {}
    choices = spec.get("schema", {}).get("properties", {}).get("answer", {}).get("enum", [])
    if spec.get("name") == "Answer" and "5" in choices:
        prompt = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        task = prompt.rsplit("## Task", 1)[-1]
        query = re.split(r"\n\s*\n", task.split("Input:", 1)[-1].strip())[0]
        return json.dumps({"answer": rule(query)})
    return default_responder(messages, fmt)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(responder=scripted_responder) as server:
        yield server


@pytest.fixture
def workspace(tmp_path) -> Iterator[Workspace]:
    ws = Workspace(tmp_path / "ws.sqlite")
    yield ws
    ws.close()


@pytest.fixture
def client(fake_server: FakeOpenAIServer, workspace: Workspace) -> LLMClient:
    backend = OpenAIBackend(fake_server.base_url, "sk-test", "fake-model", free_text_quality="weak")
    return LLMClient(backend, workspace, max_retries=0, timeout_s=10.0)


@pytest.fixture(scope="session")
def embedder() -> HashingEmbedder:
    return HashingEmbedder(dim=128)
