"""Factors (curation): rename, describe, merge, split, delete, pin; an audit list with undo; rebuild keeps edits."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.stages.edits import apply_edit, redo_edit, undo_edit
from core.ui_state import Keys
from core.views import curation_view as cv
from core.views.profile_view import factor_feature_rows, factor_rows, profile_caption, real_factors, subfactor_rows
from pages._curation import replay_banner
from pages._factor_count import factor_count_control
from pages._health import health_note
from pages._shared import ctx, need_profile, persisted, safe, set_profile, show_problems, start_build

c = ctx()
st.title("Factors")
profile = need_profile(c)
if profile is None:
    st.stop()
ss = st.session_state
st.caption(f"User **{safe(profile.user_id)}** · {profile_caption(profile)}. Every edit is stored and replayed on "
           "rebuilds.")
factor_count_control(c, profile, "fc")


def _edit(op_payload: tuple[str, dict]) -> None:
    try:
        new = apply_edit(c.ws, profile, *op_payload)
    except InputError as exc:
        show_problems(exc, "The edit was not applied")
        return
    set_profile(c, new)
    st.rerun()


replay_banner(c, profile, "fc")
st.dataframe(pd.DataFrame(factor_rows(profile)), hide_index=True, width="stretch",
             height=min(38 + 35 * len(profile.factors), 330))

factors = real_factors(profile)
if not factors:
    health_note(profile)
    st.page_link("pages/factor_map.py", label="Re-cluster on the Factor map", icon=":material/scatter_plot:")
else:
    ids = [f.id for f in factors]
    names = {f.id: f"{f.name} ({f.id})" + (" 📌" if f.pinned else "") for f in factors}
    cur = persisted("fc_factor", ids[0])
    # A key per revision of the factors: after an edit the dropdown is a new widget showing the current
    # names; its value is seeded here (no index=, so Streamlit does not warn about two sources of value).
    wkey_fc = f"w_fc_factor_{cv.factors_revision(profile)}"
    if ss.get(wkey_fc) not in ids:
        ss[wkey_fc] = cur if cur in ids else ids[0]
    fid = st.selectbox("Factor", ids, format_func=names.get, key=wkey_fc)
    ss["fc_factor"] = fid
    f = profile.factor(fid)
    left, right = st.columns([1, 1], gap="large")
    with left:
        st.markdown(f"**{safe(f.name)}** — {safe(f.description) or '_no description_'}")
        st.caption("Keywords: " + (safe(", ".join(f.keywords[:8])) or "—"))
        with st.form(f"fc_rename_{fid}", border=False):
            new_name = st.text_input("Name", value=f.name)
            new_desc = st.text_input("Description", value=f.description)
            if st.form_submit_button("Save name and description"):
                changes = []
                if new_name.strip() and new_name.strip() != f.name:
                    changes.append(cv.rename(profile, fid, new_name))
                if new_desc.strip() != f.description.strip():
                    changes.append(cv.describe(profile, fid, new_desc))
                if changes:
                    p = profile
                    try:
                        for op, payload in changes:
                            p = apply_edit(c.ws, p, op, payload)
                    except InputError as exc:
                        show_problems(exc, "The edit was not applied")
                    else:
                        set_profile(c, p)
                        st.rerun()
        b1, b2, b3 = st.columns(3)
        if b1.button("Unpin" if f.pinned else "Pin", key="fc_pin", width="stretch",
                     help="Pinned factors are always shown to the methods and kept across rebuilds."):
            _edit(cv.pin(profile, fid, not f.pinned))
        if b2.button("Auto-split", key="fc_split_auto", width="stretch",
                     help="Split automatically in two: two-way KMeans on the factor's feature embeddings."):
            _edit(("split", {"factor": fid}))
        if b3.button("Delete", key="fc_delete", width="stretch",
                     help="The factor's features go to Unclustered."):
            _edit(cv.delete(profile, fid))
        others = [x for x in ids if x != fid]
        with st.form(f"fc_merge_{fid}", border=False):
            merge_with = st.multiselect("Merge with", others, format_func=names.get)
            merge_name = st.text_input("Merged name (optional)")
            if st.form_submit_button("Merge"):
                if merge_with:
                    _edit(cv.merge(profile, [fid, *merge_with], merge_name))
                else:
                    st.warning("Choose at least one factor to merge with.")
    with right:
        rows = factor_feature_rows(profile, fid)
        subs = subfactor_rows(profile, fid)
        if subs:  # the finer level this factor was merged from, one click away
            sub_names = {s["id"]: f"{s['sub-factor']} ({s['features']})" for s in subs}
            sub_id = st.selectbox("Sub-factors (the finer clusters it was merged from)", ["all", *sub_names],
                                  format_func=lambda x: f"All {len(rows)} features" if x == "all" else sub_names[x],
                                  key=f"fc_sub_{fid}")
            if sub_id != "all":
                sub = next(s for s in subs if s["id"] == sub_id)
                rows = [r for r in rows if r["id"] in set(sub["feature_ids"])]
                if len(sub["feature_ids"]) < len(f.feature_ids) and st.button(
                        "Split this sub-factor off", key=f"fc_split_sub_{fid}",
                        help="Make it a factor of its own (a curation edit, replayed on rebuilds)."):
                    _edit(cv.split(profile, fid, sub["feature_ids"], sub["sub-factor"]))
        st.markdown(f"**{len(rows)} features**")
        st.dataframe(pd.DataFrame(rows).drop(columns=["id"], errors="ignore"), hide_index=True,
                     width="stretch", height=min(38 + 35 * len(rows), 300))
        with st.form(f"fc_split_{fid}", border=False):
            part = st.multiselect("Split these features off", [r["id"] for r in rows],
                                  format_func=lambda x: next((r["feature"] for r in rows if r["id"] == x), x))
            split_name = st.text_input("New factor name (optional)")
            if st.form_submit_button("Split off"):
                if part:
                    _edit(cv.split(profile, fid, part, split_name))
                else:
                    st.warning("Choose the features to split off.")

# -- audit list --------------------------------------------------------------------------------------------------
st.subheader("Edits")
edits = c.ws.list_edits(profile.dataset_id, profile.user_id, include_undone=True)
log = {e["id"]: e for e in profile.edit_log}
if not edits:
    st.caption("No edits yet.")
for e in reversed(edits):
    state = cv.edit_state(e, log)
    col1, col2 = st.columns([5, 1])
    when = time.strftime("%H:%M:%S", time.localtime(e["created_at"]))
    text = cv.describe_edit(e)
    text, state = safe(text), safe(state)  # factor names and skip reasons come from the data
    col1.markdown(f"`#{e['id']}` {when} · {'~~' + text + '~~' if e['undone'] else text} · _{state}_")
    if e["undone"]:
        if col2.button("Redo", key=f"fc_redo_{e['id']}", width="stretch"):
            set_profile(c, redo_edit(c.ws, profile, e["id"]))
            st.rerun()
    elif col2.button("Undo", key=f"fc_undo_{e['id']}", width="stretch"):
        set_profile(c, undo_edit(c.ws, profile, e["id"]))
        st.rerun()

st.divider()
st.markdown("**Rebuild** runs the pipeline again (reusing every stage whose inputs did not change) and replays "
            "the edits above on the new clustering.")
if st.button("Rebuild profile", key="fc_rebuild"):
    c.pipeline_overrides = dict(ss.get(Keys.PIPELINE, {}))
    start_build(c, title=f"Rebuilding the profile of **{safe(c.user_id)}** (the edits above are replayed)")
    st.rerun()
