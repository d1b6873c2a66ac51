"""Endpoint faults at the client: Retry-After honoured, schema-violating replies fail, dropped connections retried."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from email.utils import formatdate

import pytest
from pydantic import BaseModel

from core.errors import BackendError
from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.llm.retry import HoldOff, RetryPolicy, call_with_retries, parse_retry_after
from core.llm.types import Capabilities, ChatRequest, RawCompletion, TransientBackendError
from core.stages.features import feature_schema
from core.store.workspace import Workspace
from tests.fakes.openai_server import SCHEMA_VIOLATION, FakeOpenAIServer, openai_server, openai_server_session  # noqa: F401


class Rating(BaseModel):
    score: int
    reason: str


def ask(text: str) -> ChatRequest:
    return ChatRequest([{"role": "user", "content": text}], schema=Rating, max_tokens=40)


@pytest.fixture
def client(openai_server: FakeOpenAIServer, tmp_path):  # noqa: F811
    ws = Workspace(tmp_path / "ws.sqlite")
    backend = OpenAIBackend(openai_server.base_url, "sk-test", "fake-model", timeout_s=0.5)
    yield LLMClient(backend, ws, backoff_base_s=0.01, timeout_s=0.5, max_retries=3)
    ws.close()


def test_parse_retry_after_reads_seconds_dates_and_milliseconds() -> None:
    now = datetime(2026, 12, 2, 8, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": " 1.5 "}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 02 Dec 2026 08:00:07 GMT"}, now=now) == 7.0
    assert parse_retry_after({"retry-after": "Wed, 02 Dec 2026 07:59:00 GMT"}, now=now) == 0.0  # in the past
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


def test_retry_waits_at_least_what_the_server_asked() -> None:
    sleeps: list[float] = []
    attempts = iter([TransientBackendError("busy", status=429, retry_after_s=2.0), "ok"])

    def fn() -> str:
        item = next(attempts)
        if isinstance(item, Exception):
            raise item
        return item

    policy = RetryPolicy(max_retries=2, backoff_base_s=0.01)
    assert call_with_retries(fn, policy, "ep", sleep=sleeps.append) == ("ok", 1)
    assert 2.0 <= sleeps[0] <= 2.2  # never sooner, at most 10% jitter later
    assert RetryPolicy(retry_after_max_s=5.0).delay(0, 3600.0) <= 5.5  # an absurd Retry-After is capped


@pytest.mark.parametrize("header", ["1", "date"])
def test_retry_after_from_the_server_is_honoured(header: str, client: LLMClient,
                                                 openai_server: FakeOpenAIServer) -> None:  # noqa: F811
    # An HTTP-date has whole seconds: two seconds ahead is between one and two seconds away.
    openai_server.retry_after = "1" if header == "1" else formatdate(datetime.now().timestamp() + 2, usegmt=True)
    openai_server.add_faults("429")
    assert client.chat(ask("rate it")).parsed is not None
    first, second = openai_server.calls()
    assert second["at"] - first["at"] >= 0.95  # the backoff alone would retry after ~10 ms


@pytest.mark.parametrize("fault", ["drop", "malformed", "timeout"])
def test_dropped_broken_and_hung_replies_are_retried(fault: str, client: LLMClient,
                                                    openai_server: FakeOpenAIServer) -> None:  # noqa: F811
    openai_server.hang_s = 1.5  # past the client's 0.5 s timeout
    openai_server.add_faults(fault, fault)
    assert client.chat(ask("x")).parsed is not None and openai_server.chat_calls == 3


def test_a_reply_without_required_fields_is_a_failed_call_not_an_empty_result() -> None:
    model = feature_schema(("raised", "lowered", "neutral"))
    with pytest.raises(ValueError):
        model.model_validate_json(SCHEMA_VIOLATION)  # {"wrong": 1}: ``features`` has no default
    assert model.model_validate_json('{"features": []}').features == []  # an explicit empty list is an answer


def test_schema_violations_are_repaired_then_fail(client: LLMClient, openai_server: FakeOpenAIServer) -> None:  # noqa: F811
    openai_server.add_faults("schema", "schema")
    assert client.chat(ask("a")).parsed is not None and openai_server.chat_calls == 3  # two repairs, then valid
    openai_server.reset()
    openai_server.add_faults("schema", "schema", "schema")
    with pytest.raises(BackendError, match="does not match schema Rating after 2 repairs"):
        client.chat(ask("b"))
    assert openai_server.chat_calls == 3


def test_identical_calls_in_flight_are_sent_once(client: LLMClient, openai_server: FakeOpenAIServer) -> None:  # noqa: F811
    openai_server.latency_s = 0.2
    results = client.map([ask("same"), ask("same"), ask("same"), ask("other")])
    assert all(not isinstance(r, Exception) for r in results)
    assert openai_server.chat_calls == 2 and sum(r.cache_hit for r in results) == 2


def test_a_follower_whose_leader_failed_calls_itself(client: LLMClient,
                                                     openai_server: FakeOpenAIServer) -> None:  # noqa: F811
    openai_server.latency_s = 0.2
    openai_server.add_faults("401")  # the first request fails for good (401 is not retried)
    out: list[object] = []
    lead = threading.Thread(target=lambda: out.append(_try(client, "same")))
    lead.start()
    follower = _try(client, "same")
    lead.join()
    assert sorted(type(r).__name__ for r in [*out, follower]) == ["EndpointError", "Rating"]
    assert openai_server.chat_calls == 2


def _try(client: LLMClient, text: str) -> object:
    try:
        return client.chat(ask(text)).parsed
    except BackendError as exc:
        return exc


def test_hold_off_moves_forward_only_and_waits_it_out() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    hold = HoldOff(max_s=10.0, clock=lambda: now[0], sleep=sleep)
    hold.wait()
    assert slept == []  # nothing held yet
    hold.until(2.0)
    hold.until(1.0)  # a shorter Retry-After never shortens the hold
    hold.until(15.0)  # capped at max_s
    assert hold.remaining() == 10.0
    hold.wait()
    assert sum(slept) == 10.0 and hold.remaining() == 0.0


class _Limited:
    """A backend whose first call is turned away with Retry-After 0.5 s; records when each call came."""

    capabilities = Capabilities(backend="stub", model="stub")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.turned_away = threading.Event()

    def cache_identity(self) -> dict[str, str]:
        return {"kind": "stub"}

    def complete(self, request: ChatRequest, json_schema: object) -> RawCompletion:
        self.times.append(time.monotonic())
        if len(self.times) == 1:
            self.turned_away.set()
            raise TransientBackendError("rate limited", status=429, retry_after_s=0.5)
        return RawCompletion(text="ok")


def test_a_retry_after_holds_every_call_of_the_client() -> None:
    backend = _Limited()
    client = LLMClient(backend, None, backoff_base_s=0.01)
    first = threading.Thread(target=lambda: client.chat(ChatRequest([{"role": "user", "content": "a"}])))
    first.start()
    assert backend.turned_away.wait(5)
    client.chat(ChatRequest([{"role": "user", "content": "b"}]))  # a different call, started after the 429
    first.join()
    assert len(backend.times) == 3 and min(backend.times[1:]) - backend.times[0] >= 0.45
