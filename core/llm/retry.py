"""Retrying transient faults with exponential backoff and jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
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

    def delay(self, retry: int) -> float:
        """Return the delay before retry number ``retry`` (0-based): ``base * 2**retry``, jittered by +-50%."""
        return min(self.backoff_max_s, self.backoff_base_s * (2 ** retry)) * random.uniform(0.5, 1.5)


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, endpoint: str, *,
                      sleep: Callable[[float], None] = time.sleep) -> tuple[T, int]:
    """Call ``fn`` until it succeeds, retrying :class:`TransientBackendError` per ``policy``.

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
            sleep(policy.delay(retries))
            retries += 1
