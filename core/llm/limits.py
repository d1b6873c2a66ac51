"""The hook through which an outside budget (one for a whole cluster) gates every model call.

An :class:`LLMClient` bounds the calls *it* has in flight with its own semaphore. When many
clients share one endpoint (Ray workers, each with its own client), a :class:`CallLimiter` passed
to the client is asked for a slot before each request and told when it ends, so the budget it
keeps (calls in flight, requests and tokens per minute) holds for all of them together. A 429 from
the endpoint is reported to the limiter, which pauses every client, not just the one that saw it.

Nothing here knows about Ray: :mod:`core.engine.budget` implements the protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from core.llm.types import TransientBackendError

T = TypeVar("T")

DEFAULT_429_PAUSE_S = 1.0


@runtime_checkable
class CallLimiter(Protocol):
    """A budget shared by every client that calls one endpoint."""

    def acquire(self, tokens: int) -> Any:
        """Block until a call estimated at ``tokens`` prompt tokens may start; return a lease."""
        ...

    def release(self, lease: Any, tokens: int) -> None:
        """End the call of ``lease``; ``tokens`` is what it really used (prompt + completion)."""
        ...

    def pause(self, seconds: float) -> None:
        """Hold back every client's next calls for ``seconds`` (the endpoint said 429)."""
        ...


def limited_call(limiter: CallLimiter, fn: Callable[[], T], tokens: int) -> T:
    """Run ``fn`` (one request to the endpoint) inside a slot of ``limiter``.

    A 429 pauses the whole budget for the server's ``Retry-After`` when the error carries one
    (``retry_after_s``), else :data:`DEFAULT_429_PAUSE_S`; the error still propagates so the
    client's own retry policy decides whether to try again.
    """
    lease = limiter.acquire(tokens)
    used = tokens
    try:
        result = fn()
        used = int(getattr(result, "tokens_in", 0) or 0) + int(getattr(result, "tokens_out", 0) or 0) or tokens
        return result
    except TransientBackendError as exc:
        if exc.status == 429:
            limiter.pause(float(exc.retry_after_s or DEFAULT_429_PAUSE_S))
        raise
    finally:
        limiter.release(lease, used)
