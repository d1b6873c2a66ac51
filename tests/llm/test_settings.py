from __future__ import annotations

import json
import socket

import pytest

from core.errors import InputError
from core.llm.client import LLMClient
from core.llm.factory import make_client
from core.llm.openai_backend import OpenAIBackend
from core.llm.settings import BackendSettings
from core.llm.types import ChatRequest
from tests.fakes.openai_server import FakeOpenAIServer
from tests.llm.conftest import API_KEY


def test_from_env_and_to_dict_never_holds_the_key() -> None:
    env = {"INFLOW_BACKEND": "openai", "OPENAI_BASE_URL": "http://h:1/v1", "OPENAI_API_KEY": API_KEY,
           "INFLOW_MODEL": "m", "INFLOW_MAX_CONCURRENCY": "3", "INFLOW_CONTEXT_LENGTH": "4096"}
    s = BackendSettings.from_env(env)
    assert (s.kind, s.base_url, s.model, s.api_key, s.max_concurrency) == ("openai", "http://h:1/v1", "m", API_KEY, 3)
    assert API_KEY not in json.dumps(s.to_dict()) and API_KEY not in repr(s)
    assert s.context_length == 4096
    assert BackendSettings.from_dict(s.to_dict()) == BackendSettings("openai", "http://h:1/v1", "m", None, None, 3,
                                                                     4096)


def test_from_env_defaults_to_local() -> None:
    assert BackendSettings.from_env({}) == BackendSettings()


def test_from_env_bad_concurrency() -> None:
    with pytest.raises(InputError) as err:
        BackendSettings.from_env({"INFLOW_MAX_CONCURRENCY": "many"})
    assert err.value.field == "max_concurrency"


@pytest.mark.parametrize(("settings", "field"), [
    (BackendSettings(kind="cloud"), "kind"),  # type: ignore[arg-type]
    (BackendSettings(kind="openai", base_url="http://h/v1"), "model"),
    (BackendSettings(kind="openai", model="m", base_url="localhost:8000"), "base_url"),
    (BackendSettings(max_concurrency=0), "max_concurrency"),
    (BackendSettings(context_length=16), "context_length"),
])
def test_bad_settings_name_the_field(settings: BackendSettings, field: str, monkeypatch) -> None:
    monkeypatch.delenv("INFLOW_MODEL", raising=False)
    with pytest.raises(InputError) as err:
        make_client(settings, None)
    assert err.value.field == field and err.value.file == "settings"


def test_openai_api_without_key_is_an_input_error(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(InputError) as err:
        make_client(BackendSettings(kind="openai", model="gpt-4o-mini"), None, check=False)
    assert err.value.field == "api_key"


def test_unreachable_base_url() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(InputError) as err:
        make_client(BackendSettings(kind="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1"), None)
    assert err.value.field == "base_url" and "cannot reach" in str(err.value)


def test_make_client_against_loopback(openai_server: FakeOpenAIServer) -> None:
    settings = BackendSettings(kind="openai", base_url=openai_server.base_url, model="fake-model", api_key=API_KEY,
                               max_concurrency=2)
    client = make_client(settings, None, backoff_base_s=0.01)
    assert isinstance(client, LLMClient) and isinstance(client.backend, OpenAIBackend)
    assert client.max_concurrency == 2 and client.capabilities.backend == "openai"
    assert client.capabilities.context_length == 8192
    assert client.chat(ChatRequest([{"role": "user", "content": "hi"}])).text == "echo: hi"


def test_env_fills_the_openai_backend(openai_server: FakeOpenAIServer, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("INFLOW_MODEL", "env-model")
    backend = OpenAIBackend(None, None, None)
    assert backend.base_url == openai_server.base_url and backend.model == "env-model"
    LLMClient(backend).chat(ChatRequest([{"role": "user", "content": "hi"}]))
    call = openai_server.calls()[0]
    assert call["body"]["model"] == "env-model" and call["authorization"] == f"Bearer {API_KEY}"


def test_capabilities_are_honest(openai_server: FakeOpenAIServer) -> None:
    caps = OpenAIBackend(openai_server.base_url, None, "m", context_length=32768).capabilities
    assert (caps.backend, caps.model, caps.context_length) == ("openai", "m", 32768)
    assert caps.cost_per_1k_input is None and caps.cost_per_1k_output is None and not caps.is_weak


def test_custom_server_needs_no_key(openai_server: FakeOpenAIServer, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = OpenAIBackend(openai_server.base_url, None, "m")
    LLMClient(backend).chat(ChatRequest([{"role": "user", "content": "hi"}]))
    assert openai_server.calls()[0]["authorization"] == "Bearer no-key"


def test_no_cache_environment_switch_reaches_the_client():
    assert BackendSettings.from_env({}).use_cache is True
    off = BackendSettings.from_env({"INFLOW_NO_CACHE": "1"})
    assert off.use_cache is False and off.to_dict()["use_cache"] is False
    assert BackendSettings.from_dict(off.to_dict()).use_cache is False
    off.kind, off.base_url, off.model = "openai", "http://127.0.0.1:9/v1", "m"
    assert make_client(off, None, check=False).use_cache is False
    assert make_client(off, None, check=False, use_cache=True).use_cache is True


def test_local_model_from_env_form_and_validation(monkeypatch):
    from core.ui_state import settings_from_form

    s = BackendSettings.from_env({"INFLOW_LOCAL_MODEL": "qwen2.5-coder-0.5b"})
    assert s.local_model == "qwen2.5-coder-0.5b"
    assert BackendSettings.from_dict(s.to_dict()).local_model == "qwen2.5-coder-0.5b"
    assert settings_from_form("local", local_model="smollm2-135m").local_model == "smollm2-135m"
    assert settings_from_form("local", base=s).local_model == "qwen2.5-coder-0.5b"
    with pytest.raises(InputError) as err:
        BackendSettings(kind="local", local_model="gpt-9").validate()
    assert err.value.field == "local_model" and "qwen2.5-coder-1.5b" in str(err.value)
