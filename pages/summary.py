"""Preference summary: the current version, an editor, version history with diffs, regenerate, token count."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.llm.tokens import count_tokens
from core.stages.summary import edit_summary, factors_digest, summary_token_report
from core.views.answer_jobs import JobCancelled, start_summary_job
from core.views.summary_view import (
    diff_stats,
    generated_basis,
    summary_staleness,
    unified_summary_diff,
    version_label,
)
from core.viz.token_bars import token_bars_figure
from pages._health import health_note
from pages._progress import job_slot, progress_panel
from pages._shared import ctx, need_profile, safe, set_profile, show_problems

c = ctx()
st.title("Preference summary")
profile = need_profile(c)
if profile is None:
    st.stop()
ss = st.session_state
ws = c.ws
SUM_JOB = "_inflow_sum_job"  # {"job", "key": (dataset, user)} while a regeneration runs; {} when idle
slot, held, regenerating = job_slot(SUM_JOB)
if held is not None and not regenerating:  # a finished regeneration: say how it ended, show its version
    job = held["job"]
    if isinstance(job.exception, JobCancelled):
        st.warning("Cancelled: the summary being written was dropped; no version was stored.",
                   icon=":material/cancel:")
    elif isinstance(job.exception, InputError):
        show_problems(job.exception, "Regeneration failed")
    elif job.exception is not None:
        st.error(f"Regeneration failed: {safe(job.error)}")
    elif held["key"] == (profile.dataset_id, profile.user_id):  # the version is stored whoever is shown now
        set_profile(c, job.result)
        st.rerun()
versions = ws.list_summary_versions(profile.dataset_id, profile.user_id)
current = versions[-1] if versions else None
st.caption(f"User **{safe(profile.user_id)}**. A concise description of what drives this user's responses, "
           "written from the factors and their statistics. Every answer records which version it used.")

basis = generated_basis(versions)
staleness = summary_staleness(versions, ws.get_run(basis["run_id"]).params.get("factors") if basis else None,
                              factors_digest(profile.factors))
left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader(f"Current: v{current['version']}" if current else "Current")
    if health_note(profile) is not None:  # the summary below has no factor to stand on
        st.page_link("pages/factor_map.py", label="Fix it on the Factor map", icon=":material/scatter_plot:")
    if staleness["stale"]:  # the message names factors, which come from the data
        st.warning(f"**Out of date.** {safe(staleness['message'])}", icon=":material/update:")
    st.info(safe(profile.summary) or "_empty_")
    # The editor starts from the current version; a new version resets it.
    editor_key = f"sum_editor_v{current['version'] if current else 0}"
    text = st.text_area("Edit", value=profile.summary, height=180, key=editor_key)
    # Keyed by version like the editor: a saved note does not linger in the field for the next version.
    note = st.text_input("Note for this version (optional)", key=f"sum_note_v{current['version'] if current else 0}")
    b1, b2 = st.columns(2)
    if b1.button("Save as new version", type="primary", key="sum_save", width="stretch"):
        if not text.strip():
            st.warning("The summary is empty.")
        elif " ".join(text.split()) == " ".join(profile.summary.split()):
            st.info("No change to save.")
        else:
            version = edit_summary(ws, profile.dataset_id, profile.user_id, text, note=note.strip() or None)
            from dataclasses import replace

            set_profile(c, replace(profile, summary=" ".join(text.split()), summary_version=version))
            st.rerun()
    if b2.button("Regenerate from factors", key="sum_regen", width="stretch", disabled=regenerating,
                 type="primary" if staleness["stale"] else "secondary",
                 help="Write a new version from the current (curated) factors."):
        slot.update({"job": start_summary_job(ws, profile, client=c.client),
                     "key": (profile.dataset_id, profile.user_id)})
        st.rerun()
    if regenerating:
        progress_panel(lambda: slot.get("job"), key="sum_cancel",
                       cancelling="Cancelling: the model call in flight finishes, and its summary is not stored.")

with right:
    report = summary_token_report(profile.summary, profile.items)
    st.subheader("Size")
    # Two metrics a row: three in this column cut their labels and numbers short ("Raw history tok…", "141…").
    m1, m2 = st.columns(2)
    m1.metric("Summary tokens", f"{report['summary_tokens']:,}")
    m2.metric("History tokens", f"{report['history_tokens']:,}", help="The raw history's items, all of them.")
    st.caption(f"Compression: the summary is **{1 / report['ratio']:.0f}×** smaller than the raw history."
               if report["ratio"] else "Compression: — (no summary text)")
    st.plotly_chart(token_bars_figure({"summary": report["summary_tokens"], "raw history": report["history_tokens"]},
                                      title="Approximate tokens (summary vs raw history)", height=260),
                    width="stretch", key="sum_tokens")

st.subheader("Version history")
if versions:
    st.dataframe(pd.DataFrame([{"version": v["version"], "source": v["source"], "note": v["note"] or "",
                                "tokens": count_tokens(v["text"]), "text": v["text"]} for v in reversed(versions)]),
                 hide_index=True, width="stretch", height=min(38 + 35 * len(versions), 280))
    if len(versions) >= 2:
        labels = {v["version"]: version_label(v) for v in versions}
        nums = [v["version"] for v in versions]
        d1, d2 = st.columns(2)
        a = d1.selectbox("From", nums, index=len(nums) - 2, format_func=labels.get, key=f"sum_from_{len(nums)}")
        b = d2.selectbox("To", nums, index=len(nums) - 1, format_func=labels.get, key=f"sum_to_{len(nums)}")
        old = next(v["text"] for v in versions if v["version"] == a)
        new = next(v["text"] for v in versions if v["version"] == b)
        diff = unified_summary_diff(old, new, old_name=f"v{a}", new_name=f"v{b}")
        stats = diff_stats(old, new)
        st.caption(f"{stats['added']} sentences added, {stats['removed']} removed")
        if diff:
            st.code(diff, language="diff")
        else:
            st.caption("The two versions are identical.")
else:
    st.caption("No versions yet.")
