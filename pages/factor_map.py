"""Factor map: the user's features in UMAP space, coloured by factor / response / polarity, with lasso curation."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.stages.curation import selection_to_feature_ids
from core.stages.types import NOISE_ID
from core.ui_state import Keys
from core.views import curation_view as cv
from core.views.profile_view import factor_bars, factor_order, factor_rows, map_points, profile_caption, real_factors
from core.viz.factor_map import COLOR_BY, factor_map_figure
from core.viz.factor_stats import factor_stats_figure
from pages._curation import replay_banner
from pages._factor_count import factor_count_control
from pages._health import health_note
from pages._shared import ctx, keep, need_profile, safe, set_profile, show_problems, start_build, wkey

c = ctx()
st.title("Factor map")
profile = need_profile(c)
if profile is None:
    st.stop()
ss = st.session_state
st.caption(f"User **{safe(profile.user_id)}** · {profile_caption(profile)} · features by "
           f"{profile.settings.get('extractor_kind', '?')}, embedded with {profile.settings.get('embedder_name', '?')}")
factor_count_control(c, profile, "fm")

replay_banner(c, profile, "fm")
health = health_note(profile)
if health is not None and health.min_cluster_size is not None and st.button(
        f"Re-cluster with min cluster size {health.min_cluster_size}", key="fm_health_recluster", type="primary"):
    from core.stages.pipeline import recluster

    with st.spinner("Re-clustering…"):
        try:
            fixed = recluster(c.ws, profile, min_cluster_size=health.min_cluster_size, embedder=c.embedder,
                              client=c.client)
        except InputError as exc:
            show_problems(exc, "Re-cluster failed")
        else:
            ss[Keys.PIPELINE] = {**ss[Keys.PIPELINE], "hdbscan_min_cluster_size": health.min_cluster_size}
            set_profile(c, fixed)
            st.rerun()

# -- parameters --------------------------------------------------------------------------------------------------
with st.expander("UMAP and HDBSCAN parameters", expanded=False):
    s = profile.settings
    h1, h2, h3 = st.columns([1, 1, 1])
    mcs = h1.slider("HDBSCAN min cluster size", 2, 50, int(s.get("hdbscan_min_cluster_size", 5)), key="fm_mcs")
    ms_default = s.get("hdbscan_min_samples")
    ms = h2.slider("HDBSCAN min samples (0 = same as min cluster size)", 0, 50, int(ms_default or 0), key="fm_ms")
    h3.write("")
    if h3.button("Re-cluster", key="fm_recluster", width="stretch",
                 help="Cluster the cached projection again: no re-embedding, no new features."):
        from core.stages.pipeline import recluster

        with st.spinner("Re-clustering…"):
            try:
                new = recluster(c.ws, profile, min_cluster_size=mcs, min_samples=ms or None, embedder=c.embedder,
                                client=c.client)
            except InputError as exc:
                show_problems(exc, "Re-cluster failed")
            else:
                ss[Keys.PIPELINE] = {**ss[Keys.PIPELINE], "hdbscan_min_cluster_size": mcs,
                                     "hdbscan_min_samples": ms or None}
                set_profile(c, new)
                ss[Keys.SELECTION] = []
                st.rerun()
    u1, u2, u3, u4 = st.columns(4)
    nn = u1.slider("UMAP neighbours", 2, 100, int(s.get("umap_neighbors", 15)), key="fm_nn")
    nc = u2.slider("UMAP components (clustering)", 2, 20, int(s.get("umap_components", 5)), key="fm_nc")
    md = u3.slider("UMAP min dist", 0.0, 0.99, float(s.get("umap_min_dist", 0.0)), step=0.05, key="fm_md")
    u4.write("")
    if u4.button("Re-project", key="fm_reproject", width="stretch",
                 help="Recompute the UMAP projection (cached embeddings and features are reused)."):
        ss[Keys.PIPELINE] = {**ss[Keys.PIPELINE], "umap_neighbors": nn, "umap_components": nc, "umap_min_dist": md,
                             "hdbscan_min_cluster_size": mcs, "hdbscan_min_samples": ms or None}
        c.pipeline_overrides = dict(ss[Keys.PIPELINE])
        ss[Keys.SELECTION] = []
        start_build(c, title=f"Re-projecting the features of **{safe(c.user_id)}** (cached embeddings are reused)")
        st.rerun()

# -- the map -----------------------------------------------------------------------------------------------------
o1, o2, _ = st.columns([2, 1, 3])
color_by = o1.radio("Colour by", list(COLOR_BY), horizontal=True, key=wkey("fm_color_by", "factor"),
                    on_change=keep, args=("fm_color_by",))
show_names = o2.toggle("Factor names", key=wkey("fm_names", True), on_change=keep, args=("fm_names",))
points = map_points(profile)
fig = factor_map_figure(points, color_by=color_by, factor_order=factor_order(profile), show_names=show_names)
chart_key = f"fm_chart_{ss.get('_fm_chart_n', 0)}"
if chart_key not in ss:  # a new chart (page revisit, or after an action): it holds no selection yet
    ss["_fm_last_event"] = []
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"), key=chart_key,
                        width="stretch")
ids = selection_to_feature_ids(event) if event else []
if ids != ss.get("_fm_last_event", []):  # the user changed the selection on the map
    ss[Keys.SELECTION] = ids
    ss["_fm_last_event"] = ids
st.caption("Lasso or box-select features (toolbar at the top right of the map), then act on them below. "
           "Hover a point for its feature, evidence and the item's response.")


def _after_edit(op: str, payload: dict) -> None:
    from core.stages.edits import apply_edit

    try:
        new = apply_edit(c.ws, profile, op, payload)
    except InputError as exc:
        show_problems(exc, "The edit was not applied")
        return
    set_profile(c, new)
    ss[Keys.SELECTION] = []
    ss["_fm_chart_n"] = ss.get("_fm_chart_n", 0) + 1  # a new chart widget: its old selection is gone
    st.rerun()


# -- the selection -------------------------------------------------------------------------------------------------
selected = [fid for fid in ss.get(Keys.SELECTION, []) if fid in profile.coords2d]
if selected:
    st.markdown(f"**{len(selected)} features selected**")
    by_id = {f.id: f for f in profile.all_features()}
    names = {f.id: f.name for f in profile.factors}
    sel_left, sel_right = st.columns([3, 2], gap="medium")
    sel_left.dataframe(pd.DataFrame([{"feature": by_id[f].phrase, "factor": names.get(profile.assignments.get(f), ""),
                                      "item": by_id[f].item_id, "evidence": by_id[f].evidence}
                                     for f in selected if f in by_id]), hide_index=True, width="stretch",
                       height=min(38 + 35 * len(selected), 250))
    with sel_right:
        a1, a2 = st.columns([3, 2], vertical_alignment="bottom")
        new_name = a1.text_input("New factor name", key="fm_new_name", placeholder="e.g. Battery life")
        if a2.button("Make a new factor", key="fm_new", type="primary", width="stretch"):
            _after_edit(*cv.selection_new_factor(selected, new_name))
        targets = [f.id for f in real_factors(profile)] + [NOISE_ID]
        label = {f.id: f"{f.name} ({f.id})" for f in profile.factors}
        label[NOISE_ID] = "Unclustered"
        b1, b2 = st.columns([3, 2], vertical_alignment="bottom")
        target = b1.selectbox("Target factor", targets, format_func=lambda t: label.get(t, t),
                              key=f"fm_target_{cv.factors_revision(profile)}")  # current names after an edit
        if b2.button("Move to factor", key="fm_move", width="stretch"):
            _after_edit(*cv.selection_move(profile, selected, target))
        d1, d2 = st.columns(2)
        if d1.button("Delete (to Unclustered)", key="fm_delete", width="stretch",
                     help="Take the selected features out of their factors."):
            _after_edit(*cv.selection_delete(selected))
        if d2.button("Clear selection", key="fm_clear", width="stretch"):
            ss[Keys.SELECTION] = []
            ss["_fm_chart_n"] = ss.get("_fm_chart_n", 0) + 1
            st.rerun()
else:
    st.info("No features selected.")

# -- factors table and bars ----------------------------------------------------------------------------------------
# The table gets the full width so every statistic is visible; the bars sit below it, also full width, so
# long factor names do not squeeze the bars.
st.subheader("Factors")
st.dataframe(pd.DataFrame(factor_rows(profile)).drop(columns=["description"], errors="ignore"), hide_index=True,
             width="stretch", height=min(38 + 35 * (len(profile.factors)), 420))
st.page_link("pages/factors.py", label="Curate factors (rename, merge, split, pin…)", icon=":material/category:")
bars = factor_bars(profile)
metrics = (["influence", "coverage", "polarity"] if profile.task.kind == "score"
           else ["mutual_info", "coverage", "polarity"] if profile.task.kind == "label" else ["coverage"])
if not bars:  # no factor: an empty chart with meaningless axes would read as a result
    st.caption("No factor statistics to chart: see the note at the top of the page.")
else:
    tabs = st.tabs([m.replace("_", " ").capitalize() for m in metrics])
    for tab, metric in zip(tabs, metrics, strict=True):
        with tab:
            st.plotly_chart(factor_stats_figure(bars, metric), width="stretch", key=f"fm_bar_{metric}")
