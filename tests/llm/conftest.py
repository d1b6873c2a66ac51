from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.store.workspace import Workspace
from tests.fakes.openai_server import FakeOpenAIServer, openai_server, openai_server_session  # noqa: F401

API_KEY = "sk-test-9f8e7d6c5b4a-never-store-me"


@pytest.fixture
def workspace(tmp_path) -> Iterator[Workspace]:
    ws = Workspace(tmp_path / "ws.sqlite")
    yield ws
    ws.close()


@pytest.fixture
def backend(openai_server: FakeOpenAIServer) -> OpenAIBackend:  # noqa: F811 - fixture argument
    return OpenAIBackend(openai_server.base_url, API_KEY, "fake-model", timeout_s=5.0)


@pytest.fixture
def client(backend: OpenAIBackend, workspace: Workspace) -> LLMClient:
    return LLMClient(backend, workspace, backoff_base_s=0.001, timeout_s=5.0)
