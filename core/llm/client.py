"""The LLM client: cache, retries, bounded concurrency, structured validation and traces over any backend.

Stages never call a backend directly; they build :class:`~core.llm.types.ChatRequest` objects and
call :meth:`LLMClient.chat` or :meth:`LLMClient.map`.

* **Cache**: content-addressed by the backend's ``cache_identity()``, model, temperature,
  max_tokens, messages and the JSON schema. Re-running a stage over the same inputs makes no model
  call. ``use_cache=False`` bypasses reading *and* writing.
* **Retries**: :class:`~core.llm.types.TransientBackendError` (timeouts, 429, 5xx, connection
  errors, malformed bodies) is retried with exponential backoff and jitter, never sooner than a
  server's ``Retry-After`` (seconds or HTTP-date), which also holds back every other call of the
  client until it has passed (a rate limit is the endpoint's, not one call's); when retries run out
  a :class:`core.errors.BackendError` names the endpoint, status and message.
* **Structured calls**: the pydantic model's JSON schema goes to the backend; the answer is
  validated with pydantic and, if invalid, asked for again (``schema_repairs`` times, default 2)
  with the validation error appended; a reply that still does not validate fails the call.
* **Concurrency**: at most ``max_concurrency`` backend calls run at once, across ``map`` and any
  threads calling ``chat``; identical calls in flight at the same time are sent once (the others
  wait and read the answer from the cache).
* **Traces**: every call (cache hits and failures too) is written to the workspace.
* **Extra**: a backend's ``RawCompletion.extra`` (e.g. the local backend's ``choice_scores``) is
  merged into ``ChatResult.extra`` and cached with the answer; ``choice_scores`` also goes to the
  trace's own ``choice_scores`` column so the option probabilities can be shown.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ValidationError

from core.errors import BackendError
from core.llm.errors import EndpointError
from core.llm.limits import CallLimiter, limited_call
from core.llm.retry import HoldOff, RetryPolicy, call_with_retries
from core.llm.structured import (
    StructuredOutputError,
    json_schema_of,
    parse_structured,
    repair_messages,
    schema_name,
)
from core.llm.tokens import count_message_tokens, count_tokens
from core.llm.types import (
    Capabilities,
    ChatBackend,
    ChatRequest,
    ChatResult,
    Message,
    Progress,
    ProgressCallback,
    RawCompletion,
    TransientBackendError,
)
from core.store.workspace import Workspace, stable_hash

CACHE_VERSION = 1
DEFAULT_REMOTE_CONCURRENCY = 8
DEFAULT_LOCAL_CONCURRENCY = 1


def endpoint_of(backend: ChatBackend) -> str:
    """Return how errors and traces name a backend's endpoint (its ``endpoint`` attribute, else its kind)."""
    return str(getattr(backend, "endpoint", None) or backend.capabilities.backend)


@dataclass
class ClientStats:
    """Counters of one client since it was created.

    Attributes:
        model_calls: Requests sent to the backend (each retry and repair counts).
        cache_hits: Calls served from the cache.
        failures: Calls that ended in an error.
    """

    model_calls: int = 0
    cache_hits: int = 0
    failures: int = 0


def stats_snapshot(client: Any | None) -> tuple[int, int, int]:
    """Return ``(model_calls, cache_hits, failures)`` of a client so far ((0, 0, 0) without one)."""
    stats = getattr(client, "stats", None)
    return (0, 0, 0) if stats is None else (stats.model_calls, stats.cache_hits, stats.failures)


def activity_note(client: Any | None, since: tuple[int, int, int] = (0, 0, 0)) -> str:
    """Return ``" · 12 model calls, 30 cache hits, 1 failed"`` since a snapshot ('' when there were none).

    Progress displays (the CLI bar, the pages' ``st.progress`` labels) append it to their stage label.
    """
    calls, hits, failed = (now - then for now, then in zip(stats_snapshot(client), since, strict=True))
    if not (calls or hits or failed):
        return ""
    return (f" · {calls} model call{'' if calls == 1 else 's'}, {hits} cache hit{'' if hits == 1 else 's'}, "
            f"{failed} failed")


@dataclass
class _Attempt:
    """What one ``chat`` call has done so far (for its trace, whether it succeeds or fails)."""

    messages: list[Message]
    text: str | None = None
    parsed: BaseModel | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    retries: int = 0
    estimated: bool = False
    repaired: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # the last completion's RawCompletion.extra


class LLMClient:
    """Send chat requests through a backend with cache, retries, concurrency bound and traces.

    Args:
        backend: The model endpoint.
        workspace: Where the cache and traces live; None disables both.
        max_concurrency: Most backend calls in flight at once; default 8 for remote backends and
            1 for the local model (llama.cpp runs one call at a time anyway).
        max_retries: Retries of a transient fault before giving up.
        timeout_s: Per-attempt timeout passed to the backend (a request's own ``timeout_s`` wins).
        use_cache: Read and write the workspace cache.
        backoff_base_s: First retry delay; doubles per retry, jittered (a server's ``Retry-After`` wins).
        schema_repairs: Round trips asking again, with the validation error, for a structured reply
            that does not match its schema; after them the call fails.
        limiter: A budget shared with other clients (e.g. every Ray worker's), asked before each
            request (see :mod:`core.llm.limits`); None: this client's own bound only.

    Examples:
        >>> from core.llm.openai_backend import OpenAIBackend  # doctest: +SKIP
        >>> client = LLMClient(OpenAIBackend(None, None, "gpt-4o-mini"), Workspace("ws.sqlite"))  # doctest: +SKIP
        >>> client.chat(ChatRequest([{"role": "user", "content": "Hi"}])).text  # doctest: +SKIP
    """

    def __init__(self, backend: ChatBackend, workspace: Workspace | None = None, *,
                 max_concurrency: int | None = None, max_retries: int = 4, timeout_s: float = 60.0,
                 use_cache: bool = True, backoff_base_s: float = 0.5, schema_repairs: int = 2,
                 limiter: CallLimiter | None = None) -> None:
        """Create the client."""
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.backend = backend
        self.workspace = workspace
        local = backend.capabilities.backend == "local"
        self.max_concurrency = max_concurrency or (DEFAULT_LOCAL_CONCURRENCY if local else DEFAULT_REMOTE_CONCURRENCY)
        self.policy = RetryPolicy(max_retries=max_retries, backoff_base_s=backoff_base_s)
        self.timeout_s = timeout_s
        self.schema_repairs = max(0, int(schema_repairs))
        self.use_cache = use_cache
        self.endpoint = endpoint_of(backend)
        self.stats = ClientStats()
        self.limiter = limiter
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._stats_lock = threading.Lock()
        self._hold = HoldOff(self.policy.retry_after_max_s)  # a server's Retry-After holds every call of this client
        self._flight_lock = threading.Lock()
        self._in_flight: dict[str, threading.Event] = {}  # cache keys being asked right now (see _join_in_flight)

    @property
    def capabilities(self) -> Capabilities:
        """What the backend can do."""
        return self.backend.capabilities

    # -- public API ---------------------------------------------------------------------------------
    def chat(self, request: ChatRequest) -> ChatResult:
        """Run one call.

        Returns:
            The result; ``parsed`` holds the validated object for structured calls.

        Raises:
            core.errors.BackendError: Retries ran out, the endpoint refused the call, or the output
                did not match the schema after the repairs (endpoint, status and message named).
        """
        return self._call(request)

    def map(self, requests: list[ChatRequest],
            progress: ProgressCallback | None = None) -> list[ChatResult | BackendError]:
        """Run many calls on a bounded thread pool; one failure does not stop the batch.

        Args:
            requests: The calls.
            progress: Called in the calling thread after each call finishes with
                ``Progress(done, total, failures, cache_hits)``. Raising from it cancels the calls
                not yet started and propagates.

        Returns:
            One entry per request, in request order: a :class:`ChatResult`, or the
            :class:`core.errors.BackendError` that call ended with.
        """
        total = len(requests)
        results: list[ChatResult | BackendError | None] = [None] * total
        if not total:
            return []
        done = failures = hits = 0
        pool = ThreadPoolExecutor(max_workers=min(self.max_concurrency, total), thread_name_prefix="llm")
        try:
            futures: dict[Future[ChatResult], int] = {pool.submit(self._call, r): i for i, r in enumerate(requests)}
            for fut in as_completed(futures):
                try:
                    res: ChatResult | BackendError = fut.result()
                except BackendError as exc:
                    res = exc
                    failures += 1
                else:
                    hits += int(res.cache_hit)
                results[futures[fut]] = res
                done += 1
                if progress is not None:
                    progress(Progress(done=done, total=total, failures=failures, cache_hits=hits))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return [r for r in results if r is not None]

    def cache_key(self, request: ChatRequest) -> str:
        """Return the content address of a request's answer."""
        return self._cache_key(request, json_schema_of(request.schema) if request.schema else None)

    # -- one call -----------------------------------------------------------------------------------
    def _cache_key(self, request: ChatRequest, schema: dict[str, Any] | None) -> str:
        key: dict[str, Any] = {
            "v": CACHE_VERSION, "backend": self.backend.cache_identity(), "model": self.capabilities.model,
            "temperature": request.temperature, "max_tokens": request.max_tokens, "messages": request.messages,
            "schema": schema,
        }
        if request.content_free is not None:  # only when set, so keys of other calls do not change
            key["content_free"] = request.content_free
        return stable_hash(key)

    def _call(self, request: ChatRequest) -> ChatResult:
        start = time.perf_counter()
        schema = json_schema_of(request.schema) if request.schema else None
        key = self._cache_key(request, schema)
        cached = self._cache_read(key, request)
        owned = False
        if cached is None:
            leader, owned = self._join_in_flight(key)
            if leader is not None:  # the same call is in flight in another thread: its answer lands in the cache
                leader.wait()
                cached = self._cache_read(key, request)
        if cached is not None:
            cached.latency_ms = (time.perf_counter() - start) * 1000
            self._count(cache_hits=1)
            cached.trace_id = self._trace(request, request.messages, cached, error=None)
            return cached
        try:
            return self._call_model(request, schema, key, start)
        finally:
            if owned:
                self._leave_in_flight(key)

    def _join_in_flight(self, key: str) -> tuple[threading.Event | None, bool]:
        """Claim ``key`` for this thread, or return the event of the thread already calling it.

        Returns ``(None, True)`` when this thread claimed the key (it must call :meth:`_leave_in_flight`),
        ``(event, False)`` when another thread holds it, and ``(None, False)`` without a cache.

        Identical requests in one batch (two items with the same text) then cost one model call, not one
        each: the followers wait and read the leader's answer from the cache. A follower whose leader
        failed makes the call itself. Only with a cache: without one the followers would have nothing to read.
        """
        if not (self.use_cache and self.workspace is not None):
            return None, False
        with self._flight_lock:
            leader = self._in_flight.get(key)
            if leader is None:
                self._in_flight[key] = threading.Event()
            return leader, leader is None

    def _leave_in_flight(self, key: str) -> None:
        with self._flight_lock:
            event = self._in_flight.pop(key, None)
        if event is not None:
            event.set()

    def _call_model(self, request: ChatRequest, schema: dict[str, Any] | None, key: str, start: float) -> ChatResult:
        req = replace(request, timeout_s=request.timeout_s or self.timeout_s)
        att = _Attempt(messages=request.messages)
        try:
            self._complete(req, schema, att)
            if request.schema is not None:
                self._validate(req, schema, att)
        except BackendError as exc:
            self._count(failures=1)
            latency = (time.perf_counter() - start) * 1000
            failed = ChatResult(text=att.text or "", tokens_in=att.tokens_in, tokens_out=att.tokens_out,
                                latency_ms=latency, retries=att.retries, extra=dict(att.extra))
            self._trace(request, att.messages, failed, error=str(exc))
            raise
        result = ChatResult(text=att.text or "", parsed=att.parsed, tokens_in=att.tokens_in,
                            tokens_out=att.tokens_out, latency_ms=(time.perf_counter() - start) * 1000,
                            retries=att.retries,
                            extra={"tokens_estimated": att.estimated, "repaired": att.repaired, **att.extra})
        if request.schema is not None or result.text.strip():  # an empty free-text reply is asked for again next time
            self._cache_write(key, result)
        result.trace_id = self._trace(request, att.messages, result, error=None)
        return result

    def _complete(self, request: ChatRequest, schema: dict[str, Any] | None, att: _Attempt) -> None:
        """Send ``att.messages`` with retries and add the completion to ``att``."""
        req = replace(request, messages=att.messages)

        def once() -> RawCompletion:
            self._hold.wait()
            with self._slots:
                self._count(model_calls=1)
                try:
                    if self.limiter is not None:  # one budget across clients: ask it for a slot too
                        return limited_call(self.limiter, lambda: self.backend.complete(req, schema),
                                            count_message_tokens(req.messages))
                    return self.backend.complete(req, schema)
                except TransientBackendError as exc:
                    if exc.retry_after_s:
                        self._hold.until(exc.retry_after_s)
                    raise

        try:
            raw, retries = call_with_retries(once, self.policy, self.endpoint)
        except EndpointError as exc:
            att.retries += exc.retries
            raise
        att.retries += retries
        att.text = raw.text
        att.extra = dict(raw.extra or {})
        if raw.tokens_in or raw.tokens_out:
            att.tokens_in += raw.tokens_in
            att.tokens_out += raw.tokens_out
        else:  # the backend reported no usage: estimate (see core.llm.tokens)
            att.estimated = True
            att.tokens_in += count_message_tokens(att.messages)
            att.tokens_out += count_tokens(raw.text)

    def _validate(self, request: ChatRequest, schema: dict[str, Any] | None, att: _Attempt) -> None:
        """Parse ``att.text`` into the request's schema, with up to ``schema_repairs`` repair round trips.

        A reply that does not validate (missing fields included: no schema field has a default that
        would let ``{"wrong": 1}`` through) is a failed attempt, never an empty result: it is asked
        for again with the validation error, and when the repairs run out the call fails.
        """
        assert request.schema is not None
        for repair in range(self.schema_repairs + 1):
            try:
                att.parsed = parse_structured(att.text or "", request.schema)
                return
            except StructuredOutputError as exc:
                if repair == self.schema_repairs:
                    raise EndpointError(self.endpoint, None,
                                        f"output does not match schema {schema_name(request.schema)} after "
                                        f"{repair} repair{'s' if repair != 1 else ''}: {exc}",
                                        retries=att.retries) from exc
                # Repair from the original conversation, not the last repair: the prompt stays one turn long.
                att.messages = repair_messages(request.messages, att.text or "", str(exc))
                att.repaired = True
            self._complete(request, schema, att)

    # -- cache, trace, stats ----------------------------------------------------------------------
    def _cache_read(self, key: str, request: ChatRequest) -> ChatResult | None:
        if not (self.use_cache and self.workspace is not None):
            return None
        hit = self.workspace.cache_get(key)
        if hit is None:
            return None
        parsed = None
        if request.schema is not None:
            try:
                parsed = request.schema.model_validate(hit.get("parsed"))
            except ValidationError:
                return None  # the model's validators changed since; ask again
        return ChatResult(text=hit["text"], parsed=parsed, tokens_in=int(hit.get("tokens_in", 0)),
                          tokens_out=int(hit.get("tokens_out", 0)), cache_hit=True, extra=dict(hit.get("extra", {})))

    def _cache_write(self, key: str, result: ChatResult) -> None:
        if not (self.use_cache and self.workspace is not None):
            return
        value = {"text": result.text, "parsed": result.parsed.model_dump(mode="json") if result.parsed else None,
                 "tokens_in": result.tokens_in, "tokens_out": result.tokens_out, "extra": result.extra}
        self.workspace.cache_put(key, value, backend=self.capabilities.backend, model=self.capabilities.model)

    def _trace(self, request: ChatRequest, messages: list[Message], result: ChatResult, *,
               error: str | None) -> int | None:
        if self.workspace is None:
            return None
        parsed = result.parsed.model_dump(mode="json") if result.parsed else None
        return self.workspace.add_trace({
            "run_id": request.run_id, "stage": request.stage, "backend": self.capabilities.backend,
            "model": self.capabilities.model, "messages": messages, "output": result.text,
            "parsed": parsed, "choice_scores": result.extra.get("choice_scores") or None,
            "tokens_in": result.tokens_in, "tokens_out": result.tokens_out, "latency_ms": result.latency_ms,
            "cache_hit": result.cache_hit, "retries": result.retries, "error": error,
        })

    def _count(self, *, model_calls: int = 0, cache_hits: int = 0, failures: int = 0) -> None:
        with self._stats_lock:
            self.stats.model_calls += model_calls
            self.stats.cache_hits += cache_hits
            self.stats.failures += failures
