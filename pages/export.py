"""Export: profile JSON, a user bundle, the prompt pool, traces, evaluation results and the current map selection."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from core.evaluate.result import EvalResult
from core.methods.pool_store import pool_payload
from core.stages.profile import profile_to_json
from core.ui_state import Keys
from core.views.answering import answer_runs
from core.views.export_view import (
    csv_bytes,
    eval_csv_bytes,
    json_bytes,
    llm_call_records,
    selection_rows,
    user_bundle_bytes,
    workspace_bytes,
)
from core.views.pool_view import pool_in_use
from pages._shared import ctx, get_profile, need_user

c = ctx()
st.title("Export")
st.caption("Everything here is JSON or CSV. No API key is ever part of an export.")
ss = st.session_state
if not need_user(c):
    st.stop()
ws = c.ws
profile = get_profile(c)
stem = f"{c.dataset_id}_{c.user_id}"

st.subheader("Profile")
if profile is None:
    st.info("This user has no profile yet (build it on the Factor map page).")
else:
    p1, p2 = st.columns(2)
    p1.download_button("Profile JSON (factors, summary, paths, features)", lambda: json_bytes(profile_to_json(profile)),
                       file_name=f"{stem}_profile.json", mime="application/json", key="ex_profile",
                       width="stretch")
    p2.download_button("User bundle (history, summary versions, edits, profile)",
                       partial(user_bundle_bytes, ws, profile),
                       file_name=f"{stem}_user.json", mime="application/json", key="ex_user",
                       width="stretch")
    pool = pool_in_use(ws, profile)
    which = "this user's own" if pool.stored else "default"
    st.download_button(f"Prompt pool ({which}, {len(pool.entries)} entries, JSON)",
                       lambda: json_bytes(pool_payload(pool.entries)),
                       file_name=f"{stem}_pool.json", mime="application/json", key="ex_pool",
                       help="The format `python -m core answer --pool FILE.json` and the Prompt pool panel import.")

st.subheader("Traces")
answers = answer_runs(ws, c.dataset_id, c.user_id)
if answers:
    st.dataframe(pd.DataFrame([{"run": a.get("run_label") or a["run_id"], "method": a.get("method"),
                                "answer": a.get("text"), "gold": a.get("gold"),
                                "query": (a.get("query") or "")[:80]} for a in answers]),
                 hide_index=True, width="stretch", height=min(38 + 35 * len(answers), 250))
    t1, t2 = st.columns(2)
    t1.download_button(f"Answer traces ({len(answers)} runs, JSON)", json_bytes(answers),
                       file_name=f"{stem}_traces.json", mime="application/json", key="ex_traces",
                       width="stretch")
    t2.download_button("LLM calls of these runs (prompts, outputs, tokens, JSON)",
                       lambda: json_bytes(llm_call_records(ws, [a["run_id"] for a in answers])),
                       file_name=f"{stem}_llm_calls.json", mime="application/json", key="ex_calls",
                       width="stretch")
else:
    st.caption("No answers yet for this user (run one on the Reasoning or Compare page).")

st.subheader("Evaluation results")
runs = ws.list_eval_runs()
if runs:
    ids = [r["id"] for r in runs]
    default = ss.get(Keys.EVAL_ID)
    eid = st.selectbox("Evaluation run", ids, index=ids.index(default) if default in ids else 0, key="ex_eval")
    stored = next(r["result"] for r in runs if r["id"] == eid)
    result = EvalResult.from_dict(stored)
    e1, e2, e3 = st.columns(3)
    e1.download_button("Per-query CSV", partial(eval_csv_bytes, result), file_name=f"{eid}.csv", mime="text/csv",
                       key="ex_eval_csv", width="stretch")
    e2.download_button("Metrics CSV", partial(eval_csv_bytes, result, metrics=True), file_name=f"{eid}_metrics.csv",
                       mime="text/csv", key="ex_eval_metrics", width="stretch")
    e3.download_button("Full JSON", json_bytes(stored), file_name=f"{eid}.json", mime="application/json",
                       key="ex_eval_json", width="stretch")
else:
    st.caption("No evaluation yet.")

st.subheader("Current map selection")
selected = list(ss.get(Keys.SELECTION, []))
if profile is not None and selected:
    rows = selection_rows(profile, selected)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=min(38 + 35 * len(rows), 250))
    s1, s2 = st.columns(2)
    s1.download_button(f"Selection CSV ({len(rows)} features)", csv_bytes(rows), file_name=f"{stem}_selection.csv",
                       mime="text/csv", key="ex_sel_csv", width="stretch")
    s2.download_button("Selection JSON", json_bytes(rows), file_name=f"{stem}_selection.json",
                       mime="application/json", key="ex_sel_json", width="stretch")
else:
    st.caption("Nothing selected: lasso or box-select features on the Factor map.")

st.subheader("Whole workspace")
st.download_button("Workspace JSON (all datasets, runs, summaries, edits, evaluations)", partial(workspace_bytes, ws),
                   file_name="inflow_workspace.json", mime="application/json", key="ex_ws")
st.caption("Files are generated when you click, so this page opens instantly however large the workspace is.")
