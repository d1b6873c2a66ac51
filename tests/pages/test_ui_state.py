from pathlib import Path

import pytest

from core.errors import InputError
from core.llm.types import Capabilities
from core.store.workspace import Workspace
from core.ui_state import (
    SAMPLE_DIR,
    backend_status,
    check_workspace_path,
    dataset_caption,
    dataset_short_caption,
    default_stage_mode,
    default_workspace_path,
    ensure_sample_data,
    extractor_choice,
    sample_choices,
    settings_from_form,
)


def test_status_for_weak_local_model_uses_deterministic_stages():
    caps = Capabilities(backend="local", model="SmolLM2-135M.gguf", free_text_quality="weak")
    st = backend_status(caps, "auto")
    assert st.weak and st.stages["features"] == "lexicon (VADER)" and st.stages["summary"] == "template"
    assert "too small" in st.warnings[0]
    assert st.line.startswith("Backend local · SmolLM2-135M.gguf · stages: features lexicon")
    forced = backend_status(caps, "llm")
    assert forced.stages["features"] == "LLM" and "forced" in forced.warnings[0]
    assert backend_status(caps, "deterministic").warnings == []


def test_status_for_capable_and_missing_backends():
    good = backend_status(Capabilities(backend="openai", model="gpt"), "auto")
    assert set(good.stages.values()) == {"LLM"} and not good.warnings
    assert backend_status(Capabilities(backend="openai", model="gpt"), "deterministic").stages["features"] != "LLM"
    none = backend_status(None, error="llama-cpp-python missing")
    assert none.backend == "none" and "llama-cpp-python missing" in none.warnings[0]


def test_defaults_from_environment(tmp_path: Path):
    assert default_workspace_path({}).parts[-2:] == (".inflow", "workspace.sqlite")
    assert default_workspace_path({"INFLOW_WORKSPACE": str(tmp_path / "w.sqlite")}) == tmp_path / "w.sqlite"
    assert default_stage_mode({"INFLOW_STAGES": "Deterministic"}) == "deterministic"
    assert default_stage_mode({"INFLOW_STAGES": "bogus"}) == "auto"
    assert extractor_choice("deterministic") == "lexicon" and extractor_choice("auto") == "auto"


def test_check_workspace_path(tmp_path: Path):
    assert check_workspace_path(str(tmp_path / "new" / "w.sqlite")) == tmp_path / "new" / "w.sqlite"
    assert (tmp_path / "new").is_dir()
    with pytest.raises(InputError) as err:
        check_workspace_path(str(tmp_path))
    assert err.value.field == "workspace"
    with pytest.raises(InputError):
        check_workspace_path("  ")


def test_settings_from_form_validates_and_keeps_key_out_of_dict():
    s = settings_from_form("openai", base_url="http://127.0.0.1:9/v1", model="m", api_key="sk-abc")
    assert s.kind == "openai" and s.api_key == "sk-abc" and "sk-abc" not in str(s.to_dict())
    with pytest.raises(InputError) as err:
        settings_from_form("openai", base_url="nope", model="m")
    assert err.value.field == "base_url"
    assert settings_from_form("local").kind == "local"


@pytest.mark.skipif(not (SAMPLE_DIR / "reviews.csv").exists(), reason="sample data missing")
def test_sample_data_loads_once_into_a_fresh_workspace():
    ws = Workspace(":memory:")
    assert ensure_sample_data(ws) == ["reviews", "movie_tags"]
    info = {d["id"]: d for d in ws.list_datasets()}
    assert info["reviews"]["task"].kind == "score" and info["movie_tags"]["task"].kind == "label"
    assert dataset_caption(info["reviews"]).startswith("reviews · score 1-5 · ")
    assert dataset_short_caption(info["reviews"]) == "reviews · 4 users · 342 items"  # fits the sidebar
    assert ensure_sample_data(ws) == []  # not twice
    choices = sample_choices()
    assert [p.name for p in choices["lamp3_reviews"]] == ["lamp3_reviews_questions.json", "lamp3_reviews_outputs.json"]
    assert "lamp3_reviews_outputs" not in choices
