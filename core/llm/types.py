"""The small protocols and records of the LLM layer.

A *backend* sends one chat request to one model (OpenAI-compatible HTTP, or the embedded
llama.cpp model). The *client* (:mod:`core.llm.client`) wraps any backend with the cross-cutting
concerns: cache, retries, concurrency, structured-output validation and traces. Stages only ever
talk to the client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


@dataclass(frozen=True)
class Capabilities:
    """What a backend can honestly do, so the pipeline can pick stage implementations.

    Attributes:
        backend: Backend kind, e.g. ``"openai"`` or ``"local"``.
        model: Model name or file.
        structured_output: The backend can be held to a JSON schema (server-side or by grammar).
        free_text_quality: ``"good"`` for capable models; ``"weak"`` for tiny local models whose free
            text is unreliable (the pipeline then uses deterministic stage implementations).
        context_length: Context window in tokens.
        cost_per_1k_input: USD per 1k prompt tokens, if known.
        cost_per_1k_output: USD per 1k completion tokens, if known.
    """

    backend: str
    model: str
    structured_output: bool = True
    free_text_quality: str = "good"
    context_length: int = 8192
    cost_per_1k_input: float | None = None
    cost_per_1k_output: float | None = None

    @property
    def is_weak(self) -> bool:
        """True when free text from this model should not drive a stage."""
        return self.free_text_quality != "good"


@dataclass
class ChatRequest:
    """One chat call.

    Attributes:
        messages: OpenAI-style messages.
        schema: A pydantic model the output must validate against (structured call), or None.
        max_tokens: Completion cap.
        temperature: Sampling temperature (0 = greedy; cached calls assume determinism).
        stage: Pipeline stage name recorded in the trace (``features``, ``summary``, ``answer``...).
        run_id: Workspace run this call belongs to, recorded in the trace.
        timeout_s: Per-attempt timeout in seconds; None = the client's default. Not part of the cache key.
        content_free: For closed-choice calls: the same messages with the *input* replaced by a
            content-free one (e.g. ``"N/A"``), template and instructions kept. Backends that score
            options calibrate against it (see :mod:`core.llm.choice_scoring`); None = the last user
            message's whole content is replaced instead. Part of the cache key when set.
    """

    messages: list[Message]
    schema: type[BaseModel] | None = None
    max_tokens: int = 512
    temperature: float = 0.0
    stage: str = "llm"
    run_id: str | None = None
    timeout_s: float | None = None
    content_free: list[Message] | None = None


@dataclass
class RawCompletion:
    """What a backend returns for one call, before validation.

    Attributes:
        text: The completion text.
        tokens_in: Prompt tokens (0 = not reported).
        tokens_out: Completion tokens.
        model: The model that answered.
        extra: JSON-ready details the client copies into ``ChatResult.extra`` (and the cache), e.g.
            the local backend's ``choice_scores`` (option distributions of a closed-choice answer).
    """

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChatResult:
    """What the client returns for one call.

    Attributes:
        text: The raw completion text.
        parsed: The validated pydantic object for structured calls, else None.
        tokens_in: Prompt tokens (0 when served from cache is NOT assumed: cached values are kept).
        tokens_out: Completion tokens.
        latency_ms: Wall time of this call (near 0 for a cache hit).
        cache_hit: Served from the workspace cache without a model call.
        retries: Retries made for transient faults.
        trace_id: Row id of the trace record, if traced.
        extra: Details: ``tokens_estimated``, ``repaired``, plus the backend's ``RawCompletion.extra``
            (e.g. ``choice_scores``); kept in the cache.
    """

    text: str
    parsed: BaseModel | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    cache_hit: bool = False
    retries: int = 0
    trace_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Progress:
    """Progress of a batch: passed to a callback after each call finishes."""

    done: int
    total: int
    failures: int
    cache_hits: int


ProgressCallback = Callable[[Progress], None]


@runtime_checkable
class ChatBackend(Protocol):
    """One model endpoint. Implementations: OpenAI-compatible HTTP, embedded llama.cpp."""

    capabilities: Capabilities

    def complete(self, request: ChatRequest, json_schema: dict[str, Any] | None) -> RawCompletion:
        """Send one request and return the raw completion.

        Args:
            request: The call.
            json_schema: JSON schema to constrain the output to, or None for free text.

        Raises:
            TransientBackendError: Timeouts, 429, 5xx: the client retries these.
            core.errors.BackendError: Anything that retrying will not fix.
        """
        ...

    def cache_identity(self) -> dict[str, Any]:
        """Return what identifies this backend's outputs for caching (kind, model, base URL, ...).

        Never include an API key.
        """
        ...


class TransientBackendError(Exception):
    """A fault worth retrying (timeout, HTTP 429, HTTP 5xx, connection reset).

    Attributes:
        status: HTTP status, or None.
        retry_after_s: The server's ``Retry-After`` in seconds (None when it sent none): the next
            attempt waits at least this long.
    """

    def __init__(self, message: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        """Create the error with an optional HTTP status and ``Retry-After`` delay."""
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s
