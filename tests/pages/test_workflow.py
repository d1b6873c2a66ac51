"""The sample-data path end to end in one session, with state surviving page switches.

upload (the sample reviews CSV as a new dataset) -> build -> map -> curate -> summary -> step-by-step answer
-> compare -> evaluate -> export.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.ui_state import Keys
from tests.pages.conftest import goto, texts, wait_build, wait_job

pytestmark = pytest.mark.timeout(900)


DATASET = "uploaded_reviews"  # the sample reviews, uploaded through the Upload page as a new dataset
SAMPLE_CSV = Path(__file__).resolve().parents[2] / "sample_data" / "reviews.csv"


def _profile(at):
    cache = at.session_state["_inflow_profiles"]
    key = (at.session_state["_inflow_ctx"].ws.path, DATASET, "ava")
    return cache[key]


def _labels(at) -> list[str]:
    return [b.label for b in at.button]


def test_sample_data_path_end_to_end(make_app):
    at = make_app()
    at.run()
    assert not at.exception

    # -- upload -----------------------------------------------------------------------------------------
    at.file_uploader(key="up_files").upload("reviews.csv", SAMPLE_CSV.read_bytes(), "text/csv").run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_input(key="up_name").input(DATASET)
    at.button(key="up_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.session_state[Keys.DATASET] == DATASET
    table = at.dataframe[0].value.set_index("dataset")
    assert table.loc[DATASET, "items"] == table.loc["reviews", "items"] > 200
    at.sidebar.selectbox(key="sb_user").select("ava").run()

    # -- build and map ----------------------------------------------------------------------------------
    goto(at, "factor_map")
    assert "Build profile" in _labels(at)
    at.button(key="build_profile_inline").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Building the profile of" in texts(at) and at.button(key="build_cancel")
    wait_build(at)
    assert at.title[0].value == "Factor map"
    profile = _profile(at)
    n_factors = sum(1 for f in profile.factors if not f.is_noise)
    assert n_factors >= 2
    assert len(at.get("plotly_chart")) >= 2  # the map and the stat bars
    table = at.dataframe[-1].value
    assert "influence" in table.columns and len(table) == len(profile.factors)
    assert "No features selected." in texts(at)

    # re-cluster on the cached projection with another HDBSCAN min cluster size
    runs_before = len(at.session_state["_inflow_ctx"].ws.list_runs("projection"))
    at.slider(key="fm_mcs").set_value(12)
    at.button(key="fm_recluster").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert _profile(at).settings["hdbscan_min_cluster_size"] == 12
    assert len(at.session_state["_inflow_ctx"].ws.list_runs("projection")) == runs_before  # no re-projection
    profile = _profile(at)

    # colour choice survives a page switch
    at.radio(key="w_fm_color_by").set_value("polarity").run()
    goto(at, "factors")
    goto(at, "factor_map")
    assert at.radio(key="w_fm_color_by").value == "polarity"

    # a selection (as the lasso would set it) -> make a new factor
    chosen = [f.id for f in profile.all_features()[:3]]
    at.session_state[Keys.SELECTION] = chosen
    at.run()
    assert "3 features selected" in texts(at)
    at.text_input(key="fm_new_name").input("Hand picked")
    at.button(key="fm_new").click().run()
    assert not at.exception, [e.value for e in at.exception]
    profile = _profile(at)
    new = [f for f in profile.factors if f.name == "Hand picked"]
    assert new and sorted(new[0].feature_ids) == sorted(chosen)
    assert at.session_state[Keys.SELECTION] == []

    # -- curation: the audit list, undo, rename ---------------------------------------------------------
    goto(at, "factors")
    page = texts(at)
    assert "move 3 features to a new factor “Hand picked”" in page
    edit_id = at.session_state["_inflow_ctx"].ws.list_edits(DATASET, "ava")[-1]["id"]
    at.button(key=f"fc_undo_{edit_id}").click().run()
    assert not at.exception
    assert not [f for f in _profile(at).factors if f.name == "Hand picked"]
    assert "undone" in texts(at)
    at.button(key=f"fc_redo_{edit_id}").click().run()
    assert [f for f in _profile(at).factors if f.name == "Hand picked"]
    first = [f for f in _profile(at).factors if not f.is_noise][0]
    next(s for s in at.selectbox if s.label == "Factor").select(first.id).run()
    name_box = [t for t in at.text_input if t.label == "Name"][0]
    name_box.input("Renamed factor")
    [b for b in at.button if b.label == "Save name and description"][0].click().run()
    assert not at.exception
    assert _profile(at).factor(first.id).name == "Renamed factor"
    at.button(key="fc_pin").click().run()
    assert _profile(at).factor(first.id).pinned
    others = [f.id for f in _profile(at).factors if not f.is_noise and f.id != first.id][:1]
    merge_box = [m for m in at.multiselect if m.label == "Merge with"][0]
    merge_box.set_value(others)
    [b for b in at.button if b.label == "Merge"][0].click().run()
    assert not at.exception
    assert others[0] not in {f.id for f in _profile(at).factors}
    # a rebuild replays every curated edit on the new clustering
    at.button(key="fc_rebuild").click().run()
    assert not at.exception, [e.value for e in at.exception]
    wait_build(at)
    rebuilt = _profile(at)
    assert rebuilt.factor(first.id).name == "Renamed factor" and rebuilt.factor(first.id).pinned
    assert [f for f in rebuilt.factors if f.name == "Hand picked"]
    assert all(e["applied"] for e in rebuilt.edit_log)

    # -- summary editor ---------------------------------------------------------------------------------
    goto(at, "summary")
    versions = at.session_state["_inflow_ctx"].ws.list_summary_versions(DATASET, "ava")
    editor = [t for t in at.text_area if t.label == "Edit"][0]
    editor.input(versions[-1]["text"] + " They also like long walks.")
    next(t for t in at.text_input if t.label.startswith("Note for this version")).input("analyst note")
    at.button(key="sum_save").click().run()
    assert not at.exception
    after = at.session_state["_inflow_ctx"].ws.list_summary_versions(DATASET, "ava")
    assert len(after) == len(versions) + 1 and after[-1]["source"] == "edited"
    assert "long walks" in _profile(at).summary
    diff = [c.value for c in at.code if "+++" in c.value]
    assert diff and "+They also like long walks." in diff[0]
    assert any(m.label == "Summary tokens" for m in at.metric)

    # -- step by step -----------------------------------------------------------------------------------
    goto(at, "reasoning")
    assert at.radio(key="w_rs_source").value == "Pick a query"
    at.button(key="rs_next").click().run()
    assert not at.exception, [e.value for e in at.exception]
    wait_job(at)
    state = at.session_state[Keys.REASONING]
    n_steps = len(state["record"].answer.trace.steps)
    assert state["shown"] == 1 and n_steps >= 3
    assert "Step 1 of" in texts(at)
    for _ in range(n_steps - 1):
        at.button(key="rs_next").click().run()
    assert at.session_state[Keys.REASONING]["shown"] == n_steps
    assert "Answer" in [s.value for s in at.subheader]
    labels = [m.label for m in at.metric]
    assert "True response" in labels and "Error" in labels
    # state survives a page switch
    goto(at, "export")
    goto(at, "reasoning")
    assert at.session_state[Keys.REASONING]["shown"] == n_steps
    assert "Answer" in [s.value for s in at.subheader]
    at.button(key="rs_ablate_all").click().run()
    assert not at.exception, [e.value for e in at.exception]
    wait_job(at)
    assert at.session_state[Keys.REASONING]["ablate_all"]
    # Play from the start reveals every step at once (no delay in tests)
    at.button(key="rs_reset").click().run()
    at.button(key="rs_play").click().run()
    assert at.session_state[Keys.REASONING]["shown"] == n_steps

    # a typed query with a known true response
    at.radio(key="w_rs_source").set_value("Type a query").run()
    at.text_area(key="w_rs_typed").input("The handle snapped off after a week. Useless.")
    at.text_input(key="w_rs_typed_gold").input("1")
    at.selectbox(key="w_rs_method").select("bm25")
    at.button(key="rs_play").click().run()
    assert not at.exception, [e.value for e in at.exception]
    wait_job(at)
    record = at.session_state[Keys.REASONING]["record"]
    assert at.session_state[Keys.REASONING]["shown"] == len(record.answer.trace.steps)  # Play ran every step
    assert record.query.startswith("The handle snapped") and record.method == "bm25" and record.gold == "1"
    assert record.error is not None and "abs_error" in record.error

    # -- compare ----------------------------------------------------------------------------------------
    goto(at, "compare")
    at.button(key="cmp_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    wait_job(at, "_inflow_compare_job", timeout=300)
    rows = at.dataframe[0].value
    assert list(rows["method"]) == ["zero", "history", "bm25", "bm25-lamp", "summary", "rpm", "reflect", "pool"]
    assert not rows["answer"].str.startswith("failed").any()

    # -- evaluate ---------------------------------------------------------------------------------------
    goto(at, "evaluate")
    at.multiselect(key="ev_methods").set_value(["zero", "rpm"])
    at.number_input(key="ev_limit_user").set_value(2)
    [b for b in at.button if b.label == "Run evaluation"][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    deadline = time.time() + 600
    while at.session_state["_inflow_eval_job"] and time.time() < deadline:  # the page's slot is {} when idle
        time.sleep(1.0)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Evaluated 2 queries" in texts(at)
    metrics = at.dataframe[0].value
    assert {"zero", "rpm"} <= set(metrics["system"]) and "mae" in metrics.columns
    assert len(at.get("plotly_chart")) == 2  # mae and rmse
    at.button(key="ev_drill").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Reasoning, step by step"
    assert at.session_state[Keys.REASONING]["source"] == "Pick a query"

    # -- export -----------------------------------------------------------------------------------------
    at.session_state[Keys.SELECTION] = chosen
    goto(at, "export")
    downloads = at.get("download_button")
    assert len(downloads) >= 2 + 2 + 3 + 2  # profile, traces, eval, selection
    assert "Current map selection" in [s.value for s in at.subheader]
    sel = at.dataframe[-1].value
    assert sorted(sel["feature_id"]) == sorted(chosen)
