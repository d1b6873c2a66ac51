"""Reasoning step by step: pick or type a query, pick a method, walk its trace one step at a time, ablate."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.methods.registry import DESCRIPTIONS, METHOD_NAMES
from core.methods.types import PoolMatch
from core.store.workspace import stable_hash
from core.ui_state import Keys
from core.views.answer_jobs import (
    JobCancelled,
    ablate_all_rows,
    cancelled_answer_note,
    start_ablate_all_job,
    start_answer_job,
)
from core.views.answering import AnswerRecord, error_text, make_context
from core.views.pool_view import pool_step_tables
from core.views.query_view import query_options
from core.views.trace_view import StepCard, TraceCursor, step_cards, timeline_steps, trace_totals
from core.viz.trace_timeline import trace_timeline_figure
from pages._pool import pool_panel
from pages._progress import job_slot, progress_panel
from pages._shared import ctx, need_profile, safe, show_problems, user_state

c = ctx()
st.title("Reasoning, step by step")
profile = need_profile(c)
if profile is None:
    st.stop()
ss = st.session_state
state = user_state(Keys.REASONING, profile)

# A per-query drill-down sent from the Evaluate or Compare page: a known query is picked, others are typed in.
drill = ss.pop(Keys.DRILL, None)
if drill and drill.get("item_id"):
    state.setdefault("extra_items", [])
    if drill["item_id"] not in state["extra_items"]:
        state["extra_items"].append(drill["item_id"])
options = query_options(c.ws, profile, extra_items=state.get("extra_items", []))
by_key = {o.key: o for o in options}
if drill:
    if drill.get("pick") in by_key:
        state.update({"source": "Pick a query", "pick": drill["pick"]})
    else:
        state.update({"source": "Type a query", "typed": drill["query"], "typed_gold": drill.get("gold") or ""})
    state["method"] = drill.get("method", state.get("method", "rpm"))
    if drill.get("k") is not None:
        state["k"] = int(drill["k"])
    for name in ("source", "pick", "typed", "typed_gold", "method", "k"):
        ss.pop(f"w_rs_{name}", None)


def _persist(name: str, default: Any) -> str:
    """Widget key for a value kept in the reasoning state (survives page switches)."""
    w = f"w_rs_{name}"
    if w not in ss:
        ss[w] = state.get(name, default)
    return w


def _keep(name: str) -> None:
    state[name] = ss[f"w_rs_{name}"]


# -- the query ---------------------------------------------------------------------------------------------------
source = st.radio("Query", ["Pick a query", "Type a query"], horizontal=True, key=_persist("source", "Pick a query"),
                  on_change=_keep, args=("source",))
item_id: str | None = None
if source == "Pick a query" and options:
    keys = list(by_key)
    if state.get("pick") not in by_key:
        state["pick"] = keys[0]
        ss.pop("w_rs_pick", None)
    pick = st.selectbox("History item or dataset query", keys, format_func=lambda k: by_key[k].label,
                        key=_persist("pick", keys[0]), on_change=_keep, args=("pick",))
    opt = by_key[pick]
    query, gold, item_id = opt.input, opt.gold, opt.item_id
    with st.expander("Query text", expanded=False):
        st.markdown(safe(query))
    if item_id:
        st.caption(f"History item {safe(item_id)} is left out of retrieval, so it cannot answer itself; the user's "
                   f"real response (**{safe(gold)}**) is shown for comparison at the end. It still counts in the "
                   "factors' statistics and the summary: for a strict test use a dataset query or the **Evaluate** "
                   "page, which builds each profile on earlier items only.")
else:
    query = st.text_area("Your query", key=_persist("typed", ""), on_change=_keep, args=("typed",), height=100,
                         placeholder="e.g. Bought this blender last month. The jar cracked after two weeks…")
    gold = st.text_input("True response (optional, to see the error)", key=_persist("typed_gold", ""),
                         on_change=_keep, args=("typed_gold",)) or None

m1, m2 = st.columns([2, 1])
method = m1.selectbox("Method", METHOD_NAMES, format_func=lambda m: f"{m} — {DESCRIPTIONS.get(m, '')}",
                      key=_persist("method", "rpm"), on_change=_keep, args=("method",))
k = m2.slider("Retrieved items (k)", 0, 10, key=_persist("k", 4), on_change=_keep, args=("k",))
reason_first = method == "rpm" and st.checkbox(
    "Reason before answering", key=_persist("reason_first", False), on_change=_keep, args=("reason_first",),
    help="The model first writes how this user would see the input (free text, shown in the trace), then answers "
         "with that reasoning in its prompt. One more model call.")
state.setdefault("method", method)
state.setdefault("k", k)
with st.expander("Prompt pool — the snippets and examples the **pool** method picks from", expanded=False,
                 icon=":material/playlist_add_check:"):
    pool_panel(c, profile)

request = {"query": query, "method": method, "k": k, "item": item_id, "reason_first": reason_first,
           "pool": stable_hash(c.ws.get_pool(profile.dataset_id, profile.user_id)) if method == "pool" else None}
RS_JOB = "_inflow_rs_job"  # {"job", "kind": answer / rerun / ablate_all, "state", "request", "go", ...}; {} when idle
slot, held, running = job_slot(RS_JOB)
if held is not None and not running:  # a finished job: keep its result in the state it was started for
    job, target = held["job"], held["state"]
    if isinstance(job.exception, JobCancelled):
        st.warning(cancelled_answer_note(held["kind"], cached=c.settings.use_cache, dropped=job.exception.dropped),
                   icon=":material/cancel:")
    elif isinstance(job.exception, InputError):
        show_problems(job.exception, "The method failed" if held["kind"] == "answer" else "The re-run failed")
    elif job.exception is not None:
        st.error(f"The method failed: {safe(job.error)}")
    elif held["kind"] == "answer":
        target.update({"record": job.result, "request": held["request"], "shown": 1 if held["go"] == "next" else 0,
                       "ablation": None, "ablate_all": None, "play": held["go"] == "play"})
    elif held["kind"] == "rerun":
        from core.methods.ablation import compare

        base, ab = held["original"], job.result
        changed, shift, flipped, rouge_l = compare(base.answer, ab.answer, profile.task)
        target["ablation"] = {"removed": held["removed"], "answer": ab.answer.text, "error": error_text(ab.error),
                              "changed": changed, "shift": shift, "flipped": flipped, "rouge_l": rouge_l}
    else:
        out = job.result
        target["ablate_all"] = ablate_all_rows(out.results)
        if out.cancelled:
            st.warning(f"Cancelled: {len(out.results)} of {out.planned} factors were re-run; their rows are kept.",
                       icon=":material/cancel:")
    held = None
record: AnswerRecord | None = state.get("record")
stale = record is None or state.get("request") != request


def _start(kind: str, new_job: Any, **extra: Any) -> None:
    slot.update({"job": new_job, "kind": kind, "state": state, **extra})
    st.rerun()


def _panel(kind: str) -> None:
    """The progress and Cancel of a running job of this kind (shown where its button is)."""
    if running and held is not None and held["kind"] == kind:
        progress_panel(lambda: slot.get("job"), key=f"rs_cancel_{kind}",
                       cancelling=CANCELLING[kind])


CANCELLING = {"answer": "Cancelling before the next model call; the answer in progress is dropped.",
              "rerun": "Cancelling before the next model call; the re-run in progress is dropped.",
              "ablate_all": "Cancelling before the next model call; the factor in progress is dropped, "
                            "the factors finished are kept."}


def _start_answer(go: str) -> None:
    if not query.strip():
        st.warning("Enter a query first.")
    elif c.client is None:
        st.error(f"Answering needs a chat backend: {c.client_error or 'none configured'}. Set one in the sidebar.")
    else:
        _start("answer", start_answer_job(c.ws, profile, method=method, query=query, client=c.client,
                                          embedder=c.embedder, k=k, gold=gold,
                                          disabled_items=[item_id] if item_id else [], reason_first=reason_first),
               request=request, go=go)


b1, b2, b3, _ = st.columns([1, 1, 1, 3])
next_clicked = b1.button("Next step", type="primary", key="rs_next", width="stretch", disabled=running)
play_clicked = b2.button("Play", key="rs_play", width="stretch", disabled=running)
if b3.button("Reset", key="rs_reset", width="stretch", disabled=running):
    state["shown"] = 0
if (next_clicked or play_clicked) and stale:
    _start_answer("next" if next_clicked else "play")
_panel("answer")
play_clicked = play_clicked or bool(state.pop("play", False))  # Play pressed before the answer existed
if record is not None and not stale:
    n = len(record.answer.trace.steps)
    cursor = TraceCursor(n, int(state.get("shown", 0)))
    if next_clicked:
        cursor = cursor.next()
    state["shown"] = cursor.shown
elif record is not None and not running:
    st.info("The query, method or k changed: press **Next step** to run it.")


# -- rendering a step --------------------------------------------------------------------------------------------
def _render_output(value: Any, fallback: str) -> None:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        cols = [col for col in ("phrase", "aspect", "direction", "strength", "evidence") if col in value[0]]
        st.dataframe(pd.DataFrame(value)[cols] if cols else pd.DataFrame(value), hide_index=True,
                     width="stretch")
    elif isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        for key, text in value.items():
            st.markdown(f"**{safe(key.capitalize())}**")
            st.markdown(safe(text) or "_none_")
    elif isinstance(value, str):
        st.markdown(f"> {safe(value)}" if value else "_empty_")
    elif fallback:
        st.code(fallback, language="json")


def _render_pool_step(pool: PoolMatch) -> None:
    tables = pool_step_tables(pool, {f.id: f.name for f in profile.factors})
    st.caption(safe(tables["caption"]))
    text_col = {"text": st.column_config.TextColumn(width="large")}
    if tables["chosen"]:
        st.markdown(f"The {len(tables['chosen'])} entries prepended to the prompt, best first:")
        st.dataframe(pd.DataFrame(tables["chosen"]), hide_index=True, width="stretch", column_config=text_col)
    else:
        st.caption("No pool entry was available (all were switched off, or k is 0).")
    if tables["candidates"]:
        n_best, size = len(tables["candidates"]), pool.pool_size
        with st.expander(f"Every candidate's score ({n_best} best of {size})"):
            st.dataframe(pd.DataFrame(tables["candidates"]), hide_index=True, width="stretch", column_config=text_col)
            if tables["weights"]:
                st.caption("Re-ranker weights: " + ", ".join(f"{name.replace('_', ' ')} {w:+.2f}"
                                                             for name, w in tables["weights"].items()))


def _render_card(card: StepCard, step: Any, *, final: bool) -> None:
    with st.container(border=True):
        tok = f" · tokens {card.tokens_in} → {card.tokens_out}" if (card.tokens_in or card.tokens_out) else ""
        badge = ":green[:material/check_circle:]" if card.status == "ok" else ":red[:material/error:]"
        st.markdown(f"#### {safe(card.title)}")
        st.caption(f"{badge} {card.kind_title} · {card.latency_ms:.0f} ms{tok}")
        if card.kind == "features":
            st.markdown("The query's response-influential features, extracted the same way as the history's:")
            _render_output(step.output, card.output_text)
        elif card.detail.pool is not None:
            _render_pool_step(card.detail.pool)
        elif card.kind == "retrieve":
            if card.documents:
                st.dataframe(pd.DataFrame(card.documents), hide_index=True, width="stretch",
                             column_config={"text": st.column_config.TextColumn(width="large")})
            else:
                st.caption("Nothing retrieved.")
            if card.matched:
                st.markdown("Matched feature pairs (why each item was retrieved):")
                st.dataframe(pd.DataFrame(card.matched), hide_index=True, width="stretch")
            removed = card.detail.removed
            if removed:
                st.caption(f"Left out: {safe(', '.join(removed))}")
        elif card.kind == "reason" and card.decision is not None:  # options and answers may be labels from the data
            st.markdown(f"**Rule:** {safe(card.decision['rule'])}")
            st.dataframe(pd.DataFrame(card.decision["rows"]), hide_index=True, width="stretch")
            st.markdown(f"**Answer:** {safe(card.decision['answer'])}")
            if card.decision["alternatives"]:
                st.caption("What each candidate rule would have answered: " + safe(", ".join(
                    f"{name} {value}" for name, value in card.decision["alternatives"].items())))
        elif card.kind == "reason" and card.wording is not None:  # both candidates are text from the data
            st.markdown(safe(card.wording["verdict"]))
            st.dataframe(pd.DataFrame(card.wording["rows"]), hide_index=True, width="stretch",
                         column_config={"text": st.column_config.TextColumn(width="large")})
            st.caption(f"Words the rewrite brings in: {safe(card.wording['added']) or '(none)'} · "
                       f"takes out: {safe(card.wording['removed']) or '(none)'}")
            if card.wording["meaning"]:  # quotes an earlier text of the user: data
                st.caption(safe(card.wording["meaning"]))
            st.markdown(f"**Answer:** {safe(card.output_text)}")
        elif card.kind == "reason":
            if card.factors:
                st.markdown("Factors used:")
                frame = pd.DataFrame(card.factors)
                cols = [x for x in ("id", "name", "reason", "influence", "ci_low", "ci_high", "coverage", "polarity",
                                    "top_label", "mutual_info", "pinned") if x in frame and frame[x].notna().any()]
                st.dataframe(frame[cols].round(3), hide_index=True, width="stretch")
            if card.paths:
                st.markdown("Reasoning paths of the retrieved items:")
                st.markdown("\n".join(f"- {safe(p)}" for p in card.paths))
            if not card.factors and not card.paths:
                _render_output(step.output, card.output_text)
        else:  # llm / rewrite
            with st.expander("Prompt", expanded=final):
                system = card.detail.system
                if system:
                    st.caption("System")
                    st.code(str(system), language=None, wrap_lines=True)
                st.caption("User")
                st.code(card.input_text, language=None, wrap_lines=True)
            st.markdown(f"**Output:** {safe(card.output_text)}")
            if card.detail.error:
                st.warning(safe(card.detail.error))
        if card.more:
            with st.expander("Details"):
                st.json(card.more, expanded=False)


if record is not None and not stale:
    trace = record.answer.trace
    cards = step_cards(trace)
    n = len(cards)
    timeline = st.empty()
    body = st.container()
    shown = int(state.get("shown", 0))
    if play_clicked:
        delay = float(ss.get("inflow_play_delay", 0.6))
        start = shown
        with body:
            for i in range(start):
                _render_card(cards[i], trace.steps[i], final=False)
        for i in range(start, n):
            shown = i + 1
            timeline.plotly_chart(trace_timeline_figure(timeline_steps(trace), cursor=i), width="stretch",
                                  key=f"rs_timeline_play_{i}")
            with body:
                _render_card(cards[i], trace.steps[i], final=i == n - 1)
            if delay > 0 and i < n - 1:
                time.sleep(delay)
        state["shown"] = shown
    else:
        timeline.plotly_chart(trace_timeline_figure(timeline_steps(trace), cursor=shown - 1 if shown else -1),
                              width="stretch", key="rs_timeline")
        with body:
            for i in range(shown):
                _render_card(cards[i], trace.steps[i], final=i == n - 1)
    totals = trace_totals(trace)
    if shown >= n:
        st.subheader("Answer")
        a1, a2, a3, a4 = st.columns(4)
        a1.metric("Answer", safe(record.answer.text) or "—")
        a2.metric("True response", safe(record.gold or "") or "—")
        a3.metric("Error", error_text(record.error))
        a4.metric("Tokens in → out", f"{totals['tokens_in']} → {totals['tokens_out']}")
        st.caption(f"{totals['steps']} steps · {totals['latency_ms']:.0f} ms · summary version "
                   f"{trace.summary_version if trace.summary_version is not None else '—'} · "
                   f"run {safe(record.run_label or record.run_id)}")
    else:
        st.caption(f"Step {shown} of {n}. Press **Next step** to continue, or **Play** to run through the rest.")

    # -- ablation ------------------------------------------------------------------------------------------------
    if shown >= n:
        st.subheader("Ablation")
        st.caption("Switch factors or retrieved items off and re-run: if the shown reasoning drives the answer, "
                   "removing an influential factor should move it.")
        docs = [d for s in trace.steps if s.kind == "retrieve" for d in s.documents]
        ctx_full = make_context(profile, client=c.client, embedder=c.embedder, k=k,
                                disabled_items=[item_id] if item_id else [], ws=c.ws, reason_first=reason_first)
        factors = ctx_full.active_factors()
        with st.form("rs_ablate_form", border=True):
            f_col1, f_col2, d_col = st.columns(3)
            f_col1.markdown("**Factors**")
            f_col2.markdown("&nbsp;")
            d_col.markdown("**Retrieved items and the summary**")
            half = (len(factors) + 1) // 2
            off_f = [f.id for i, f in enumerate(factors)
                     if (f_col1 if i < half else f_col2).checkbox(f"{safe(f.name)} ({safe(f.id)})",
                                                                   key=f"rs_off_f_{f.id}")]
            off_d = [d.id for d in docs if d_col.checkbox(f"{safe(d.id)} (score {d.score:.2f})",
                                                          key=f"rs_off_d_{d.id}")]
            no_summary = d_col.checkbox("The preference summary", key="rs_off_summary")
            go = st.form_submit_button("Re-run with these removed", disabled=running)
        if go:
            if not (off_f or off_d or no_summary):
                st.warning("Switch at least one thing off.")
            elif not running:
                _start("rerun", start_answer_job(c.ws, profile, method=method, query=query, client=c.client,
                                                 embedder=c.embedder, k=k, gold=gold, disabled_factors=off_f,
                                                 disabled_items=off_d + ([item_id] if item_id else []),
                                                 use_summary=not no_summary, reason_first=reason_first),
                       original=record, removed=off_f + off_d + (["summary"] if no_summary else []))
        _panel("rerun")
        ab_state = state.get("ablation")
        if ab_state:
            x1, x2, x3 = st.columns(3)
            x1.metric("Original answer", safe(record.answer.text))
            delta = f"{ab_state['shift']:+.2f}" if ab_state.get("shift") is not None else None
            x2.metric("Answer without " + safe(", ".join(ab_state["removed"])), safe(ab_state["answer"]), delta=delta)
            x3.metric("Changed", "yes" if ab_state["changed"] else "no")
        if st.button("Ablate each factor in turn", key="rs_ablate_all", disabled=running):
            # an ``ablation`` run of its own, its parent the answer run shown above
            _start("ablate_all", start_ablate_all_job(c.ws, profile, method=method, query=query, client=c.client,
                                                      embedder=c.embedder, k=k,
                                                      disabled_items=[item_id] if item_id else [],
                                                      reason_first=reason_first, answer_run_id=record.run_id))
        _panel("ablate_all")
        if state.get("ablate_all"):
            st.dataframe(pd.DataFrame(state["ablate_all"]), hide_index=True, width="stretch")
elif record is None and not running:
    st.info("Press **Next step** to run the method and reveal its first step, or **Play** to watch all steps.")
