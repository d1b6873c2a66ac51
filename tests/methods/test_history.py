"""``history``: the whole history newest first, cut at the context window with the oldest items left out."""

import json

from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.llm.tokens import count_message_tokens
from core.methods.context import AnswerContext
from core.methods.registry import get_method
from core.store.workspace import Workspace
from tests.methods.conftest import ITEMS


def test_every_item_newest_first_when_the_context_is_large(model, make_ctx):
    model.script = lambda prompt, fmt: json.dumps({"answer": "2"})
    ans = get_method("history").answer("the charger broke", make_ctx(disabled_items=frozenset({"i3"})))
    take = ans.trace.steps[0]
    assert take.kind == "retrieve" and [d.id for d in take.documents] == ["i6", "i5", "i4", "i2", "i1"]
    assert take.detail.to_dict() == {"items": 5, "taken": 5, "left_out": 0}
    prompt = model.prompts[-1]
    positions = [prompt.index(text) for i, text, _ in reversed(ITEMS) if i != "i3"]
    assert positions == sorted(positions)  # newest first
    assert "Gorgeous bright screen" not in prompt  # the disabled item
    assert ans.value == 2.0


def test_a_small_context_keeps_the_newest_items_that_fit(model, fake_server, embedder, profile):
    backend = OpenAIBackend(fake_server.base_url, "sk-test", "fake-model", free_text_quality="weak",
                            context_length=260)
    client = LLMClient(backend, Workspace(":memory:"), max_retries=0)
    ctx = AnswerContext(task=profile.task, profile=profile, client=client, embedder=embedder)
    model.script = lambda prompt, fmt: json.dumps({"answer": "3"})
    ans = get_method("history").answer("battery", ctx)
    take = ans.trace.steps[0]
    assert 0 < take.detail.extra["taken"] < 6 and take.detail.extra["left_out"] == 6 - take.detail.extra["taken"]
    assert [d.id for d in take.documents] == [i for i, _, _ in reversed(ITEMS)][: take.detail.extra["taken"]]
    assert count_message_tokens(fake_server.calls()[-1]["body"]["messages"]) <= int(260 * 0.8) - 32
    assert ans.trace.steps[1].detail.trimmed is False  # it fitted without cutting an example in half
