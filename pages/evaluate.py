"""Evaluate: run the LaMP-metric harness on the active dataset in the background; metrics, charts, drill-down."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import Cancelled, InputError
from core.evaluate.faithfulness import faithfulness_rows
from core.evaluate.result import EvalResult
from core.methods.registry import METHOD_NAMES
from core.ui_state import Keys
from core.views.eval_view import (
    configured_engine_run,
    drill_target,
    eval_inputs,
    finished_text,
    metric_rows,
    per_query_rows,
    plan_text,
    start_eval_job,
)
from core.viz.eval_metrics import eval_metrics_figure
from core.viz.faithfulness import faithfulness_figure
from pages._progress import job_slot, progress_panel
from pages._shared import ctx, forget_profiles, need_user, safe

EV_JOB = "_inflow_eval_job"  # {"job", "how": what runs, "engine": on an engine} while one runs; {} when idle

c = ctx()
st.title("Evaluate")
ss = st.session_state
if not need_user(c):
    st.stop()
ws = c.ws
dataset = ws.get_dataset(c.dataset_id)
st.caption(f"Dataset **{safe(c.dataset_id)}** · task {safe(dataset.task.name)} ({dataset.task.kind}). Each method "
           "answers every query from a profile built on the user's earlier history; the model-free baselines run "
           "beside them. Metrics are LaMP's (MAE/RMSE, accuracy/F1 or ROUGE).")

# -- the run form ------------------------------------------------------------------------------------------------
# One slot taken once per run (see job_slot): a second click while the first run's job is being stored can
# neither start a second evaluation nor lose the first.
slot, held, running = job_slot(EV_JOB)
with st.form("ev_form"):
    f1, f2 = st.columns([3, 1])
    methods = f1.multiselect("Methods", METHOD_NAMES, default=["zero", "bm25", "summary", "rpm"], key="ev_methods")
    scope = f2.radio("Users", ["active user", "all users"], key="ev_scope")
    g1, g2, g3 = st.columns(3)
    limit_user = g1.number_input("Queries per user", 1, 500, 3, key="ev_limit_user")
    k = g2.slider("k", 0, 10, 4, key="ev_k")
    fraction = g3.slider("Held-out share (datasets without queries)", 0.05, 0.5, 0.2, step=0.05, key="ev_fraction")
    faith = st.checkbox("Measure faithfulness: remove each answer's top factor, retrieved items or summary and "
                        "re-answer (up to 6 more model calls per method and query)", key="ev_faith")
    start = st.form_submit_button("Run evaluation", type="primary", disabled=running)

if start and not running:
    if not methods:
        st.warning("Choose at least one method.")
    elif c.client is None:
        st.error(f"Evaluation needs a chat backend: {c.client_error or 'none configured'}.")
    else:
        users = [c.user_id] if scope == "active user" else None
        history, queries, how = eval_inputs(dataset, c.dataset_id, fraction=fraction, user_ids=users)
        settings = c.pipeline_settings()
        try:
            run_on = configured_engine_run(c.client, c.embedder, settings)  # $INFLOW_ENGINE=ray: a Ray task per user
        except (InputError, ValueError) as exc:
            st.error(f"The configured engine cannot run: {exc}")
            st.stop()
        slot.update({"job": start_eval_job(ws, history, queries, methods=methods, client=c.client,
                                           embedder=c.embedder, settings=settings, limit_per_user=int(limit_user),
                                           k=int(k), faithfulness=bool(faith), engine_run=run_on),
                     "how": plan_text(queries, how, limit_per_user=int(limit_user)), "engine": run_on is not None})
        st.rerun()


if running:
    st.caption(f"Evaluating {safe(held['how'])}")
    # in this process every model call goes through the job's cancel guard; an engine stops between its units
    progress_panel(lambda: slot.get("job"), key="ev_cancel",
                   cancelling="Cancelling after the query in flight; finished queries are kept." if held["engine"]
                   else "Cancelling before the next model call; the query in progress is dropped, "
                        "finished queries are kept.")
elif held is not None:  # a finished evaluation (taken out of the slot by job_slot): say how it ended
    job = held["job"]
    if isinstance(job.exception, Cancelled):  # stopped before the evaluation run itself was open
        st.warning("Cancelled before any query finished; nothing was stored.", icon=":material/cancel:")
    elif job.error:
        st.error(f"The evaluation failed: {safe(job.error)}")
    else:
        done: EvalResult = job.result
        ss[Keys.EVAL_ID] = done.eval_id
        for user, reason in (done.engine or {}).get("failures", {}).items():
            st.warning(f"User {safe(user)} could not be evaluated: {safe(reason)}")
        if done.cancelled:
            st.warning(finished_text(done))
        else:
            st.success(finished_text(done))

# -- results -----------------------------------------------------------------------------------------------------
runs = ws.list_eval_runs()
if not runs:
    st.info("No evaluation yet.")
    st.stop()
ids = [r["id"] for r in runs]
labels = {r["id"]: (f"{ws.run_label(r['result'].get('run_id')) or r['id']} · {r['result'].get('dataset')} · "
                    f"n={r['result'].get('n')} · {', '.join(r['result'].get('methods', {}))}") for r in runs}
if ss.get(Keys.EVAL_ID) not in ids:
    ss[Keys.EVAL_ID] = ids[0]
ss["ev_run"] = ss[Keys.EVAL_ID]
st.selectbox("Evaluation run", ids, format_func=labels.get, key="ev_run",
             on_change=lambda: ss.__setitem__(Keys.EVAL_ID, ss["ev_run"]))
result = EvalResult.from_dict(next(r["result"] for r in runs if r["id"] == ss[Keys.EVAL_ID]))
b = result.backend
n_users = result.n_users
users_text = f"{n_users} user" + ("" if n_users == 1 else "s")
st.caption(f"Task {safe(result.task)} · {result.n} queries from {users_text} · backend "
           f"{safe(b.get('kind'))} / {safe(b.get('model'))} · embedder {safe(b.get('embedder'))} · "
           f"k={result.k} · "
           f"{result.runtime_s} s" + (" · cancelled early" if result.cancelled else ""))

st.subheader("Metrics")
METRIC_COLUMNS = {"prompt_tokens_mean": "prompt tokens (mean)", "latency_ms_mean": "latency ms (mean)",
                  "errors": "failed", "unparsed": "unparsed answers", "rescues": "parse rescues"}
st.dataframe(pd.DataFrame(metric_rows(result)).rename(columns=METRIC_COLUMNS), hide_index=True, width="stretch")
st.caption("Methods call the model; baselines need none: the majority answer, the user's own mean score or most "
           "frequent label, kNN over the items BM25 or feature-level retrieval finds, and (text tasks) the "
           "query's own text copied unchanged.")
metrics = list(result.metric_names)
if metrics:
    cols = st.columns(len(metrics))
    for col, metric in zip(cols, metrics, strict=True):
        with col:
            st.plotly_chart(eval_metrics_figure(result.to_dict(), metric), width="stretch", key=f"ev_chart_{metric}")

if result.faithfulness:
    st.subheader("Faithfulness")
    st.plotly_chart(faithfulness_figure(result.faithfulness), width="stretch", key="ev_faith_chart")
    st.dataframe(pd.DataFrame(faithfulness_rows(result)), hide_index=True, width="stretch")
    st.caption("For each query the evidence a method showed is removed (left: how often the answer moved; `shift` "
               "is how far) or kept alone (right: how often it reproduced the answer). Evidence a method never "
               "showed counts as *not used* and is left out.")

st.subheader("Per query")
rows = per_query_rows(result)
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=min(38 + 35 * len(rows), 360))
if rows:
    d1, d2, d3 = st.columns([2, 1, 1])
    qid = d1.selectbox("Query", [r["id"] for r in rows], key="ev_drill_q",
                       format_func=lambda x: next(f"{r['id']} · user {r['user']} · gold {r['gold']}"
                                                  for r in rows if r["id"] == x))
    method_names = list(result.methods) or METHOD_NAMES
    meth = d2.selectbox("Method", method_names, key="ev_drill_m")
    d3.write("")
    if d3.button("Step through it", key="ev_drill", width="stretch"):
        target = drill_target(ws, result, qid, meth)
        if target is None:
            st.warning("This query's dataset is no longer in the workspace.")
        else:
            if target["dataset"] != ss.get(Keys.DATASET) or target["user"] != ss.get(Keys.USER):
                ss[Keys.DATASET], ss[Keys.USER] = target["dataset"], target["user"]
                forget_profiles()
            ss[Keys.DRILL] = target
            st.switch_page("pages/reasoning.py")

