"""Inflow workbench: ``streamlit run app.py``.

Declares the eight pages with ``st.navigation`` and draws the sidebar: workspace (open / new),
active dataset and user, backend settings (the API key stays in this browser session only) and a
status line naming the backend and the stage implementations in use.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from core.errors import InputError
from core.llm.local_models import DEFAULT_MODEL as DEFAULT_LOCAL_MODEL
from core.llm.local_models import MODELS as LOCAL_MODELS
from core.llm.settings import BackendSettings
from core.ui_state import (
    STAGE_MODES,
    Keys,
    check_workspace_path,
    dataset_caption,
    dataset_short_caption,
    settings_from_form,
    user_caption,
    user_choices,
)
from core.views.jobs import Job
from core.views.upload_view import user_datasets
from pages._shared import (
    AppContext,
    build_context,
    forget_profiles,
    init_state,
    open_deep_link,
    open_workspace,
    show_problems,
    start_warm_up,
)

st.set_page_config(page_title="Inflow", page_icon=":material/hub:", layout="wide")

PAGES = [
    st.Page("pages/upload.py", title="Data", icon=":material/upload_file:", default=True),
    st.Page("pages/factor_map.py", title="Factor map", icon=":material/scatter_plot:"),
    st.Page("pages/factors.py", title="Factors", icon=":material/category:"),
    st.Page("pages/summary.py", title="Preference summary", icon=":material/summarize:"),
    st.Page("pages/reasoning.py", title="Reasoning step by step", icon=":material/route:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
]


def _workspace_box() -> None:
    ss = st.session_state
    with st.sidebar.expander("Workspace", expanded=False):
        path = st.text_input("Workspace file", value=ss[Keys.WORKSPACE_PATH], key="sb_ws_path",
                             help="One SQLite file holds datasets, builds, summaries, edits, traces and evaluations.")
        c1, c2 = st.columns(2)
        if c1.button("Open", key="sb_ws_open", width="stretch"):
            _switch_workspace(path, new=False)
        if c2.button("New", key="sb_ws_new", width="stretch"):
            _switch_workspace(path, new=True)
        st.caption(f"`{ss[Keys.WORKSPACE_PATH]}`")


def _switch_workspace(text: str, *, new: bool) -> None:
    try:
        path = check_workspace_path(text)
    except InputError as exc:
        show_problems(exc, "Workspace")
        return
    if new and path.exists():
        st.sidebar.error(f"{path} already exists: choose another name, or Open it.")
        return
    if not new and not path.exists():
        st.sidebar.error(f"No workspace at {path}: use New to create one.")
        return
    st.session_state[Keys.WORKSPACE_PATH] = str(path)
    for k in (Keys.DATASET, Keys.USER):
        st.session_state.pop(k, None)
    forget_profiles()
    st.rerun()


def _set_dataset() -> None:
    st.session_state[Keys.DATASET] = st.session_state["sb_dataset"]
    st.session_state.pop(Keys.USER, None)


def _set_user() -> None:
    st.session_state[Keys.USER] = st.session_state["sb_user"]


def _dataset_user() -> None:
    # The plain keys are the truth (pages may change them, e.g. an evaluation drill-down); the widgets follow.
    ss = st.session_state
    ws = open_workspace(ss[Keys.WORKSPACE_PATH])
    # Datasets an evaluation stored for itself stay out of the list unless a drill-down opened one.
    datasets = {d["id"]: d for d in user_datasets(ws.list_datasets(), ss.get(Keys.DATASET))}
    if not datasets:
        st.sidebar.info("No dataset yet: load one on the Data page.")
        ss.pop(Keys.DATASET, None)
        ss.pop(Keys.USER, None)
        return
    if ss.get(Keys.DATASET) not in datasets:
        ss[Keys.DATASET] = next(iter(datasets))
        ss.pop(Keys.USER, None)
    ss["sb_dataset"] = ss[Keys.DATASET]
    st.sidebar.selectbox("Dataset", list(datasets), key="sb_dataset", on_change=_set_dataset,
                         format_func=lambda d: dataset_short_caption(datasets[d]),
                         help=dataset_caption(datasets[ss[Keys.DATASET]]))
    counts = ws.user_item_counts(ss[Keys.DATASET])
    users = user_choices(counts)
    if not users:
        ss.pop(Keys.USER, None)
        return
    if ss.get(Keys.USER) not in counts:
        ss[Keys.USER] = users[0]
    ss["sb_user"] = ss[Keys.USER]
    st.sidebar.selectbox("User", users, key="sb_user", on_change=_set_user,
                         format_func=lambda u: user_caption(u, counts),
                         help=f"{len(users):,} users, sorted by id; type to filter.")


def _backend_box() -> None:
    ss = st.session_state
    current: BackendSettings = ss[Keys.BACKEND]
    with st.sidebar.expander("Model backend", expanded=False):
        kind = st.radio("Backend", ["local", "openai"], index=0 if current.kind == "local" else 1, horizontal=True,
                        key="sb_kind", help="local = the embedded small model (no key, no network); openai = any "
                                            "OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server).")
        base_url = model = key = local_model = ""
        if kind == "local":
            names = list(LOCAL_MODELS)
            chosen = current.local_model if current.local_model in LOCAL_MODELS else DEFAULT_LOCAL_MODEL
            local_model = st.selectbox("Local model", names, index=names.index(chosen), key="sb_local_model",
                                       format_func=lambda n: f"{LOCAL_MODELS[n].title} ({LOCAL_MODELS[n].role})",
                                       help="Qwen2.5-Coder-1.5B answers best; 0.5B is about twice as fast; "
                                            "SmolLM2-135M is tiny. Ignored when INFLOW_GGUF names a file.")
        if kind == "openai":
            base_url = st.text_input("Base URL", value=current.base_url or "", key="sb_base_url",
                                     placeholder="https://api.openai.com/v1")
            model = st.text_input("Model", value=current.model or "", key="sb_model", placeholder="gpt-4o-mini")
            key = st.text_input("API key", type="password", key="sb_api_key",
                                help="Kept in this browser session only: never written to the workspace, "
                                     "an export, a trace or a log.")
        if st.button("Apply backend", key="sb_apply", width="stretch"):
            try:
                ss[Keys.BACKEND] = settings_from_form(kind, base_url=base_url, model=model, api_key=key,
                                                      base=current if current.kind == kind else None,
                                                      local_model=local_model)
                st.rerun()
            except InputError as exc:
                show_problems(exc, "Backend settings")
        modes = list(STAGE_MODES)
        mode = st.selectbox("Stage implementations", modes, index=modes.index(ss[Keys.STAGES]), key="sb_stages",
                            help="auto: LLM stages when the model is capable, deterministic ones when it is weak.")
        ss[Keys.STAGES] = mode
        kinds = ["minilm", "hashing", "openai"]
        emb = st.selectbox("Embedder", kinds, index=kinds.index(ss[Keys.EMBEDDER]), key="sb_embedder",
                           help="minilm: offline all-MiniLM-L6-v2; hashing: fast lexical fallback.")
        ss[Keys.EMBEDDER] = emb
        fresh = st.checkbox("Bypass the LLM cache", value=not current.use_cache, key="sb_no_cache",
                            help="Send every call to the model and cache nothing (e.g. to measure latency or "
                                 "sample again); off = identical calls are answered from the workspace cache.")
        if fresh == current.use_cache:
            ss[Keys.BACKEND] = replace(current, use_cache=not fresh)


def _status(c: AppContext, warm: Job) -> None:
    warm_text = ("warm-up running" if not warm.done else f"warm-up failed: {warm.error}" if warm.error
                 else f"pipeline warm ({float(warm.result or 0):.1f} s)")
    cache = "" if st.session_state[Keys.BACKEND].use_cache else " · LLM cache bypassed"
    st.sidebar.caption(f"{c.status.line}{cache} · {warm_text}")
    for w in c.status.warnings:
        st.sidebar.warning(w, icon=":material/info:")


init_state()
pg = st.navigation(PAGES)
open_deep_link()  # a fresh server's first request was a deep link: open that page now that navigation is set
st.sidebar.markdown("#### Inflow · reasoning-level personalization")
_workspace_box()
_dataset_user()
_backend_box()
warm_job = start_warm_up()
context = build_context()
_status(context, warm_job)
pg.run()
