"""One policy for stage mode -> pipeline settings and for the default embedder (CLI, pages, engines)."""

from __future__ import annotations

import pytest

from core.embed import factory
from core.embed.factory import default_embedder_kind, embedder_choice, embedder_kind_of
from core.embed.hashing import HashingEmbedder
from core.stages.profile import PipelineSettings
from core.views.build_settings import pipeline_settings


def test_stage_modes_pick_each_stage_implementation():
    det = pipeline_settings("deterministic", "hashing")
    assert (det.extractor, det.namer, det.summarizer, det.paths, det.embedder) == (
        "lexicon", "keywords", "template", "template", "hash")
    llm = pipeline_settings("llm", "minilm")
    assert (llm.extractor, llm.namer, llm.summarizer, llm.paths, llm.embedder) == ("llm", "llm", "llm", "llm", "minilm")
    auto = pipeline_settings("auto", "openai", overrides={"hdbscan_min_cluster_size": 7, "n_factors": 3})
    assert (auto.extractor, auto.paths, auto.embedder) == ("auto", "auto", "openai")
    assert auto.hdbscan_min_cluster_size == 7 and auto.n_factors == 3
    assert isinstance(auto, PipelineSettings)


def test_no_mode_follows_the_environment(monkeypatch):
    monkeypatch.setenv("INFLOW_STAGES", "deterministic")
    assert pipeline_settings(None, "hashing").extractor == "lexicon"
    monkeypatch.setenv("INFLOW_STAGES", "nonsense")
    assert pipeline_settings(None, "hashing").extractor == "auto"


def test_default_embedder_from_the_environment_else_what_is_installed(monkeypatch):
    assert default_embedder_kind({"INFLOW_EMBEDDER": "hash"}) == "hashing"
    assert default_embedder_kind({"INFLOW_EMBEDDER": " OpenAI "}) == "openai"
    assert default_embedder_kind({"INFLOW_EMBEDDER": "minilm"}) == "minilm"
    monkeypatch.setattr(factory, "minilm_installed", lambda: False)
    assert default_embedder_kind({}) == "hashing"
    assert default_embedder_kind({"INFLOW_EMBEDDER": "unknown"}) == "hashing"
    monkeypatch.setattr(factory, "minilm_installed", lambda: True)
    assert default_embedder_kind({}) == "minilm"


@pytest.mark.parametrize(("name", "expected"), [
    ("hashing-v1-d64", ("hashing", {"dim": 64})),
    ("minilm-l6-v2-int8", ("minilm", {})),
    ("openai:text-embedding-3-small", ("openai", {})),
    ("counting", None),
])
def test_embedder_kind_from_its_name(name, expected):
    assert embedder_kind_of(name) == expected


def test_a_built_profiles_embedder_is_reused_else_the_default():
    assert embedder_choice(HashingEmbedder(dim=32).name, {"INFLOW_EMBEDDER": "openai"}) == ("hashing", {"dim": 32})
    assert embedder_choice(None, {"INFLOW_EMBEDDER": "openai"}) == ("openai", {})
    assert embedder_choice("counting", {"INFLOW_EMBEDDER": "hash"}) == ("hashing", {})
