"""A full LLM build against a faulty loopback endpoint: nothing hangs, nothing raises, nothing is lost silently.

30% of the requests get a fault, drawn evenly from: 429 with ``Retry-After: 1``, 500, a hang past the
client's timeout, a dropped connection, a broken JSON body and a reply that violates the schema
(``{"wrong": 1}``). Every item must end with features or be listed as failed; every listed failure
is retried, and only those, by the next build.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.stages.failures import profile_failures
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings, Profile
from core.store.workspace import Workspace
from core.views.build_view import failure_report
from tests.fakes.openai_server import SCHEMA_VIOLATION, FakeOpenAIServer, openai_server, openai_server_session  # noqa: F401
from tests.stages.conftest import CountingEmbedder, durability_dataset
from tests.stages.test_llm_stages import item_text, scripted

pytestmark = pytest.mark.timeout(600)

FAULT_KINDS = ("429", "500", "timeout", "drop", "malformed", "schema")
SETTINGS = PipelineSettings(hdbscan_min_cluster_size=4)


@pytest.fixture
def faulty(openai_server: FakeOpenAIServer, tmp_path):  # noqa: F811
    openai_server.responder = scripted
    openai_server.retry_after = "1"
    openai_server.hang_s = 1.0
    ws = Workspace(tmp_path / "ws.sqlite")
    backend = OpenAIBackend(openai_server.base_url, "sk-test", "fake-model", timeout_s=0.3)
    client = LLMClient(backend, ws, backoff_base_s=0.01, timeout_s=0.3)
    yield ws, client, openai_server
    ws.close()


def within(limit_s: float, fn: Callable[[], Profile]) -> Profile:
    """Run ``fn`` in a thread and fail the test if it does not return within ``limit_s`` (a hang)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit_s)
    assert not thread.is_alive(), f"the build hung (still running after {limit_s} s)"
    if "error" in box:
        raise box["error"]
    return box["value"]


def build(ws: Workspace, client: LLMClient) -> Profile:
    return within(300, lambda: build_profile(ws, "dura", "ava", client=client, embedder=CountingEmbedder(),
                                             settings=SETTINGS))


def test_build_under_30_percent_faults_loses_nothing_silently(faulty, capsys) -> None:
    ws, client, server = faulty
    ws.add_dataset(durability_dataset(n=40))
    server.random_faults(0.3, FAULT_KINDS, seed=17)
    start = time.monotonic()
    profile = build(ws, client)  # no traceback, no hang
    elapsed = time.monotonic() - start
    failures = profile_failures(ws, profile.run_ids)
    failed_items = {f.target for f in failures if f.stage == "features"}
    # 0 silent losses: an item without features is listed as failed, and a listed item has none.
    for item in profile.items:
        assert bool(profile.features[item.id]) != (item.id in failed_items), item.id
    requests = server.calls()
    faults = Counter(r["fault"] for r in requests)
    assert all(faults[k] > 0 for k in FAULT_KINDS), faults  # every kind was met
    # Every request that got a proper answer was needed: no call was answered twice (identical prompts in
    # flight together are sent once), so the only extra requests are the faulted ones.
    answered = [json.dumps(r["body"]["messages"]) for r in requests if r["fault"] is None]
    assert len(answered) == len(set(answered))
    # Retry-After honoured: the retry of a call turned away with 429 came at least 1 s later.
    gaps = []
    for i, r in enumerate(requests):
        if r["fault"] == "429":
            again = next((q for q in requests[i + 1:] if q["body"]["messages"] == r["body"]["messages"]), None)
            if again is not None:
                gaps.append(again["at"] - r["at"])
    assert gaps and min(gaps) >= 0.95, gaps
    with capsys.disabled():
        print(f"\n[faults] {len(requests)} requests for {len(answered)} needed calls "
              f"({sum(faults[k] for k in FAULT_KINDS)} faulted: {dict(faults)}), {len(failures)} failures listed, "
              f"{len(profile.items) - len(failed_items)}/{len(profile.items)} items with features, {elapsed:.1f} s")
    # The rerun, with the endpoint healthy again, asks for the listed failures only and lists none.
    server.random_faults(0.0, FAULT_KINDS)
    again = build(ws, client)
    assert not profile_failures(ws, again.run_ids)
    assert all(again.features[it.id] for it in again.items)


def breaking(prompt_has: dict[str, str], on: dict[str, bool]) -> Callable[[list[dict[str, Any]], Any], str]:
    """A responder like :func:`scripted` whose replies are broken (while ``on["on"]``) for some prompts.

    ``prompt_has`` maps a stage marker of the system prompt to a text in the user prompt: a matching
    call gets a schema violation (an empty summary for the free-text summary call).
    """

    def respond(messages: list[dict[str, Any]], fmt: Any) -> str:
        system = messages[0]["content"]
        user = next(m["content"] for m in messages if m["role"] == "user")  # the prompt, also when repairing
        if on["on"]:
            for marker, text in prompt_has.items():
                if marker in system and text in user:
                    return "" if marker == "preference summary" else SCHEMA_VIOLATION
        return scripted(messages, fmt)

    return respond


def feature_items(requests: list[dict[str, Any]]) -> list[str]:
    return [item_text(r["body"]["messages"][-1]["content"]) for r in requests
            if "analyse one item" in r["body"]["messages"][0]["content"]]


def test_failed_items_are_listed_and_a_rerun_retries_exactly_those(faulty) -> None:
    ws, client, server = faulty
    ws.add_dataset(durability_dataset(n=30))
    on = {"on": True}
    server.responder = breaking({"analyse one item": "zipper"}, on)
    first = build(ws, client)
    zipper = {it.id for it in first.items if "zipper" in it.input}
    assert zipper
    heading, lines = failure_report(ws, first)
    n = len(zipper)
    assert heading.startswith(f"{n} model call") and f"({n} left an item without features" in heading
    assert {ln.split()[2] for ln in lines} == zipper and all(" failed: " in ln for ln in lines)
    assert all(not first.features[i] for i in zipper)
    assert all("after 2 repairs" in ln for ln in lines)  # retried (repaired) before it was given up
    on["on"] = False
    server.reset()
    server.responder = breaking({}, on)
    second = build(ws, client)
    asked = feature_items(server.calls())
    assert sorted(asked) == sorted(it.input for it in first.items if it.id in zipper)  # exactly the failed ones
    assert all(second.features[i] for i in zipper) and failure_report(ws, second) == ("", [])
    assert second.run_ids["features"] != first.run_ids["features"]  # later stages rebuilt on the full features


def test_a_summary_and_paths_that_fell_back_are_listed_and_a_rerun_retries_exactly_those(faulty) -> None:
    ws, client, server = faulty
    ws.add_dataset(durability_dataset(n=30))
    on = {"on": True}
    server.responder = breaking({"preference summary": "", "explain why": "snapped"}, on)
    first = build(ws, client)
    failures = profile_failures(ws, first.run_ids)
    snapped = {it.id for it in first.items if "snapped" in it.input and first.features[it.id]}
    assert snapped and {f.target for f in failures if f.stage == "paths"} == snapped
    assert [f.stage for f in failures if f.stage != "paths"] == ["summary"]
    assert all(f.outcome == "fell back" for f in failures)
    assert first.summary.startswith("Rates")  # the template summary stands in
    assert all(first.paths[i].text != "LLM path" for i in snapped)  # template paths stand in
    on["on"] = False
    before = server.chat_calls
    second = build(ws, client)
    assert server.chat_calls - before == len(failures)  # exactly the failed calls; the rest come from the cache
    assert not profile_failures(ws, second.run_ids)
    assert "LLM summary" in second.summary and all(second.paths[i].text == "LLM path" for i in snapped)


def test_factor_names_that_fell_back_are_listed_and_retried(faulty) -> None:
    ws, client, server = faulty
    ws.add_dataset(durability_dataset(n=30))
    on = {"on": True}
    server.responder = breaking({"You name groups": "broke"}, on)
    first = build(ws, client)
    failures = [f for f in profile_failures(ws, first.run_ids) if f.stage == "factors"]
    assert failures and all(f.kind == "name" and f.outcome == "fell back" for f in failures)
    assert "Broken parts" not in [f.name for f in first.factors]  # it kept its keyword name
    on["on"] = False
    server.reset()
    server.responder = breaking({}, on)
    second = build(ws, client)
    naming = [r for r in server.calls() if "You name groups" in r["body"]["messages"][0]["content"]]
    assert len(naming) == len(failures)  # only the failed names are asked again
    assert "Broken parts" in [f.name for f in second.factors] and not profile_failures(ws, second.run_ids)
