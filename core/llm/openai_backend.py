"""A chat backend for any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

Structured calls try, in order, ``response_format`` ``json_schema`` (strict), ``json_object`` with
the schema in the system prompt, and plain text with the schema in the system prompt. When the
server rejects a mode (HTTP 400/422) the next one is tried; the first mode that works is remembered
for this backend, so later calls go straight to it. The client validates every answer with pydantic.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from core.llm.errors import EndpointError
from core.llm.openai_common import call_openai, make_openai_client, resolve_connection
from core.llm.structured import schema_name, strict_schema, with_schema_instruction
from core.llm.types import Capabilities, ChatRequest, RawCompletion, TransientBackendError

MODES = ("json_schema", "json_object", "text")
REJECTED_STATUSES = frozenset({400, 415, 422})
DEFAULT_CONTEXT_LENGTH = 8192


class OpenAIBackend:
    """Chat completions through the official ``openai`` client.

    Args:
        base_url: API base URL (``.../v1``); default ``$OPENAI_BASE_URL``, else the OpenAI API.
        api_key: API key; default ``$OPENAI_API_KEY``. Kept in memory only: never part of the cache
            identity, a trace, an error message or ``repr``.
        model: Model name; default ``$INFLOW_MODEL``.
        timeout_s: Default per-request timeout (a request's ``timeout_s`` wins).
        context_length: The model's context window, if known (reported in capabilities).
        free_text_quality: ``"good"`` or ``"weak"`` (tiny served models), reported in capabilities.

    Raises:
        core.errors.InputError: No model, or no key for the OpenAI API.
    """

    def __init__(self, base_url: str | None, api_key: str | None, model: str | None, timeout_s: float = 60.0, *,
                 context_length: int | None = None, free_text_quality: str = "good") -> None:
        """Create the backend (no network call is made)."""
        url, key, name = resolve_connection(base_url, api_key, model)
        self.base_url = url
        self.model = name
        self.timeout_s = timeout_s
        self.endpoint = f"{url}/chat/completions"
        self._api_key = key
        self._client = make_openai_client(url, key, timeout_s)
        self._mode = MODES[0]
        self._token_param = "max_tokens"
        self._lock = threading.Lock()
        self.capabilities = Capabilities(backend="openai", model=name, structured_output=True,
                                         free_text_quality=free_text_quality,
                                         context_length=context_length or DEFAULT_CONTEXT_LENGTH)

    def __repr__(self) -> str:
        """Show endpoint and model, never the key."""
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r})"

    @property
    def structured_mode(self) -> str:
        """The response-format mode structured calls use now (``json_schema``, ``json_object`` or ``text``)."""
        return self._mode

    def cache_identity(self) -> dict[str, Any]:
        """Return kind, base URL and model (never the key)."""
        return {"kind": "openai", "base_url": self.base_url, "model": self.model}

    def complete(self, request: ChatRequest, json_schema: dict[str, Any] | None) -> RawCompletion:
        """Send one chat completion; see :class:`core.llm.types.ChatBackend`."""
        if json_schema is None:
            return self._send(request, request.messages, None)
        start = MODES.index(self._mode)
        rejected: EndpointError | None = None
        for mode in MODES[start:]:
            messages = request.messages if mode == "json_schema" else with_schema_instruction(request.messages,
                                                                                              json_schema)
            try:
                raw = self._send(request, messages, self._response_format(mode, request, json_schema))
            except EndpointError as exc:
                if exc.status not in REJECTED_STATUSES:
                    raise
                rejected = rejected or exc
                continue
            if mode != self._mode:
                self._downgrade(mode)
            return raw
        assert rejected is not None
        raise rejected

    # -- helpers ----------------------------------------------------------------------------------
    def _downgrade(self, mode: str) -> None:
        with self._lock:
            if MODES.index(mode) > MODES.index(self._mode):
                self._mode = mode
                self.capabilities = dataclasses.replace(self.capabilities, structured_output=False)

    @staticmethod
    def _response_format(mode: str, request: ChatRequest, schema: dict[str, Any]) -> dict[str, Any] | None:
        if mode == "json_schema":
            name = schema_name(request.schema) if request.schema is not None else "output"
            return {"type": "json_schema", "json_schema": {"name": name, "schema": strict_schema(schema),
                                                           "strict": True}}
        if mode == "json_object":
            return {"type": "json_object"}
        return None

    def _send(self, request: ChatRequest, messages: list[dict[str, str]],
              response_format: dict[str, Any] | None) -> RawCompletion:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": request.temperature,
                                  self._token_param: request.max_tokens}
        if response_format is not None:
            kwargs["response_format"] = response_format
        try:
            resp = call_openai(lambda: self._post(kwargs, request.timeout_s or self.timeout_s), self.endpoint,
                               self._api_key)
        except EndpointError as exc:
            # Newer OpenAI models refuse ``max_tokens``: switch the parameter name once and resend.
            if exc.status == 400 and "max_completion_tokens" in exc.detail and self._token_param == "max_tokens":
                self._token_param = "max_completion_tokens"
                return self._send(request, messages, response_format)
            raise
        return self._raw(resp)

    def _post(self, body: dict[str, Any], timeout_s: float) -> Any:
        """POST the body as built here, through the official client's documented raw-request method.

        ``chat.completions.create`` would first re-walk the body against its typed parameters, which
        costs ~1.5 ms per call (mostly inside the JSON schema); the body here is already plain JSON.
        """
        from openai.types.chat import ChatCompletion

        return self._client.post("/chat/completions", body=body, cast_to=ChatCompletion,
                                 options={"timeout": timeout_s})

    def _raw(self, resp: Any) -> RawCompletion:
        choices = getattr(resp, "choices", None)
        if not choices:
            raise TransientBackendError(f"response from {self.endpoint} has no choices")
        message = choices[0].message
        if getattr(message, "refusal", None):
            raise EndpointError(self.endpoint, None, f"the model refused: {message.refusal}")
        usage = getattr(resp, "usage", None)
        return RawCompletion(text=message.content or "", tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
                             tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
                             model=getattr(resp, "model", "") or self.model)
