"""Turn :class:`~core.llm.settings.BackendSettings` into a backend and a ready :class:`~core.llm.client.LLMClient`."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlparse

from core.errors import InputError, Problem
from core.llm.client import LLMClient
from core.llm.local_backend import LocalLlamaBackend
from core.llm.openai_backend import OpenAIBackend
from core.llm.settings import SOURCE, BackendSettings
from core.llm.types import ChatBackend
from core.store.workspace import Workspace

REACH_TIMEOUT_S = 3.0
DEFAULT_LOCAL_CONTEXT = 2048


def check_reachable(base_url: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Open (and close) a TCP connection to the host of ``base_url``.

    Raises:
        InputError: The host cannot be reached (field ``base_url``).
    """
    url = urlparse(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise InputError(Problem(SOURCE, None, "base_url", f"cannot reach {base_url}: {exc}")) from None


def make_backend(settings: BackendSettings, *, check: bool = True) -> ChatBackend:
    """Create the backend the settings describe.

    Args:
        settings: The settings.
        check: For ``openai``, first check that the base URL's host answers (a TCP connect).

    Raises:
        InputError: Bad settings, an unreachable endpoint, or a missing local model (field named).
    """
    settings.validate()
    if settings.kind == "openai":
        backend = OpenAIBackend(settings.base_url, settings.api_key, settings.model,
                                context_length=settings.context_length)
        if check:
            check_reachable(backend.base_url)
        return backend
    return LocalLlamaBackend(settings.gguf_path, n_ctx=settings.context_length or DEFAULT_LOCAL_CONTEXT,
                             local_model=settings.local_model)


def make_client(settings: BackendSettings, workspace: Workspace | None, *, check: bool = True,
                **client_kwargs: Any) -> LLMClient:
    """Create a client for the settings' backend.

    Args:
        settings: Backend settings.
        workspace: Cache and trace store (None: neither).
        check: Check that a remote endpoint is reachable first.
        **client_kwargs: Passed to :class:`~core.llm.client.LLMClient` (``use_cache``, ``max_retries``...);
            ``use_cache`` defaults to ``settings.use_cache``.

    Raises:
        InputError: Bad settings, unreachable endpoint, missing local model (field named).
    """
    client_kwargs.setdefault("use_cache", settings.use_cache)
    return LLMClient(make_backend(settings, check=check), workspace,
                     max_concurrency=settings.max_concurrency, **client_kwargs)
