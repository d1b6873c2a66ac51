"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It speaks ``POST /v1/chat/completions``, ``POST /v1/embeddings`` and ``GET /v1/models`` well enough
for the official ``openai`` client, so tests exercise the real client and real HTTP (never a patched
client). It can:

* add latency to every request (``latency_s``);
* inject faults from a FIFO queue, one per chat/embedding request: ``"timeout"`` (sleep ``hang_s``,
  past the client's timeout), ``"429"`` (with a ``Retry-After: <retry_after>`` header when that is
  set), ``"500"``, ``"503"``, ``"malformed"`` (200 with a broken JSON body), ``"drop"`` (the
  connection is closed with no response), ``"schema"`` (200 with a reply that violates the schema,
  ``{"wrong": 1}``), ``"400"``, ``"401"`` and ``"reject_schema"`` (400 for a ``json_schema`` response
  format); or at random: ``fault_rate`` of the requests get a fault drawn evenly from ``fault_kinds``
  (seeded, so a run is repeatable);
* reject ``json_schema`` (and optionally ``json_object``) response formats on every request, like
  servers that do not support them;
* answer through a ``responder(messages, response_format) -> str`` hook; the default answers a
  JSON-schema request with a valid instance (also when the schema is only in the system prompt)
  and echoes the last user message otherwise;
* record every request and the most requests it ever had in flight at once.

Usage::

    with FakeOpenAIServer(latency_s=0.05) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

Responder = Callable[[list[dict[str, Any]], dict[str, Any] | None], str]

FAULTS = ("timeout", "429", "500", "503", "malformed", "drop", "schema", "400", "401", "reject_schema")
SCHEMA_VIOLATION = '{"wrong": 1}'  # what a ``"schema"`` fault answers: valid JSON, not an instance of the schema


# -- a small JSON-schema instance generator ---------------------------------------------------------
def schema_instance(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """Return a deterministic value valid against ``schema``.

    Handles ``object``, ``array``, ``string`` (``enum``, ``const``, ``minLength``), ``number``,
    ``integer`` (``minimum``/``maximum``), ``boolean``, ``null``, ``anyOf``/``oneOf``/``allOf`` and
    local ``$ref``s.
    """
    root = root if root is not None else schema
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        return schema_instance(root.get("$defs", {}).get(name, {}), root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return schema_instance(options[0], root)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(part)
        return schema_instance(merged, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        return {name: schema_instance(sub, root) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [schema_instance(schema.get("items", {}), root) for _ in range(count)]
    if kind == "string":
        return "x" * max(int(schema.get("minLength", 0)), 4) if schema.get("minLength") else "text"
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        high = schema.get("maximum", schema.get("exclusiveMaximum", low + 1))
        value = max(low, min(high, 1))
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "text"


def schema_in_messages(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return a JSON schema embedded in the system message (the text-mode fallback), or None."""
    for m in messages:
        if m.get("role") != "system":
            continue
        content = m.get("content") or ""
        start = content.find('{"')
        while start >= 0:
            try:
                value, _ = json.JSONDecoder().raw_decode(content, start)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, dict) and ("properties" in value or "type" in value):
                return value
            start = content.find('{"', start + 1)
    return None


def default_responder(messages: list[dict[str, Any]], response_format: dict[str, Any] | None) -> str:
    """Answer with a valid instance of the requested schema, else echo the last user message."""
    schema = None
    if response_format and response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema")
    if schema is None:
        schema = schema_in_messages(messages)
    if schema is not None:
        return json.dumps(schema_instance(schema))
    user = [m.get("content") or "" for m in messages if m.get("role") == "user"]
    return f"echo: {user[-1] if user else ''}"


def fake_embedding(text: str, dim: int) -> np.ndarray:
    """Return a deterministic unit vector for ``text`` (seeded by its SHA-256)."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


# -- the server -----------------------------------------------------------------------------------
class FakeOpenAIServer:
    """An OpenAI-compatible server on an ephemeral 127.0.0.1 port, run in a background thread.

    Args:
        latency_s: Sleep added to every chat / embedding request.
        model: Model id reported by ``/v1/models`` and in responses.
        responder: ``(messages, response_format) -> content`` for chat completions.
        reject_json_schema: Answer 400 to every ``json_schema`` response format.
        reject_json_object: Answer 400 to every ``json_object`` response format.
        reject_max_tokens: Answer 400 to ``max_tokens`` (as newer OpenAI models do), asking for
            ``max_completion_tokens``.
        hang_s: How long a ``"timeout"`` fault sleeps before answering.
        embedding_dim: Dimension of ``/v1/embeddings`` vectors.
        retry_after: ``Retry-After`` header value sent with ``"429"`` faults (None: no header).
        hold_429: Behave like a real rate limiter: after a ``"429"`` fault with a numeric ``retry_after``,
            every request in the next ``retry_after`` seconds gets a 429 too (recorded as fault ``"429"``).

    Attributes:
        requests: Every request as ``{"path", "body", "authorization"}``, in arrival order.
        max_in_flight: Most chat / embedding requests handled at once.
    """

    def __init__(self, *, latency_s: float = 0.0, model: str = "fake-model", responder: Responder | None = None,
                 reject_json_schema: bool = False, reject_json_object: bool = False, reject_max_tokens: bool = False,
                 hang_s: float = 2.0, embedding_dim: int = 32, retry_after: str | None = None,
                 hold_429: bool = False) -> None:
        self.latency_s = latency_s
        self.model = model
        self.responder: Responder = responder or default_responder
        self.reject_json_schema = reject_json_schema
        self.reject_json_object = reject_json_object
        self.reject_max_tokens = reject_max_tokens
        self.hang_s = hang_s
        self.embedding_dim = embedding_dim
        self.retry_after = retry_after
        self.hold_429 = hold_429
        self._held_until = 0.0
        self.fault_rate = 0.0
        self.fault_kinds: tuple[str, ...] = ()
        self._rng = random.Random(0)
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()  # wakes requests hanging on a "timeout" fault
        self._defaults = (latency_s, self.responder, reject_json_schema, reject_json_object, reject_max_tokens, hang_s,
                          retry_after)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ----------------------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        """Bind an ephemeral port and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.request_queue_size = 128
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url`` of this server (``http://127.0.0.1:<port>/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def add_faults(self, *faults: str) -> None:
        """Queue faults; each chat / embedding request consumes the next one."""
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {FAULTS}")
        with self._lock:
            self._faults.extend(faults)

    def random_faults(self, rate: float, kinds: tuple[str, ...], seed: int = 0) -> None:
        """Give each later chat / embedding request a fault with probability ``rate``, drawn evenly from ``kinds``.

        Queued faults (:meth:`add_faults`) still come first.
        """
        unknown = [f for f in kinds if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {FAULTS}")
        with self._lock:
            self.fault_rate, self.fault_kinds, self._rng = float(rate), tuple(kinds), random.Random(seed)

    def reset(self) -> None:
        """Restore the constructor's settings; forget requests, pending faults and the in-flight maximum.

        Requests still hanging on a ``"timeout"`` fault are released and awaited first, so one test's
        leftovers never show up in the next test's counters.
        """
        self._release.set()
        deadline = time.monotonic() + 5.0
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.005)
        self._release.clear()
        with self._lock:
            (self.latency_s, self.responder, self.reject_json_schema, self.reject_json_object,
             self.reject_max_tokens, self.hang_s, self.retry_after) = self._defaults
            self.fault_rate, self.fault_kinds = 0.0, ()
            self.requests.clear()
            self._faults.clear()
            self.max_in_flight = 0

    def calls(self, path: str = "/v1/chat/completions") -> list[dict[str, Any]]:
        """Return the recorded requests to ``path``."""
        with self._lock:
            return [r for r in self.requests if r["path"] == path]

    @property
    def chat_calls(self) -> int:
        """Number of chat-completion requests received."""
        return len(self.calls())

    # -- used by the handler ----------------------------------------------------------------------
    def _enter(self, path: str, body: Any, authorization: str | None) -> str | None:
        with self._lock:
            self.requests.append({"path": path, "body": body, "authorization": authorization,
                                  "at": time.monotonic()})
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            now = time.monotonic()
            if now < self._held_until:
                fault: str | None = "429"
            elif self._faults:
                fault = self._faults.popleft()
            elif self.fault_rate and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.fault_kinds)
            else:
                fault = None
            self.requests[-1]["fault"] = fault
            if fault == "429" and self.hold_429 and self.retry_after and self.retry_after.strip().isdigit():
                self._held_until = max(self._held_until, now + float(self.retry_after))
            return fault

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one write (flushed after each request) ...

    def setup(self) -> None:
        super().setup()
        # ... and without Nagle's delay, which otherwise stalls keep-alive responses by ~40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # silence request logs
        return

    def _send(self, status: int, payload: Any = None, raw: bytes | None = None,
              headers: dict[str, str] | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout fault)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error",
               headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": None, "param": None}}, headers=headers)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/_stats":  # fake-only: lets another process read the counters
            self._send(200, {"chat_calls": self.fake.chat_calls, "max_in_flight": self.fake.max_in_flight,
                             "requests": len(self.fake.requests)})
        elif self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.fake.model, "object": "model", "created": 0,
                                                          "owned_by": "fake"}]})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._error(400, "request body is not JSON")
            return
        path = self.path.rstrip("/")
        if path not in ("/v1/chat/completions", "/v1/embeddings"):
            self._error(404, f"no route {self.path}")
            return
        fault = self.fake._enter(path, body, self.headers.get("Authorization"))
        try:
            if self.fake.latency_s:
                time.sleep(self.fake.latency_s)
            if fault == "schema" and path == "/v1/chat/completions":
                self._chat(body, reject_schema=False, content=SCHEMA_VIOLATION)
            elif fault is not None and fault != "reject_schema":
                self._fault(fault)
            elif path == "/v1/chat/completions":
                self._chat(body, reject_schema=fault == "reject_schema")
            else:
                self._embeddings(body)
        finally:
            self.fake._leave()

    def _fault(self, fault: str) -> None:
        if fault == "timeout":
            self.fake._release.wait(self.fake.hang_s)
            self._error(504, "the fake server hung (timeout fault)", "server_error")
        elif fault == "malformed":
            self._send(200, raw=b'{"id": "chatcmpl-broken", "choices": [')
        elif fault == "drop":  # the connection goes away before any response byte
            self.close_connection = True
            try:
                self.request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        elif fault == "429" and self.fake.retry_after is not None:
            self._error(429, "injected HTTP 429", "rate_limit", headers={"Retry-After": self.fake.retry_after})
        elif fault == "401":  # echoes the key, like the worst servers do: callers must redact it
            key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            self._error(401, f"Incorrect API key provided: {key}", "authentication_error")
        elif fault == "400":
            self._error(400, "bad request (injected fault)")
        else:
            self._error(int(fault), f"injected HTTP {fault}", "server_error" if fault != "429" else "rate_limit")

    def _chat(self, body: dict[str, Any], *, reject_schema: bool, content: str | None = None) -> None:
        if "max_tokens" in body and self.fake.reject_max_tokens:
            self._error(400, "Unsupported parameter: 'max_tokens' is not supported with this model. "
                             "Use 'max_completion_tokens' instead.")
            return
        fmt = body.get("response_format")
        kind = (fmt or {}).get("type")
        if kind == "json_schema" and (reject_schema or self.fake.reject_json_schema):
            self._error(400, "response_format json_schema is not supported by this server")
            return
        if kind == "json_object" and self.fake.reject_json_object:
            self._error(400, "response_format json_object is not supported by this server")
            return
        messages = body.get("messages") or []
        if content is None:
            content = self.fake.responder(messages, fmt)
        prompt = sum(_tokens(m.get("content") or "") for m in messages)
        self._send(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", self.fake.model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": _usage(prompt, _tokens(content)),
        })

    def _embeddings(self, body: dict[str, Any]) -> None:
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        data = []
        for i, text in enumerate(texts):
            vec = fake_embedding(str(text), self.fake.embedding_dim)
            emb: Any = (base64.b64encode(vec.astype("<f4").tobytes()).decode("ascii")
                        if body.get("encoding_format") == "base64" else vec.tolist())
            data.append({"object": "embedding", "index": i, "embedding": emb})
        prompt = sum(_tokens(str(t)) for t in texts)
        self._send(200, {"object": "list", "data": data, "model": body.get("model", self.fake.model),
                         "usage": {"prompt_tokens": prompt, "total_tokens": prompt}})


class ServerProcess:
    """A :class:`FakeOpenAIServer` in a child process, so its CPU work does not share the caller's GIL.

    Benchmarks use it; tests use the in-process server. Counters come from the fake-only
    ``GET /v1/_stats`` endpoint.

    Args:
        latency_s: Server latency per request.
    """

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> ServerProcess:
        root = Path(__file__).resolve().parents[2]
        self._proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--latency",
                                       str(self.latency_s)], cwd=root, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        self.base_url = self._proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            raise RuntimeError("the fake server process did not start")
        return self

    def stats(self) -> dict[str, int]:
        """Return ``{"chat_calls", "max_in_flight", "requests"}`` from the server."""
        with urllib.request.urlopen(f"{self.base_url}/_stats", timeout=5) as resp:
            return json.loads(resp.read())

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()  # the child exits when its stdin closes
            self._proc.wait(timeout=10)


def _main() -> None:
    parser = argparse.ArgumentParser(description="Serve the fake OpenAI API until stdin closes.")
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    with FakeOpenAIServer(latency_s=args.latency) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


@pytest.fixture(scope="session")
def openai_server_session() -> Iterator[FakeOpenAIServer]:
    """One :class:`FakeOpenAIServer` for the whole test session (use ``openai_server`` in tests)."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def openai_server(openai_server_session: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    """The session's fake server, reset to default settings before and after the test.

    Import both fixtures into a ``conftest.py``:
    ``from tests.fakes.openai_server import openai_server, openai_server_session``.
    """
    openai_server_session.reset()
    yield openai_server_session
    openai_server_session.reset()


if __name__ == "__main__":
    _main()
