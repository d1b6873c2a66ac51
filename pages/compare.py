"""Compare: one query through every method side by side, with answers, token cost and the error."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.methods.registry import METHOD_NAMES
from core.ui_state import Keys
from core.views.answer_jobs import start_compare_job
from core.views.answering import AnswerRecord, compare_rows, error_text
from core.views.jobs import Job
from core.views.portability_view import PORTED_PREFIX, ported_answer, ported_label, source_settings
from core.views.query_view import query_options
from core.views.trace_view import trace_totals
from core.viz.token_bars import token_bars_figure
from pages._progress import job_slot, progress_panel
from pages._shared import ctx, get_client, need_profile, safe, user_state

PORT_CLIENT_KEY = "_inflow_port_client"

c = ctx()
st.title("Compare methods")
profile = need_profile(c)
if profile is None:
    st.stop()
ss = st.session_state
state = user_state(Keys.COMPARE, profile)

options = query_options(c.ws, profile)
by_key = {o.key: o for o in options}
keys = list(by_key)
if not keys:
    st.warning("This user has no history items to use as queries.")
    st.stop()
if state.get("pick") not in by_key:
    state["pick"] = keys[0]
pick = st.selectbox("Query (history item, left out of retrieval, or dataset query)", keys,
                    index=keys.index(state["pick"]), format_func=lambda x: by_key[x].label, key="cmp_pick")
state["pick"] = pick
opt = by_key[pick]
with st.expander("Query text"):
    st.markdown(safe(opt.input))
col1, col2 = st.columns([3, 1])
methods = col1.multiselect("Methods", METHOD_NAMES, default=state.get("methods", METHOD_NAMES), key="cmp_methods")
state["methods"] = methods
k = col2.slider("k", 0, 10, int(state.get("k", 4)), key="cmp_k")
state["k"] = k
with st.expander("Portability: answer with a summary another model wrote"):
    port_on = st.checkbox("Also answer **summary** with the summary this model writes (POPI)", key="cmp_port")
    p1, p2, p3 = st.columns([1, 2, 2])
    port_kind = p1.selectbox("Backend", ["local", "openai"], key="cmp_port_kind")
    port_model = p2.text_input("Model (openai)", value=c.settings.model or "", key="cmp_port_model")
    port_url = p3.text_input("Endpoint (openai)", value=c.settings.base_url or "", key="cmp_port_url")

if "pool" in methods:
    stored_pool = c.ws.get_pool(profile.dataset_id, profile.user_id)
    st.caption("The **pool** method uses " + (f"this user's own prompt pool ({len(stored_pool)} entries)"
                                              if stored_pool is not None else "the default pool built from the profile")
               + " — edit it on the **Reasoning step by step** page.")
JOB_KEY = "_inflow_compare_job"
# One slot taken once per run (see job_slot): a second click while the first run's job is being stored can
# neither start a second run nor lose the first.
slot, held, running = job_slot(JOB_KEY)
if st.button("Run all methods", type="primary", key="cmp_run", disabled=not methods or running):
    if c.client is None:
        st.error(f"Answering needs a chat backend: {c.client_error or 'none configured'}.")
    else:
        ws, client, embedder, query, gold = c.ws, c.client, c.embedder, opt.input, opt.gold
        # A history item is left out of its own retrieval; dataset queries are held out already.
        held_out = [opt.item_id] if opt.item_id else []
        ported = None
        if port_on:
            source, port_error = get_client(ws, source_settings(c.settings, port_kind, port_model, port_url),
                                            key=PORT_CLIENT_KEY)

            def ported(p: Any) -> tuple[str, Any, Any]:  # runs in the job thread: no session state there
                if source is None:
                    return f"{PORTED_PREFIX}{port_kind}", port_error, None
                rec, info = ported_answer(ws, p, source, query=query, client=client, embedder=embedder, k=k,
                                          gold=gold, disabled_items=held_out)
                return ported_label(source), rec, info

        slot.update({"job": start_compare_job(ws, profile, list(methods), query=query, client=client,
                                              embedder=embedder, k=k, gold=gold, disabled_items=held_out,
                                              ported=ported),
                     "request": (state, (pick, tuple(methods), k))})
        st.rerun()


if running:
    progress_panel(lambda: slot.get("job"), key="cmp_cancel", every=0.5,
                   cancelling="Cancelling before the next model call; the method in progress is "
                              "dropped, finished answers are kept.")
elif held is not None:  # a finished run (taken out of the slot by job_slot): store what it answered
    job: Job = held["job"]
    target, request = held["request"]
    if job.error:
        st.error(f"Answering failed: {safe(job.error)}")
    else:
        records_done, port_info = job.result
        target["records"], target["request"], target["port"] = records_done, request, port_info
        if len(records_done) < len(request[1]):
            st.warning(f"Cancelled: {len(records_done)} of {len(request[1])} methods answered and were kept.")

records = state.get("records")
if records:
    if state.get("request") != (pick, tuple(methods), k):
        st.caption("The selection changed since this run: press **Run all methods** to refresh.")
    st.subheader("Side by side")
    if opt.gold:
        st.caption(f"True response: **{safe(opt.gold)}**")
    st.dataframe(pd.DataFrame(compare_rows(records)), hide_index=True, width="stretch")
    port = state.get("port") if any(n.startswith(PORTED_PREFIX) for n in records) else None
    if port:
        st.caption(f"The ported summary ({port['summary_tokens']} tokens; the raw history has "
                   f"{port['history_tokens']}):")
        st.text(port["text"])  # model-written text is data, never markup
    ok = {n: r for n, r in records.items() if isinstance(r, AnswerRecord)}
    if ok:
        st.plotly_chart(token_bars_figure({n: r.answer.trace.tokens_in for n, r in ok.items()},
                                          title="Prompt tokens per method", height=280),
                        width="stretch", key="cmp_tokens")
    items = list(records.items())
    width = min(3, max(1, len(items)))
    cells = [cell for start in range(0, len(items), width) for cell in st.columns(width)]  # aligned rows of cards
    for cell, (name, rec) in zip(cells, items, strict=False):
        with cell.container(border=True):
            st.markdown(f"**{name}**")
            if isinstance(rec, str):
                st.error(safe(rec))
                continue
            st.metric("Answer", safe(rec.answer.text) or "—", help=None)
            tot = trace_totals(rec.answer.trace)
            n_steps = int(tot["steps"])
            st.caption(f"{tot['tokens_in']} → {tot['tokens_out']} tokens · {tot['latency_ms']:.0f} ms · "
                       f"{n_steps} step{'' if n_steps == 1 else 's'} · {safe(error_text(rec.error))}")
            st.caption(" → ".join(safe(s.name) for s in rec.answer.trace.steps))
            if name in METHOD_NAMES and st.button("Step through", key=f"cmp_open_{name}"):
                ss[Keys.DRILL] = {"pick": pick, "query": opt.input, "gold": opt.gold, "method": name, "k": k}
                st.switch_page("pages/reasoning.py")
elif not running:
    st.info("Press **Run all methods** to answer the query with each method.")
