"""What the OpenAI-compatible chat backend and embedder share: settings lookup, client, error mapping.

The official ``openai`` client is created with ``max_retries=0``: :mod:`core.llm.retry` owns retries.
Its exceptions are mapped to :class:`~core.llm.types.TransientBackendError` (timeouts, connection
errors, 408/409/429/5xx, malformed bodies) or :class:`~core.llm.errors.EndpointError` (everything a
retry will not fix). Every message is passed through :func:`~core.llm.errors.redact` so the API
key cannot leak into errors, traces or logs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from core.errors import InputError, Problem
from core.llm.errors import EndpointError, redact
from core.llm.retry import parse_retry_after
from core.llm.types import TransientBackendError

T = TypeVar("T")

ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_API_KEY = "OPENAI_API_KEY"
ENV_MODEL = "INFLOW_MODEL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "no-key"  # local servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


def resolve_connection(base_url: str | None, api_key: str | None, model: str | None, *,
                       model_env: str = ENV_MODEL) -> tuple[str, str, str]:
    """Fill base URL, key and model from the environment where not given.

    Returns:
        ``(base_url, api_key, model)``; the key is :data:`NO_KEY` for a custom base URL without one.

    Raises:
        InputError: No model, or no key for the official OpenAI endpoint (field named).
    """
    url = (base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")
    key = api_key or os.environ.get(ENV_API_KEY) or ""
    name = model or os.environ.get(model_env) or ""
    if not name:
        raise InputError(Problem("settings", None, "model",
                                 f"no model name: pass one or set {model_env} (e.g. gpt-4o-mini, llama3.1)"))
    if not key:
        if url == DEFAULT_BASE_URL:
            raise InputError(Problem("settings", None, "api_key",
                                     f"the OpenAI API needs a key: set {ENV_API_KEY} or use another base_url"))
        key = NO_KEY
    return url, key, name


def make_openai_client(base_url: str, api_key: str, timeout_s: float) -> Any:
    """Return an ``openai.OpenAI`` client that never retries by itself.

    Raises:
        InputError: The ``openai`` package is not installed.
    """
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - openai is a runtime requirement
        raise InputError(Problem("settings", None, "kind", "the openai package is missing: pip install openai"))\
            from exc
    return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0)


def map_openai_error(exc: Exception, endpoint: str, secret: str | None) -> Exception:
    """Return the Inflow error for an exception raised by the ``openai`` client (unknown ones unchanged)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return TransientBackendError(f"request to {endpoint} timed out")
    if isinstance(exc, openai.APIConnectionError):
        return TransientBackendError(redact(f"cannot connect to {endpoint}: {exc.__cause__ or exc}", secret))
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = redact(_status_message(exc), secret)
        if status in TRANSIENT_STATUSES or status >= 500:
            headers = getattr(getattr(exc, "response", None), "headers", None)
            return TransientBackendError(message, status=status, retry_after_s=parse_retry_after(headers))
        return EndpointError(endpoint, status, message)
    if isinstance(exc, (openai.APIResponseValidationError, json.JSONDecodeError)):
        return TransientBackendError(f"malformed response body from {endpoint}: {redact(str(exc), secret)[:200]}")
    return exc


def _status_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", "") or exc)


def call_openai(fn: Callable[[], T], endpoint: str, secret: str | None) -> T:
    """Run an ``openai`` client call, mapping its exceptions with :func:`map_openai_error`."""
    try:
        return fn()
    except Exception as exc:  # mapped; unknown errors re-raised unchanged
        mapped = map_openai_error(exc, endpoint, secret)
        if mapped is exc:
            raise
        raise mapped from None
