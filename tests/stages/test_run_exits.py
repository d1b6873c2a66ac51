"""Every kind of job closes its run when it dies: no run is left ``running`` (the one run protocol).

Each test kills one job (a stage, an answer, an ablation, an evaluation) with an exception raised by
a fake extractor / embedder / clusterer / namer / summarizer / path writer / client, then looks at
every run of the workspace.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.data.model import split_last
from core.embed.hashing import HashingEmbedder
from core.llm.types import Capabilities
from core.stages.cluster import run_clustering
from core.stages.factors import load_factors, run_factors
from core.stages.features import load_features, run_features
from core.stages.lexicon import LexiconFeatureExtractor
from core.stages.paths import run_paths
from core.stages.pipeline import build_profile, load_profile
from core.stages.profile import PipelineSettings, Profile
from core.stages.project import load_projection, run_projection
from core.stages.summary import run_summary
from core.store.workspace import Workspace
from tests.stages.conftest import durability_dataset

SETTINGS = PipelineSettings(extractor="lexicon", namer="keywords", summarizer="template", paths="template",
                            hdbscan_min_cluster_size=4)


class Boom(RuntimeError):
    """The failure every fake raises."""


class _Fake:
    name = "boom"

    def identity(self) -> dict:
        return {"kind": "boom"}


class BoomExtractor(_Fake):
    def extract(self, items, task, progress=None, *, run_id=None):
        raise Boom("extractor down")


class BoomEmbedder:
    name = "boom-embedder"

    def embed(self, texts):
        raise Boom("embedder down")


class BoomClusterer(_Fake):
    def fit_predict(self, x):
        raise Boom("clusterer down")


class BoomNamer(_Fake):
    def name_factors(self, factors, features, vectors=None, *, run_id=None):
        raise Boom("namer down")


class BoomSummarizer(_Fake):
    def summarize(self, factors, items, task, *, run_id=None):
        raise Boom("summarizer down")  # not a BackendError: no template fallback, the run must fail


class BoomWriter(_Fake):
    def write(self, items, features, factors, assignments, task, progress=None, *, run_id=None):
        raise Boom("writer down")


class BoomClient:
    """A chat client whose every call fails."""

    capabilities = Capabilities(backend="openai", model="boom")

    def chat(self, request):
        raise Boom("backend down")

    def map(self, requests, progress=None):
        raise Boom("backend down")


@pytest.fixture(scope="module")
def built_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exits") / "ws.sqlite"
    ws = Workspace(path)
    ws.add_dataset(durability_dataset(n=24))
    build_profile(ws, "dura", "ava", client=None, embedder=HashingEmbedder(dim=64), settings=SETTINGS)
    ws.close()  # checkpoints the WAL: the file alone holds everything
    return path


@pytest.fixture
def ws(built_file: Path, tmp_path: Path):
    copy = tmp_path / "ws.sqlite"
    shutil.copy(built_file, copy)
    w = Workspace(copy)
    yield w
    w.close()


def _profile(ws: Workspace) -> Profile:
    profile = load_profile(ws, "dura", "ava")
    assert profile is not None
    return profile


def _kill_features(ws: Workspace) -> None:
    run_features(ws, "dura", "ava", BoomExtractor())


def _kill_projection(ws: Workspace) -> None:
    p = _profile(ws)
    run_projection(ws, p.run_ids["features"], p.all_features(), BoomEmbedder(), dataset_id="dura", user_id="ava")


def _kill_clustering(ws: Workspace) -> None:
    proj = load_projection(ws, _profile(ws).run_ids["projection"])
    run_clustering(ws, proj.run_id, proj.feature_ids, proj.coordsnd, BoomClusterer(), dataset_id="dura",
                   user_id="ava")


def _kill_factors(ws: Workspace) -> None:
    p = _profile(ws)
    labels = {f.id: 0 for f in p.all_features()}
    run_factors(ws, p.run_ids["clustering"], p.all_features(), labels, p.items, p.task, namer=BoomNamer(),
                dataset_id="dura", user_id="ava")


def _kill_summary(ws: Workspace) -> None:
    p = _profile(ws)
    run_summary(ws, p.run_ids["factors"], p.factors, p.items, p.task, BoomSummarizer(), dataset_id="dura",
                user_id="ava")


def _kill_paths(ws: Workspace) -> None:
    p = _profile(ws)
    run_paths(ws, p.run_ids["factors"], p.items, p.features, p.factors, p.assignments, p.task, BoomWriter(),
              dataset_id="dura", user_id="ava")


def _kill_answer(ws: Workspace) -> None:
    from core.views.answering import answer_query

    answer_query(ws, _profile(ws), method="zero", query="The lid broke.", client=BoomClient(),
                 embedder=HashingEmbedder(dim=64))


def _kill_ablation(ws: Workspace) -> None:
    from core.views.answering import ablate_query

    ablate_query(ws, _profile(ws), method="zero", query="The lid broke.", client=BoomClient(),
                 embedder=HashingEmbedder(dim=64), all_factors=True, answer_run_id=None)


def _kill_eval(ws: Workspace) -> None:
    from core.evaluate.harness import evaluate

    history, queries = split_last(durability_dataset(n=24), 0.2)
    evaluate(ws, history, queries, methods=["zero"], client=BoomClient(), embedder=BoomEmbedder(), settings=SETTINGS,
             k=2, store=False)


KILLS: dict[str, Callable[[Workspace], None]] = {
    "features": _kill_features, "projection": _kill_projection, "clustering": _kill_clustering,
    "factors": _kill_factors, "summary": _kill_summary, "paths": _kill_paths, "answer": _kill_answer,
    "ablation": _kill_ablation, "eval": _kill_eval}


@pytest.mark.parametrize("stage", list(KILLS))
def test_a_job_killed_by_an_exception_leaves_no_run_running(ws: Workspace, stage: str):
    before = {r.id for r in ws.list_runs()}
    with pytest.raises(Boom):
        KILLS[stage](ws)
    runs = ws.list_runs()
    assert [r.label for r in runs if r.status == "running"] == []
    new = [r for r in runs if r.id not in before]
    assert any(r.stage == stage and r.status == "failed" for r in new), [(r.stage, r.status) for r in new]


def test_the_fakes_failed_where_meant_to(ws: Workspace):
    """The workspace the kills start from is a finished build whose stage outputs load (not a broken fixture)."""
    p = _profile(ws)
    assert load_features(ws, p.run_ids["features"]) and load_factors(ws, p.run_ids["factors"])[0]
    assert all(r.status == "done" for r in ws.list_runs())
    assert isinstance(LexiconFeatureExtractor().extract([p.items[0]], p.task, run_id="x"), dict)
    assert np.isfinite(load_projection(ws, p.run_ids["projection"]).coordsnd).all()
