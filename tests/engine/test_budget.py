"""The endpoint budget: its bookkeeping, the thread holder, and the client's hook."""

from __future__ import annotations

import threading
import time

import pytest

from core.engine.budget import BudgetLimits, BudgetState, LocalBudget
from core.errors import InputError
from core.llm.client import LLMClient
from core.llm.limits import limited_call
from core.llm.openai_backend import OpenAIBackend
from core.llm.types import ChatRequest, TransientBackendError
from tests.fakes.openai_server import FakeOpenAIServer, openai_server, openai_server_session  # noqa: F401


def test_in_flight_limit_and_release():
    s = BudgetState(BudgetLimits(max_in_flight=2))
    a, _ = s.try_acquire("u1", 10, 0.0)
    b, _ = s.try_acquire("u1", 10, 0.0)
    assert a and b and s.try_acquire("u2", 10, 0.0) == (None, None)  # full: wait for a release
    assert s.release(a, 30, 1.0)
    assert s.try_acquire("u2", 10, 1.0)[0] is not None
    assert not s.release(a, 30, 1.5)  # released twice: ignored


def test_requests_and_tokens_per_minute_windows():
    s = BudgetState(BudgetLimits(max_in_flight=100, rpm=2))
    for t in (0.0, 10.0):
        lease, _ = s.try_acquire("u", 1, t)
        s.release(lease, 1, t)
    lease, wait = s.try_acquire("u", 1, 20.0)
    assert lease is None and wait == pytest.approx(40.0)  # the call at t=0 leaves the window at t=60
    assert s.try_acquire("u", 1, 60.0)[0] is not None
    s = BudgetState(BudgetLimits(max_in_flight=100, tpm=1000))
    lease, _ = s.try_acquire("u", 300, 0.0)
    s.release(lease, 900, 1.0)  # the window counts what the call really used
    lease, wait = s.try_acquire("u", 300, 2.0)
    assert lease is None and wait == pytest.approx(58.0)


def test_pause_drop_owner_and_mean_in_flight():
    s = BudgetState(BudgetLimits(max_in_flight=4))
    s.pause(5.0, 0.0)
    lease, wait = s.try_acquire("u", 1, 1.0)
    assert lease is None and wait == pytest.approx(4.0)
    held = [s.try_acquire("lost#1", 1, 5.0)[0] for _ in range(2)]
    other = s.try_acquire("u#1", 1, 5.0)[0]
    assert None not in held and other is not None
    assert s.drop_owner("lost#1", 7.0) == 2  # a dead worker's slots come back
    s.release(other, 1, 9.0)
    stats = s.snapshot(9.0)
    # 3 in flight for 2 s, then 1 for 2 s: mean 2.0 over 4 busy seconds
    assert stats.busy_s == pytest.approx(4.0) and stats.mean_in_flight == pytest.approx(2.0)
    assert stats.calls == 3 and stats.in_flight == 0 and stats.max_seen == 3 and stats.pauses == 1


def test_limits_from_env_name_the_variable():
    assert BudgetLimits.from_env(8, {"INFLOW_MAX_RPM": "600"}) == BudgetLimits(8, 600, None)
    with pytest.raises(InputError, match="INFLOW_MAX_TPM must be a positive integer"):
        BudgetLimits.from_env(8, {"INFLOW_MAX_TPM": "lots"})


def test_local_budget_bounds_threads_and_a_429_pauses_everyone():
    budget = LocalBudget(BudgetLimits(max_in_flight=2))
    seen, lock, now = [], threading.Lock(), {"n": 0}

    def call() -> None:
        def fn() -> None:
            with lock:
                now["n"] += 1
                seen.append(now["n"])
            threading.Event().wait(0.02)
            with lock:
                now["n"] -= 1
        limited_call(budget, fn, 5)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(seen) == 2 and budget.stats().calls == 8

    def rate_limited() -> None:
        raise TransientBackendError("slow down", status=429)

    with pytest.raises(TransientBackendError):
        limited_call(budget, rate_limited, 5)
    assert budget.stats().pauses == 1 and budget.stats().in_flight == 0


def test_two_clients_share_one_budget(openai_server: FakeOpenAIServer, tmp_path):  # noqa: F811
    openai_server.latency_s = 0.05
    budget = LocalBudget(BudgetLimits(max_in_flight=3))
    backend = OpenAIBackend(openai_server.base_url, "sk-test", "fake-model", timeout_s=5.0)
    clients = [LLMClient(backend, None, max_concurrency=3, limiter=budget) for _ in range(2)]
    reqs = [[ChatRequest([{"role": "user", "content": f"c{c} q{i}"}]) for i in range(6)] for c in range(2)]
    threads = [threading.Thread(target=cl.map, args=(r,)) for cl, r in zip(clients, reqs, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert openai_server.chat_calls == 12
    assert 2 <= openai_server.max_in_flight <= 3  # each client alone allows 3: together still 3
    assert budget.stats().calls == 12


def test_a_429_seen_by_one_client_holds_back_the_other(openai_server: FakeOpenAIServer, monkeypatch):  # noqa: F811
    monkeypatch.setattr("core.llm.limits.DEFAULT_429_PAUSE_S", 0.3)
    budget = LocalBudget(BudgetLimits(max_in_flight=4))
    backend = OpenAIBackend(openai_server.base_url, "sk-test", "fake-model", timeout_s=5.0)
    first = LLMClient(backend, None, limiter=budget, backoff_base_s=0.001)
    second = LLMClient(backend, None, limiter=budget, backoff_base_s=0.001)
    openai_server.add_faults("429")
    results = []
    worker = threading.Thread(target=lambda: results.append(first.chat(ChatRequest([{"role": "user",
                                                                                     "content": "a"}]))))
    worker.start()
    deadline = time.monotonic() + 5
    while budget.stats().pauses == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    start = time.monotonic()
    second.chat(ChatRequest([{"role": "user", "content": "b"}]))  # asks within the pause: waits for it
    waited = time.monotonic() - start
    worker.join()
    assert budget.stats().pauses == 1 and results[0].retries == 1
    assert waited > 0.1  # its own retry policy never saw the 429; the shared budget held it back
