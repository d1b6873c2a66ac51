"""build_profile's stage objects are injectable (BERTopic-style), and reopening a profile only reads."""

from __future__ import annotations

import numpy as np
import pytest

from core.stages.edits import normalise_edit
from core.stages.naming import KeywordNamer
from core.stages.paths import TemplatePathWriter
from core.stages.pipeline import build_profile, load_profile
from core.stages.profile import PipelineSettings
from core.stages.project import load_projection
from core.stages.summary import TemplateSummarizer
from core.stages.types import Clusterer, Namer, Projector
from core.store.workspace import Workspace
from tests.stages.conftest import CountingEmbedder, durability_dataset

SETTINGS = PipelineSettings(extractor="lexicon", hdbscan_min_cluster_size=4, n_factors=0, split_directions=False)


class FirstColumnsProjector:
    """The embeddings' first columns as both projections (no fitting: the test knows every coordinate)."""

    name = "first-columns"

    def __init__(self) -> None:
        self.calls = 0

    def project(self, x, params):
        self.calls += 1
        return x[:, :2], x[:, :params.n_components]


class SignClusterer:
    """Two clusters by the sign of the first coordinate; remembers what it was given."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def identity(self) -> dict:
        return {"kind": "sign"}

    def fit_predict(self, x):
        self.seen.append(np.array(x))
        return (np.asarray(x)[:, 0] > 0).astype(int)


def test_custom_projector_and_clusterer_are_used_and_recorded(tmp_path):
    ws = Workspace(tmp_path / "ws.sqlite")
    ws.add_dataset(durability_dataset())
    emb = CountingEmbedder()
    projector, clusterer = FirstColumnsProjector(), SignClusterer()
    assert isinstance(projector, Projector) and isinstance(clusterer, Clusterer)
    p = build_profile(ws, "dura", "ava", client=None, embedder=emb, settings=SETTINGS, projector=projector,
                      clusterer=clusterer)

    assert projector.calls == 1 and len(clusterer.seen) == 1
    assert ws.get_run(p.run_ids["projection"]).params["projector"] == "first-columns"
    assert ws.get_run(p.run_ids["clustering"]).params == {"kind": "sign"}
    feats = p.all_features()
    vecs = emb.inner.embed([f.text for f in feats])
    # the display coordinates are the projector's 2-D output, the clusterer saw its n-D output
    for f, v in zip(feats, vecs, strict=True):
        assert p.coords2d[f.id] == pytest.approx((float(v[0]), float(v[1])), abs=1e-4)
    proj = load_projection(ws, p.run_ids["projection"])
    assert clusterer.seen[0].shape == (len(feats), SETTINGS.umap_components)
    assert np.allclose(clusterer.seen[0], proj.coordsnd, atol=1e-4)
    # its two labels became the two factors: the features with a positive first coordinate form one
    positive = {f.id for f, v in zip(feats, vecs, strict=True) if v[0] > 0}
    assert 0 < len(positive) < len(feats)
    real = [fa for fa in p.factors if not fa.is_noise]
    assert sorted(len(fa.feature_ids) for fa in real) == sorted([len(positive), len(feats) - len(positive)])
    assert any(set(fa.feature_ids) == positive for fa in real)

    # the default clusterer (HDBSCAN) is another run; the same custom objects reuse theirs
    again = build_profile(ws, "dura", "ava", client=None, embedder=emb, settings=SETTINGS,
                          projector=FirstColumnsProjector(), clusterer=SignClusterer())
    assert again.run_ids["clustering"] == p.run_ids["clustering"]
    default = build_profile(ws, "dura", "ava", client=None, embedder=emb, settings=SETTINGS)
    assert default.run_ids["projection"] != p.run_ids["projection"]
    assert ws.get_run(default.run_ids["clustering"]).params["kind"] == "hdbscan"


def test_custom_namer_summarizer_and_path_writer_are_used(tmp_path):
    ws = Workspace(tmp_path / "ws.sqlite")
    ws.add_dataset(durability_dataset())

    class LoudNamer(KeywordNamer):
        def identity(self):
            return {"kind": "loud"}

        def name_factors(self, factors, features, vectors=None, **kw):
            out = super().name_factors(factors, features, vectors, **kw)
            for f in out:
                f.name = f.name.upper()
            return out

    class Signed(TemplateSummarizer):
        def identity(self):
            return {"kind": "signed"}

        def summarize(self, factors, items, task, *, run_id=None):
            return "SIGNED " + super().summarize(factors, items, task, run_id=run_id)

    class Writer(TemplatePathWriter):
        name = "custom"

        def identity(self):
            return {"kind": "custom"}

    assert isinstance(LoudNamer(), Namer)
    p = build_profile(ws, "dura", "ava", client=None, embedder=CountingEmbedder(), settings=SETTINGS,
                      namer=LoudNamer(), summarizer=Signed(), path_writer=Writer())
    assert all(f.name == f.name.upper() for f in p.factors if not f.is_noise)
    assert p.summary.startswith("SIGNED ")
    assert ws.get_run(p.run_ids["paths"]).params["writer"] == {"kind": "custom"}
    assert p.settings["paths_kind"] == "custom"


def test_load_profile_only_reads_the_workspace(tmp_path):
    ws = Workspace(tmp_path / "ws.sqlite")
    ws.add_dataset(durability_dataset())
    p = build_profile(ws, "dura", "ava", client=None, embedder=CountingEmbedder(), settings=SETTINGS)
    real = [f for f in p.factors if not f.is_noise]
    assert len(real) >= 2
    # an edit recorded straight into the workspace: the stored template paths no longer match the factors
    ws.add_edit("dura", "ava", "merge", normalise_edit(ws, p, "merge", {"factors": [real[0].id, real[1].id]}))
    runs_before = len(ws.list_runs())
    changes_before = ws._conn.total_changes  # every row any statement of this connection wrote
    loaded = load_profile(ws, "dura", "ava")
    assert ws._conn.total_changes == changes_before
    assert len(ws.list_runs()) == runs_before
    assert loaded is not None and len([f for f in loaded.factors if not f.is_noise]) == len(real) - 1
    # the paths were re-derived in memory for the merged factors: every hop names a current factor
    current = {f.id for f in loaded.factors}
    hops = [h["factor_id"] for path in loaded.paths.values() for h in path.steps]
    assert hops and set(hops) <= current
    assert loaded.run_ids["paths"] == p.run_ids["paths"]
