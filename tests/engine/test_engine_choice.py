"""Choosing an engine: names, options and the pages' configuration (no Ray is started here)."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.__main__ import main
from core.embed.hashing import HashingEmbedder
from core.engine import make_engine
from core.engine.work import embedder_kind
from core.errors import InputError
from core.llm.types import ChatRequest
from core.stages.profile import PipelineSettings
from core.views.eval_view import configured_engine_run
from tests.engine.conftest import make_client


def test_engine_names_and_options_are_checked():
    assert make_engine("local").name == "local"
    ray_engine = make_engine("ray", address="ray://head:10001", worker_cpus=0.5)
    assert ray_engine.name == "ray" and ray_engine.address == "ray://head:10001"
    with pytest.raises(InputError, match="--address needs --engine ray"):
        make_engine("local", address="auto")
    with pytest.raises(InputError, match="unknown engine 'spark'"):
        make_engine("spark")
    with pytest.raises(InputError, match="worker_cpus"):
        make_engine("ray", worker_cpus=0)


def test_the_cli_names_a_bad_engine_option(tmp_path, capsys):
    sample = str(Path(__file__).resolve().parents[2] / "sample_data" / "reviews.csv")
    code = main(["build", sample, "--workspace", str(tmp_path / "ws.sqlite"), "--address", "auto"])
    assert code == 2 and "--address needs --engine ray" in capsys.readouterr().err


def test_pages_engine_comes_from_the_environment(endpoint):
    client, settings = make_client(endpoint, None), PipelineSettings()
    assert configured_engine_run(client, HashingEmbedder(), settings, environ={}) is None
    assert configured_engine_run(client, HashingEmbedder(), settings, environ={"INFLOW_ENGINE": "local"}) is None
    run = configured_engine_run(client, HashingEmbedder(), settings,
                                environ={"INFLOW_ENGINE": "ray", "INFLOW_RAY_ADDRESS": "auto", "INFLOW_MAX_RPM": "600"})
    assert run.engine.name == "ray" and run.engine.address == "auto"
    assert run.spec.embedder == "hashing" and run.spec.backend["base_url"] == endpoint.base_url
    assert "api_key" not in run.spec.backend and run.limits.rpm == 600 and run.limits.max_in_flight == 8
    with pytest.raises(InputError, match="INFLOW_MAX_TPM"):
        configured_engine_run(client, HashingEmbedder(), settings,
                              environ={"INFLOW_ENGINE": "ray", "INFLOW_MAX_TPM": "-1"})


def test_only_rebuildable_embedders_go_to_workers():
    assert embedder_kind(HashingEmbedder()) == "hashing"
    assert embedder_kind(SimpleNamespace(name="minilm-l6-v2-int8")) == "minilm"
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        embedder_kind(SimpleNamespace(name="counting"))


def test_rate_limits_hold_on_the_local_path_too(endpoint):
    from core.cli.engine_args import budget_local_client

    client = make_client(endpoint, None)
    assert budget_local_client(client, {}) is None and client.limiter is None
    budget = budget_local_client(client, {"INFLOW_MAX_RPM": "2"})
    assert client.limiter is budget and budget.state.limits.rpm == 2
    for text in ("a", "b"):
        client.chat(ChatRequest([{"role": "user", "content": text}]))
    assert budget.stats().calls == 2
    assert budget.state.try_acquire("probe", 1, time.monotonic())[0] is None  # a third must wait
