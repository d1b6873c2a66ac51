"""``python -m core stage NAME --run RUN``: re-run one stage of a stored run as a new run."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from core.__main__ import main
from core.embed.hashing import HashingEmbedder
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from tests.stages.conftest import durability_dataset

STAGES = ["features", "projection", "clustering", "factors", "summary", "paths"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stage") / "ws.sqlite"
    with Workspace(path) as ws:
        ws.add_dataset(durability_dataset(n=24))
        build_profile(ws, "dura", "ava", client=None, embedder=HashingEmbedder(dim=64),
                      settings=PipelineSettings(extractor="lexicon", hdbscan_min_cluster_size=4))
    return path


@pytest.fixture
def workspace(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INFLOW_BACKEND", "local")
    copy = tmp_path / "ws.sqlite"
    shutil.copy(built, copy)
    return copy


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("stage", STAGES)
def test_stage_reruns_with_the_same_parameters_and_parents(workspace, capsys, stage):
    code, out, err = run_cli(capsys, "stage", stage, "--run", f"{stage}-001", "--workspace", str(workspace), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["run_label"] == f"{stage}-002" and data["source_run_label"] == f"{stage}-001"
    assert data["status"] == "done" and data["changed"] == []
    with Workspace(workspace) as ws:
        old, new = ws.resolve_run(f"{stage}-001"), ws.get_run(data["run_id"])
        assert new.id != old.id and new.label == f"{stage}-002"
        assert new.params == old.params and new.parents == old.parents
        assert (new.dataset_id, new.user_id) == ("dura", "ava")
        if stage == "clustering":  # the same inputs and parameters give the same output
            assert ws.get_artifact(new.id, "labels") == ws.get_artifact(old.id, "labels")
        if stage == "factors":
            assert [f["name"] for f in ws.get_artifact(new.id, "factors")] == \
                [f["name"] for f in ws.get_artifact(old.id, "factors")]


def test_stage_by_id_prints_the_new_label(workspace, capsys):
    with Workspace(workspace) as ws:
        rid = ws.resolve_run("summary-001").id
    code, out, err = run_cli(capsys, "stage", "summary", "--run", rid, "--workspace", str(workspace))
    assert code == 0, err
    assert out.startswith("summary run summary-002 (summary-") and f"repeats summary-001 ({rid})" in out


def test_stage_errors_name_the_problem(workspace, tmp_path, capsys):
    code, _, err = run_cli(capsys, "stage", "factors", "--run", "factors-009", "--workspace", str(workspace))
    assert code == 2 and "run: no run 'factors-009'" in err and "latest factors runs: factors-001" in err
    code, _, err = run_cli(capsys, "stage", "summary", "--run", "factors-001", "--workspace", str(workspace))
    assert code == 2 and "is a factors run, not a summary run" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "stage", "factors", "--run", "factors-001", "--workspace",
                           str(tmp_path / "missing.sqlite"))
    assert code == 2 and "no such workspace file" in err
    with pytest.raises(SystemExit):  # argparse: an unknown stage name
        main(["stage", "profile", "--run", "profile-001", "--workspace", str(workspace)])


def test_build_prints_the_readable_run_labels(workspace, tmp_path, capsys, monkeypatch):
    path = tmp_path / "reviews.csv"
    rows = ["user_id,review_id,review_text,rating"] + [f"ava,{it.id},{it.input},{it.output}"
                                                        for it in durability_dataset(n=24).users[0].items]
    path.write_text("\n".join(rows) + "\n")
    ws_path = tmp_path / "fresh.sqlite"
    code, out, err = run_cli(capsys, "build", str(path), "--workspace", str(ws_path), "--extractor", "lexicon",
                             "--embedder", "hashing", "--min-cluster-size", "4")
    assert code == 0, err
    assert "Runs: features-001, projection-001, clustering-001, factors-001, summary-001, paths-001, profile-001" \
        in out


def test_a_model_stage_reruns_on_the_stored_backend_and_model(tmp_path, capsys, monkeypatch):
    from core.llm.client import LLMClient
    from core.llm.openai_backend import OpenAIBackend
    from tests.fakes.openai_server import FakeOpenAIServer

    path = tmp_path / "ws.sqlite"
    with FakeOpenAIServer() as server:
        with Workspace(path) as ws:
            ws.add_dataset(durability_dataset(n=24))
            client = LLMClient(OpenAIBackend(server.base_url, "sk-test", "fake-model"), ws, max_retries=0)
            build_profile(ws, "dura", "ava", client=client, embedder=HashingEmbedder(dim=64),
                          settings=PipelineSettings(extractor="lexicon", namer="keywords", summarizer="llm",
                                                    paths="template", hdbscan_min_cluster_size=4))
        monkeypatch.setenv("INFLOW_BACKEND", "openai")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
        monkeypatch.setenv("INFLOW_MODEL", "another-model")  # the run's model is used, not the default one
        code, out, err = run_cli(capsys, "stage", "summary", "--run", "summary-001", "--workspace", str(path),
                                 "--json", "--no-cache")
    assert code == 0, err
    data = json.loads(out)
    with Workspace(path) as ws:
        old, new = ws.resolve_run("summary-001"), ws.get_run(data["run_id"])
        assert new.params["summarizer"]["model"] == "fake-model" and new.params == old.params
        assert ws.get_artifact(new.id, "text") == ws.get_artifact(old.id, "text")
        calls = ws.list_traces(new.id)
        assert len(calls) == 1 and calls[0]["model"] == "fake-model" and not calls[0]["cache_hit"]
        assert "sk-test-secret" not in json.dumps(dataclasses.asdict(new))
