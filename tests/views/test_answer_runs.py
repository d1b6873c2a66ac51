"""One policy for recording answers and ablations: the runs, parents and artifacts both the pages and the CLI get."""

from __future__ import annotations

import pytest

from core.embed.hashing import HashingEmbedder
from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from core.views.answering import ablate_query, answer_query, answer_runs
from tests.fakes.openai_server import FakeOpenAIServer
from tests.stages.conftest import durability_dataset


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    ws = Workspace(tmp_path_factory.mktemp("answers") / "ws.sqlite")
    ws.add_dataset(durability_dataset(n=24))
    emb = HashingEmbedder(dim=64)
    profile = build_profile(ws, "dura", "ava", client=None, embedder=emb,
                            settings=PipelineSettings(extractor="lexicon", hdbscan_min_cluster_size=4))
    with FakeOpenAIServer() as server:
        client = LLMClient(OpenAIBackend(server.base_url, "sk-test", "fake-model"), ws, max_retries=0)
        yield ws, profile, client, emb
    ws.close()


def test_answer_then_ablate_each_factor_files_every_call_under_a_run(setup):
    ws, profile, client, emb = setup
    rec = answer_query(ws, profile, method="zero", query="The lid broke.", client=client, embedder=emb, k=2)
    run = ws.get_run(rec.run_id)
    assert run.stage == "answer" and run.status == "done" and rec.run_label == run.label
    assert run.parents == sorted(profile.run_ids.values()) and run.params["source"] == "workbench"
    ab = ablate_query(ws, profile, method="zero", query="The lid broke.", client=client, embedder=emb, k=2,
                      all_factors=True, answer_run_id=rec.run_id)
    arun = ws.get_run(ab.run_id)
    assert arun.stage == "ablation" and arun.status == "done" and arun.parents == [rec.run_id]
    assert len(ab.results) == len([f for f in profile.factors if not f.is_noise])
    assert ws.get_artifact(ab.run_id, "ablation")["results"][0]["removed"] == ab.results[0].removed
    untraced = [t for t in ws.list_traces(limit=10_000) if t["stage"] == "answer" and not t["run_id"]]
    assert untraced == []  # "Ablate each factor" used to file its calls under no run
    listed = answer_runs(ws, "dura", "ava")
    assert listed[0]["run_id"] == rec.run_id and listed[0]["run_label"] == rec.run_label


def test_an_ablation_without_an_answer_run_hangs_on_the_profile(setup):
    ws, profile, client, emb = setup
    ab = ablate_query(ws, profile, method="zero", query="Fast shipping.", client=client, embedder=emb, k=2,
                      summary=True, source="cli")
    run = ws.get_run(ab.run_id)
    assert run.parents == sorted(profile.run_ids.values()) and run.params["source"] == "cli"
    assert run.params["remove"] == {"factor": None, "item": None, "summary": True}
