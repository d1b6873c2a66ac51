"""Curation as a person uses it: fresh dropdowns and counts after edits, and a rebuild's unreplayable edits
shown with Re-apply / Drop on both the Factors and the Factor map pages."""

from __future__ import annotations

import pytest

from core.embed.hashing import HashingEmbedder
from core.stages.pipeline import build_profile, load_profile, recluster
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from core.ui_state import ensure_sample_data
from tests.pages.conftest import goto, texts, wait_job

pytestmark = pytest.mark.timeout(900)

SETTINGS = PipelineSettings(extractor="lexicon", namer="keywords", summarizer="template", paths="template",
                            embedder="hash", hdbscan_min_cluster_size=4)


@pytest.fixture
def built(tmp_path):
    path = tmp_path / "ws.sqlite"
    ws = Workspace(path)
    ensure_sample_data(ws)
    build_profile(ws, "reviews", "ava", client=None, embedder=HashingEmbedder(), settings=SETTINGS)
    ws.close()
    return path


def _profile(at):
    return at.session_state["_inflow_profiles"][(at.session_state["_inflow_ctx"].ws.path, "reviews", "ava")]


def _factor_box(at):
    return next(s for s in at.selectbox if s.label == "Factor")


def _click(at, label):
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_edits_show_at_once_and_unreplayable_ones_are_offered_back(make_app, built):
    at = make_app(built)
    at.run()
    goto(at, "factors")
    first = _profile(at).factor(_factor_box(at).value)  # the factor the page opened on
    old_name = first.name
    next(t for t in at.text_input if t.label == "Name").input("Renamed factor")
    _click(at, "Save name and description")
    # the dropdown shows the new name on the very next run, and Streamlit warns about nothing
    assert any(o.startswith("Renamed factor (") for o in _factor_box(at).options)
    assert not at.warning or all("w_fc_factor" not in str(w.value) for w in at.warning)
    assert f"rename {old_name} ({first.id}) → “Renamed factor”" in texts(at)
    # the summary was written before the rename: marked out of date, regenerating clears it
    goto(at, "summary")
    assert "Out of date." in texts(at)
    at.button(key="sum_regen").click().run()
    wait_job(at, "_inflow_sum_job")  # regeneration runs as a background job with progress and Cancel
    assert "Out of date." not in texts(at)
    goto(at, "factors")
    # merge: the description's count and the panel's count agree
    other = [f for f in _profile(at).factors if not f.is_noise and f.id != _factor_box(at).value][0]
    next(m for m in at.multiselect if m.label == "Merge with").set_value([other.id])
    _click(at, "Merge")
    merged = _profile(at).factor(_factor_box(at).value)
    page = texts(at)
    assert f"**{len(merged.feature_ids)} features**" in page
    if merged.description[:1].isdigit():
        assert merged.description.startswith(f"{len(merged.feature_ids)} features")
    # the rename entry still reads with the name the factor had then
    assert f"rename {old_name} ({first.id}) → “Renamed factor”" in page
    # a re-cluster that leaves no factor: both edits are reported on both pages, not silently lost
    # (as the Re-cluster button does, with a size beyond its slider so that nothing clusters)
    ws = at.session_state["_inflow_ctx"].ws
    at.session_state["_inflow_profiles"][(ws.path, "reviews", "ava")] = recluster(
        ws, _profile(at), min_cluster_size=1000, embedder=HashingEmbedder())
    goto(at, "factor_map")
    assert "2 curation edits could not be replayed" in texts(at)
    edits = at.session_state["_inflow_ctx"].ws.list_edits("reviews", "ava")
    assert at.button(key=f"fm_reapply_{edits[0]['id']}") and at.button(key=f"fm_drop_{edits[1]['id']}")
    goto(at, "factors")
    assert "2 curation edits could not be replayed" in texts(at)
    assert "not replayed: " in texts(at)
    # Drop the merge, Re-apply the rename: the renamed factor's features come back as one factor
    at.button(key=f"fc_drop_{edits[1]['id']}").click().run()
    at.button(key=f"fc_reapply_{edits[0]['id']}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    back = [f for f in _profile(at).factors if f.name == "Renamed factor"]
    assert back and set(back[0].feature_ids) == set(first.feature_ids)
    assert "could not be replayed" not in texts(at)


def test_a_profile_without_factors_is_explained_with_a_way_out(make_app, built):
    at = make_app(built)
    at.run()
    ws = at.session_state["_inflow_ctx"].ws
    at.session_state["_inflow_profiles"][(ws.path, "reviews", "ava")] = recluster(
        ws, load_profile(ws, "reviews", "ava"), min_cluster_size=1000, embedder=HashingEmbedder())
    for page in ("summary", "factors", "factor_map"):
        goto(at, page)
        assert "features are Unclustered (no group of at least 1000" in texts(at), page
    assert not at.get("plotly_chart") or len(at.get("plotly_chart")) == 1  # the map, but no empty stat chart
    at.button(key="fm_health_recluster").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(not f.is_noise for f in _profile(at).factors)
    assert "No factors: all" not in texts(at)  # the health note is gone (the share caption stays)
