from __future__ import annotations

import pytest

from core.llm.errors import EndpointError, redact
from core.llm.retry import RetryPolicy, call_with_retries
from core.llm.tokens import count_message_tokens, count_tokens
from core.llm.types import TransientBackendError


def test_backoff_is_exponential_with_jitter() -> None:
    policy = RetryPolicy(max_retries=5, backoff_base_s=1.0, backoff_max_s=5.0)
    for retry, nominal in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 5.0), (6, 5.0)]:
        delays = {policy.delay(retry) for _ in range(50)}
        assert all(0.5 * nominal <= d <= 1.5 * nominal for d in delays)
        assert len(delays) > 1  # jittered


def test_call_with_retries_sleeps_between_attempts() -> None:
    sleeps: list[float] = []
    attempts = iter([TransientBackendError("busy", status=429), TransientBackendError("down", status=503), "ok"])

    def fn() -> str:
        item = next(attempts)
        if isinstance(item, Exception):
            raise item
        return item

    result, retries = call_with_retries(fn, RetryPolicy(max_retries=3, backoff_base_s=0.1), "ep", sleep=sleeps.append)
    assert (result, retries) == ("ok", 2) and len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.3


def test_call_with_retries_gives_up_with_the_last_status() -> None:
    def fn() -> None:
        raise TransientBackendError("rate limited", status=429)

    with pytest.raises(EndpointError) as err:
        call_with_retries(fn, RetryPolicy(max_retries=2), "http://x/v1/chat/completions", sleep=lambda s: None)
    assert err.value.status == 429 and err.value.retries == 2
    assert str(err.value) == "http://x/v1/chat/completions::HTTP 429: rate limited (gave up after 3 attempts)"


def test_permanent_errors_are_not_retried() -> None:
    calls = []

    def fn() -> None:
        calls.append(1)
        raise EndpointError("ep", 400, "bad")

    with pytest.raises(EndpointError):
        call_with_retries(fn, RetryPolicy(max_retries=3), "ep", sleep=lambda s: None)
    assert len(calls) == 1


def test_redact() -> None:
    assert redact("key sk-1 and sk-1 again", "sk-1") == "key *** and *** again"
    assert redact("unchanged", None) == "unchanged"


def test_count_tokens_heuristic() -> None:
    assert count_tokens("") == 0
    assert count_tokens("Hello, world!") == 5  # 2 words * 1.3 -> 3, plus 2 punctuation marks
    assert count_tokens("one two three four five six seven eight nine ten") == 13
    long = "The user prefers concise, upbeat reviews. " * 10
    assert count_tokens("The user prefers concise, upbeat reviews.") == 10  # ceil(6 * 1.3) + 2
    assert count_tokens(long) == 98  # ceil(60 * 1.3) + 20: rounding happens once per text
    assert count_tokens(long) > count_tokens(long[:50])


def test_count_message_tokens_adds_overhead() -> None:
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert count_message_tokens(msgs) == count_tokens("Be brief.") + count_tokens("Hi") + 8
