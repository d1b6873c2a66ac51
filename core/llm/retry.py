"""Retrying transient faults with exponential backoff and jitter, honouring a server's ``Retry-After``."""

from __future__ import annotations

import random
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
