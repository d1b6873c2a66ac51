from __future__ import annotations

import json
import time
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from core.errors import BackendError
from core.llm.client import LLMClient
from core.llm.errors import EndpointError
from core.llm.openai_backend import OpenAIBackend
from core.llm.types import ChatRequest, ChatResult, Progress
from core.store.exchange import export_workspace
from core.store.workspace import Workspace
from tests.fakes.openai_server import FakeOpenAIServer
from tests.llm.conftest import API_KEY


class Rating(BaseModel):
    score: Literal["1", "2", "3", "4", "5"]
    reason: str


class Features(BaseModel):
    features: list[str] = Field(min_length=1)
    confident: bool


def ask(text: str, schema: type[BaseModel] | None = Rating, **kw) -> ChatRequest:
    return ChatRequest(messages=[{"role": "system", "content": "You rate texts."},
                                 {"role": "user", "content": text}], schema=schema, **kw)


def test_structured_call_is_parsed_and_traced(client: LLMClient, workspace: Workspace,
                                              openai_server: FakeOpenAIServer) -> None:
    res = client.chat(ask("great movie", stage="features", run_id="features-1"))
    assert isinstance(res.parsed, Rating) and res.parsed.score == "1"
    assert not res.cache_hit and res.retries == 0
    body = openai_server.calls()[0]["body"]
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False
    assert res.tokens_in > 0 and res.tokens_out > 0 and not res.extra["tokens_estimated"]
    [trace] = workspace.list_traces("features-1")
    assert trace["id"] == res.trace_id and trace["stage"] == "features" and trace["backend"] == "openai"
    assert trace["parsed"] == {"score": "1", "reason": "text"} and trace["output"] == res.text
    assert trace["messages"][1]["content"] == "great movie"
    assert (trace["tokens_in"], trace["tokens_out"]) == (res.tokens_in, res.tokens_out)
    assert trace["cache_hit"] is False and trace["error"] is None and trace["latency_ms"] > 0


def test_free_text_call(client: LLMClient, openai_server: FakeOpenAIServer) -> None:
    res = client.chat(ask("hello there", schema=None))
    assert res.text == "echo: hello there" and res.parsed is None
    assert "response_format" not in openai_server.calls()[0]["body"]


def test_nested_schema_refs_are_inlined(client: LLMClient) -> None:
    class Outer(BaseModel):
        inner: Rating
        items: list[Rating]

    res = client.chat(ask("nested", schema=Outer))
    assert isinstance(res.parsed, Outer) and res.parsed.items[0].score == "1"


def test_schema_fallback_to_json_object_is_remembered(client: LLMClient, backend: OpenAIBackend,
                                                      openai_server: FakeOpenAIServer) -> None:
    openai_server.reject_json_schema = True
    res = client.chat(ask("a"))
    assert isinstance(res.parsed, Rating)
    kinds = [c["body"].get("response_format", {}).get("type") for c in openai_server.calls()]
    assert kinds == ["json_schema", "json_object"]
    assert backend.structured_mode == "json_object" and backend.capabilities.structured_output is False
    system = openai_server.calls()[-1]["body"]["messages"][0]["content"]
    assert "You rate texts." in system and '"score"' in system  # schema moved into the system prompt
    client.chat(ask("b"))
    kinds = [c["body"].get("response_format", {}).get("type") for c in openai_server.calls()]
    assert kinds == ["json_schema", "json_object", "json_object"]


def test_schema_fallback_to_plain_text(client: LLMClient, backend: OpenAIBackend,
                                       openai_server: FakeOpenAIServer) -> None:
    openai_server.reject_json_schema = openai_server.reject_json_object = True
    res = client.chat(ask("a"))
    assert isinstance(res.parsed, Rating) and backend.structured_mode == "text"
    assert "response_format" not in openai_server.calls()[-1]["body"]


def test_one_off_schema_rejection_does_not_downgrade_on_other_errors(client: LLMClient, backend: OpenAIBackend,
                                                                     openai_server: FakeOpenAIServer) -> None:
    openai_server.add_faults("400", "400", "400")  # a bad request in every mode: not a schema problem
    with pytest.raises(EndpointError) as err:
        client.chat(ask("a"))
    assert err.value.status == 400 and backend.structured_mode == "json_schema"
    assert len(openai_server.calls()) == 3


def test_max_completion_tokens_switch(client: LLMClient, openai_server: FakeOpenAIServer) -> None:
    openai_server.reject_max_tokens = True
    client.chat(ask("a", max_tokens=77))
    client.chat(ask("b"))
    bodies = [c["body"] for c in openai_server.calls()]
    assert "max_tokens" in bodies[0] and bodies[1]["max_completion_tokens"] == 77
    assert "max_tokens" not in bodies[2] and len(bodies) == 3  # remembered


def test_repair_retry_sends_validation_error(client: LLMClient, openai_server: FakeOpenAIServer) -> None:
    answers = iter(['{"score": "9", "reason": "too high"}', '{"score": "4", "reason": "fixed"}'])
    openai_server.responder = lambda messages, fmt: next(answers)
    res = client.chat(ask("rate it"))
    assert res.parsed == Rating(score="4", reason="fixed") and res.extra["repaired"]
    first, second = openai_server.calls()
    sent = second["body"]["messages"]
    assert sent[-2] == {"role": "assistant", "content": '{"score": "9", "reason": "too high"}'}
    assert "score" in sent[-1]["content"] and "did not validate" in sent[-1]["content"]
    # Both attempts' usage is summed (the fake counts whitespace-separated words).
    assert res.tokens_out == len('{"score": "9", "reason": "too high"}'.split()) + len(res.text.split())
    first_prompt = sum(len(m["content"].split()) for m in first["body"]["messages"])
    assert res.tokens_in == first_prompt + sum(len(m["content"].split()) for m in sent)


def test_repair_accepts_fenced_json_and_prose(client: LLMClient, openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = lambda m, f: 'Sure!\n```json\n{"score": "2", "reason": "ok"}\n```'
    assert client.chat(ask("x")).parsed == Rating(score="2", reason="ok")
    assert openai_server.chat_calls == 1


def test_failed_repair_raises_and_is_traced(client: LLMClient, workspace: Workspace,
                                            openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = lambda m, f: "no json here"
    with pytest.raises(BackendError) as err:
        client.chat(ask("x", run_id="r1"))
    assert "Rating" in str(err.value) and openai_server.chat_calls == 3  # the call and two repairs
    [trace] = workspace.list_traces("r1")
    assert "after 2 repairs" in trace["error"] and trace["output"] == "no json here"
    assert workspace.cache_size() == 0  # failures are never cached


@pytest.mark.parametrize("fault", ["timeout", "429", "500", "503", "malformed"])
def test_transient_faults_are_retried(fault: str, backend: OpenAIBackend, workspace: Workspace,
                                      openai_server: FakeOpenAIServer) -> None:
    openai_server.hang_s = 3.0
    client = LLMClient(backend, workspace, backoff_base_s=0.001, timeout_s=0.3)
    openai_server.add_faults(fault, fault)
    start = time.perf_counter()
    res = client.chat(ask("x", run_id="r"))
    assert isinstance(res.parsed, Rating) and res.retries == 2 and openai_server.chat_calls == 3
    assert workspace.list_traces("r")[0]["retries"] == 2
    if fault == "timeout":
        # the client gave up on the hung requests: 2 x 0.3 s, against 6 s had it waited for them; the
        # wide bound holds on a loaded CI machine (a timing margin, not a speed figure)
        assert time.perf_counter() - start < 2.5


def test_retries_exhausted_names_endpoint_and_status(backend: OpenAIBackend, workspace: Workspace,
                                                     openai_server: FakeOpenAIServer) -> None:
    client = LLMClient(backend, workspace, max_retries=2, backoff_base_s=0.001)
    openai_server.add_faults("500", "500", "500")
    with pytest.raises(BackendError) as err:
        client.chat(ask("x", run_id="r"))
    exc = err.value
    assert isinstance(exc, EndpointError) and exc.status == 500 and exc.retries == 2
    assert exc.file == f"{openai_server.base_url}/chat/completions" and exc.field == "HTTP 500"
    assert "injected HTTP 500" in str(exc) and "3 attempts" in str(exc)
    assert openai_server.chat_calls == 3
    trace = workspace.list_traces("r")[0]
    assert trace["retries"] == 2 and "HTTP 500" in trace["error"]


def test_permanent_errors_are_not_retried(client: LLMClient, openai_server: FakeOpenAIServer) -> None:
    openai_server.add_faults("401")
    with pytest.raises(EndpointError) as err:
        client.chat(ask("x", schema=None))
    assert err.value.status == 401 and openai_server.chat_calls == 1


def test_unreachable_endpoint_is_a_backend_error(workspace: Workspace) -> None:
    backend = OpenAIBackend("http://127.0.0.1:9/v1", API_KEY, "m", timeout_s=1.0)
    client = LLMClient(backend, workspace, max_retries=1, backoff_base_s=0.001)
    with pytest.raises(BackendError) as err:
        client.chat(ask("x"))
    assert "cannot connect" in str(err.value) and "127.0.0.1:9" in str(err.value)


def test_rerun_is_served_from_cache(backend: OpenAIBackend, workspace: Workspace,
                                    openai_server: FakeOpenAIServer) -> None:
    requests = [ask(f"item {i}", run_id="run-a") for i in range(6)]
    first = LLMClient(backend, workspace).map(requests)
    assert openai_server.chat_calls == 6
    again = LLMClient(backend, workspace)
    second = again.map(requests)
    assert openai_server.chat_calls == 6 and again.stats.model_calls == 0 and again.stats.cache_hits == 6
    for a, b in zip(first, second, strict=True):
        assert isinstance(a, ChatResult) and isinstance(b, ChatResult)
        assert b.cache_hit and b.parsed == a.parsed and (b.tokens_in, b.tokens_out) == (a.tokens_in, a.tokens_out)
    traces = workspace.list_traces("run-a")
    assert len(traces) == 12 and sum(t["cache_hit"] for t in traces) == 6


def test_cache_key_covers_model_params_and_schema(backend: OpenAIBackend, workspace: Workspace) -> None:
    client = LLMClient(backend, workspace)
    base = ask("x")
    keys = {client.cache_key(base), client.cache_key(ask("x", temperature=0.7)),
            client.cache_key(ask("x", max_tokens=10)), client.cache_key(ask("x", schema=Features)),
            client.cache_key(ask("x", schema=None)), client.cache_key(ask("y"))}
    assert len(keys) == 6
    assert client.cache_key(ask("x", stage="other", run_id="z", timeout_s=3)) == client.cache_key(base)
    other = OpenAIBackend(backend.base_url, API_KEY, "another-model")
    assert LLMClient(other, workspace).cache_key(base) != client.cache_key(base)
    same_but_other_key = OpenAIBackend(backend.base_url, "sk-different", "fake-model")
    assert LLMClient(same_but_other_key, workspace).cache_key(base) == client.cache_key(base)


def test_cache_bypass(backend: OpenAIBackend, workspace: Workspace, openai_server: FakeOpenAIServer) -> None:
    LLMClient(backend, workspace).chat(ask("x"))
    bypass = LLMClient(backend, workspace, use_cache=False)
    res = bypass.chat(ask("x"))
    assert not res.cache_hit and openai_server.chat_calls == 2


@pytest.mark.parametrize("limit", [1, 3])
def test_concurrency_is_bounded(limit: int, backend: OpenAIBackend, openai_server: FakeOpenAIServer) -> None:
    openai_server.latency_s = 0.05
    client = LLMClient(backend, None, max_concurrency=limit)
    results = client.map([ask(f"q{i}") for i in range(4 * limit)])
    assert all(isinstance(r, ChatResult) for r in results)
    assert openai_server.max_in_flight == limit


def test_concurrency_bound_holds_across_threads_calling_chat(backend: OpenAIBackend,
                                                            openai_server: FakeOpenAIServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    openai_server.latency_s = 0.05
    client = LLMClient(backend, None, max_concurrency=2)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(client.chat, [ask(f"q{i}") for i in range(8)]))
    assert openai_server.max_in_flight == 2


def test_default_concurrency(backend: OpenAIBackend) -> None:
    assert LLMClient(backend).max_concurrency == 8


def test_map_keeps_order_reports_progress_and_failures(backend: OpenAIBackend, workspace: Workspace,
                                                       openai_server: FakeOpenAIServer) -> None:
    client = LLMClient(backend, workspace, max_concurrency=1, max_retries=1, backoff_base_s=0.001)
    client.chat(ask("item 4"))  # cached beforehand
    openai_server.add_faults("500", "500")  # with one worker, the first request fails for good
    seen: list[Progress] = []
    results = client.map([ask(f"item {i}", run_id="m") for i in range(5)], progress=seen.append)
    assert isinstance(results[0], BackendError)
    assert [json.loads(r.text)["score"] for r in results[1:]] == ["1"] * 4
    assert [r.cache_hit for r in results[1:]] == [False, False, False, True]
    assert [p.done for p in seen] == [1, 2, 3, 4, 5] and all(p.total == 5 for p in seen)
    assert (seen[-1].failures, seen[-1].cache_hits) == (1, 1)
    assert sum(1 for t in workspace.list_traces("m") if t["error"]) == 1


def test_progress_callback_can_cancel(backend: OpenAIBackend, openai_server: FakeOpenAIServer) -> None:
    client = LLMClient(backend, None, max_concurrency=1)

    def stop(p: Progress) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client.map([ask(f"q{i}") for i in range(20)], progress=stop)
    time.sleep(0.1)
    assert openai_server.chat_calls < 20


def test_map_empty(client: LLMClient) -> None:
    assert client.map([]) == []


def test_api_key_is_never_persisted(tmp_path, openai_server: FakeOpenAIServer) -> None:
    path = tmp_path / "secret.sqlite"
    ws = Workspace(path)
    backend = OpenAIBackend(openai_server.base_url, API_KEY, "fake-model")
    client = LLMClient(backend, ws, max_retries=0)
    client.chat(ask("ok", run_id="r"))
    client.chat(ask("free text", schema=None, run_id="r"))
    openai_server.add_faults("401")  # this server echoes the key in its error message
    with pytest.raises(EndpointError) as err:
        client.chat(ask("bad", run_id="r"))
    assert API_KEY not in str(err.value) and "***" in str(err.value)
    assert openai_server.calls()[0]["authorization"] == f"Bearer {API_KEY}"  # the key was used
    assert API_KEY not in repr(backend) and API_KEY not in json.dumps(backend.cache_identity())
    traces = ws.list_traces("r")
    assert len(traces) == 3 and API_KEY not in json.dumps(traces)
    export = export_workspace(ws, tmp_path / "export.json").read_text(encoding="utf-8")
    assert "free text" in export and API_KEY not in export
    ws.close()
    blobs = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("secret.sqlite"))
    assert b"fake-model" in blobs and API_KEY.encode() not in blobs


def test_usage_missing_is_estimated(client: LLMClient, openai_server: FakeOpenAIServer, monkeypatch) -> None:
    import tests.fakes.openai_server as fake

    monkeypatch.setattr(fake, "_usage", lambda p, c: None)
    res = client.chat(ask("a few words here", schema=None))
    assert res.extra["tokens_estimated"] and res.tokens_in > 4 and res.tokens_out > 0
