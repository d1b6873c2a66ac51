"""Retrying transient faults with exponential backoff and jitter, honouring a server's ``Retry-After``."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from core.llm.errors import EndpointError
from core.llm.types import TransientBackendError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    Attributes:
        max_retries: Retries after the first attempt (0 = try once).
        backoff_base_s: Delay before the first retry; doubles for each further retry.
        backoff_max_s: Cap on one delay.
    """

    max_retries: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 120.0

    def delay(self, retry: int, retry_after_s: float | None = None) -> float:
        """Return the delay before retry number ``retry`` (0-based).

        Without ``retry_after_s``: ``base * 2**retry``, jittered by +-50%. With it (the server's
        ``Retry-After``): never sooner than the server asked (capped at ``retry_after_max_s``), plus up
        to 10% so the calls it turned away do not all come back in the same instant.
        """
        if retry_after_s is not None and retry_after_s > 0:
            return min(self.retry_after_max_s, retry_after_s) * random.uniform(1.0, 1.1)
        return min(self.backoff_max_s, self.backoff_base_s * (2 ** retry)) * random.uniform(0.5, 1.5)


def parse_retry_after(headers: Mapping[str, str] | None, *, now: datetime | None = None) -> float | None:
    """Return the delay a response's ``Retry-After`` (or ``retry-after-ms``) header asks for, in seconds.

    Both forms of RFC 9110 are read: delay-seconds (``"2"``) and an HTTP-date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``, counted from ``now``). A date in the past is 0; a header
    that is absent or unreadable is None.

    Examples:
        >>> parse_retry_after({"retry-after": "2"})
        2.0
        >>> parse_retry_after({"retry-after": "Wed, 02 Dec 2026 08:00:05 GMT"},
        ...                   now=datetime(2026, 12, 2, 8, 0, 0, tzinfo=timezone.utc))
        5.0
    """
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, endpoint: str, *,
                      sleep: Callable[[float], None] = time.sleep) -> tuple[T, int]:
    """Call ``fn`` until it succeeds, retrying :class:`TransientBackendError` per ``policy``.

    A fault that carries the server's ``Retry-After`` waits at least that long before the next attempt.

    Args:
        fn: The call.
        policy: Retry policy.
        endpoint: Named in the error when retries run out.
        sleep: Sleep function (tests may pass a fake).

    Returns:
        ``fn``'s result and the number of retries it took.

    Raises:
        core.llm.errors.EndpointError: Retries ran out (status and message of the last fault).
    """
    retries = 0
    while True:
        try:
            return fn(), retries
        except EndpointError as exc:
            exc.retries = retries
            raise
        except TransientBackendError as exc:
            if retries >= policy.max_retries:
                raise EndpointError(endpoint, exc.status, f"{exc} (gave up after {retries + 1} attempts)",
                                    retries=retries) from exc
            sleep(policy.delay(retries, getattr(exc, "retry_after_s", None)))
            retries += 1


class HoldOff:
    """A shared "not before" time: a server's ``Retry-After`` holds back every call that shares it.

    A 429 with ``Retry-After`` is about the endpoint (or the key), not the one call that got it: the
    other calls in flight would only be turned away too. :meth:`until` moves the time forward (never
    back); :meth:`wait` sleeps until it has passed.

    Args:
        max_s: Cap on one hold-off.
        clock: Monotonic clock (tests may pass a fake).
        sleep: Sleep function (tests may pass a fake).
    """

    def __init__(self, max_s: float = 120.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """Create a hold-off that holds nothing yet."""
        self.max_s = max_s
        self._clock = clock
        self._sleep = sleep
        self._not_before = 0.0
        self._lock = threading.Lock()

    def until(self, delay_s: float) -> None:
        """Hold every call for ``delay_s`` seconds from now (capped), unless already held longer."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + min(max(0.0, delay_s), self.max_s))

    def remaining(self) -> float:
        """Seconds left before calls may go out (0 when not held)."""
        with self._lock:
            return max(0.0, self._not_before - self._clock())

    def wait(self) -> None:
        """Sleep until the hold-off has passed (it may be extended while sleeping)."""
        while (left := self.remaining()) > 0:
            self._sleep(left)
