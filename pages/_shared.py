"""Streamlit glue shared by app.py and the pages: cached handles, the session context, small widgets.

Logic that tests need lives in core/ (core.ui_state, core.views, core.viz); this module only binds it
to Streamlit (caching, session state, rendering problems and progress).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from core.embed.factory import default_embedder_kind
from core.errors import InputError
from core.llm.settings import BackendSettings
from core.store.workspace import Workspace
from core.ui_state import (
    BackendStatus,
    Keys,
    backend_status,
    default_stage_mode,
    default_workspace_path,
    ensure_sample_data,
)
from core.views.build_settings import pipeline_settings
from core.views.jobs import Job

CTX_KEY = "_inflow_ctx"
PROFILE_CACHE = "_inflow_profiles"
CLIENT_KEY = "_inflow_client"


# -- cached shared handles --------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def start_warm_up() -> Job:
    """Start the pipeline warm-up once per server process, in the background (JIT-compiles UMAP / HDBSCAN).

    The first build then skips most of the numba compile cost; pages never wait for the warm-up.
    """

    def work(job: Job) -> Any:
        from core.stages.warmup import warm_up

        return warm_up()

    return Job(work, "warm-up").start()


@st.cache_resource(show_spinner="Opening the workspace…")
def open_workspace(path: str) -> Workspace:
    """Open a workspace file once per server (a Workspace is thread-safe); a fresh one gets the samples."""
    ws = Workspace(path)
    if not os.environ.get("INFLOW_NO_SAMPLES"):
        ensure_sample_data(ws)
    return ws


@st.cache_resource(show_spinner="Loading the embedding model…")
def base_embedder(kind: str) -> Any:
    """Return the (uncached) embedder of a kind, shared by all sessions."""
    from core.embed.factory import make_embedder

    return make_embedder(kind)


# -- the session context ----------------------------------------------------------------------------------
@dataclass
class AppContext:
    """What every page needs, rebuilt by app.py on each run."""

    ws: Workspace
    dataset_id: str | None
    user_id: str | None
    settings: BackendSettings
    client: Any | None
    client_error: str | None
    embedder: Any
    embedder_kind: str
    stage_mode: str
    status: BackendStatus
    pipeline_overrides: dict[str, Any] = field(default_factory=dict)

    def pipeline_settings(self, *, deterministic: bool = False) -> Any:
        """The :class:`core.stages.profile.PipelineSettings` for a build from the sidebar choices.

        ``deterministic`` forces the deterministic stage implementations (the embedder stays the chosen one).
        """
        mode = "deterministic" if deterministic else self.stage_mode
        return pipeline_settings(mode, self.embedder_kind, overrides=self.pipeline_overrides)


def init_state() -> None:
    """Set the plain session keys' defaults (once per session)."""
    ss = st.session_state
    ss.setdefault(Keys.WORKSPACE_PATH, str(default_workspace_path()))
    ss.setdefault(Keys.STAGES, default_stage_mode())
    ss.setdefault(Keys.EMBEDDER, default_embedder_kind())
    ss.setdefault(Keys.PIPELINE, {})
    ss.setdefault(Keys.SELECTION, [])
    if Keys.BACKEND not in ss:
        try:
            ss[Keys.BACKEND] = BackendSettings.from_env()
        except InputError:
            ss[Keys.BACKEND] = BackendSettings()


def _client_fingerprint(s: BackendSettings) -> tuple[Any, ...]:
    # The key is part of the fingerprint only as "set or not" plus its id in memory; never rendered or saved.
    return (s.kind, s.base_url, s.model, s.gguf_path, s.local_model, s.max_concurrency, s.use_cache,
            id(s.api_key) if s.api_key else None)


def get_client(ws: Workspace, settings: BackendSettings, key: str = CLIENT_KEY) -> tuple[Any | None, str | None]:
    """Return this session's LLM client for the settings (made once per settings), or the error why not.

    ``key`` holds a second client beside the session's (the Compare page's summary model).
    """
    from core.llm.factory import make_client

    fp = (ws.path, *_client_fingerprint(settings))
    held = st.session_state.get(key)
    if held and held[0] == fp:
        return held[1], held[2]
    try:
        client, error = make_client(settings, ws), None
    except InputError as exc:
        client, error = None, "; ".join(p.message for p in exc.problems)
    st.session_state[key] = (fp, client, error)
    return client, error


def build_context() -> AppContext:
    """Open the workspace, make the client and embedder, and store the context for the pages."""
    from core.embed.cached import CachedEmbedder

    ss = st.session_state
    ws = open_workspace(ss[Keys.WORKSPACE_PATH])
    settings: BackendSettings = ss[Keys.BACKEND]
    client, error = get_client(ws, settings)
    caps = client.capabilities if client is not None else None
    status = backend_status(caps, ss[Keys.STAGES], error=error)
    kind = ss[Keys.EMBEDDER]
    embedder = CachedEmbedder(base_embedder(kind), ws)
    ctx = AppContext(ws=ws, dataset_id=ss.get(Keys.DATASET), user_id=ss.get(Keys.USER), settings=settings,
                     client=client, client_error=error, embedder=embedder, embedder_kind=kind,
                     stage_mode=ss[Keys.STAGES], status=status, pipeline_overrides=dict(ss[Keys.PIPELINE]))
    ss[CTX_KEY] = ctx
    return ctx


def ctx() -> AppContext:
    """Return the context app.py built on this run.

    A page runs without app.py when a fresh server's first request is a deep link (``/factor_map``):
    Streamlit then treats ``pages/`` as an old-style page folder, runs the page file alone and lists
    every file of the folder as a page. The page hands over to app.py instead, whose ``st.navigation``
    puts the real pages and the sidebar in place; app.py then opens the page that was asked for.
    """
    c = st.session_state.get(CTX_KEY)
    if c is None:
        st.session_state[DEEP_LINK_KEY] = Path(_calling_page()).name
        st.switch_page("app.py")
    return c


DEEP_LINK_KEY = "_inflow_deep_link"
"""The page file a deep link asked for before app.py had run (see :func:`ctx`)."""


def _calling_page() -> str:
    """The file name of the page module that called :func:`ctx` ("" when not a page)."""
    import inspect

    for frame in inspect.stack()[2:6]:
        name = Path(frame.filename)
        if name.parent.name == "pages" and not name.name.startswith("_"):
            return str(name)
    return ""


def open_deep_link() -> None:
    """Called by app.py after ``st.navigation``: open the page a deep link asked for, once."""
    target = st.session_state.pop(DEEP_LINK_KEY, "")
    if target and (Path(__file__).parent / target).is_file():
        st.switch_page(f"pages/{target}")


# -- profiles -----------------------------------------------------------------------------------------------
def _pkey(c: AppContext) -> tuple[str, str | None, str | None]:
    return (c.ws.path, c.dataset_id, c.user_id)


def get_profile(c: AppContext) -> Any | None:
    """Return the active user's profile (loaded once per session, kept until an edit or rebuild)."""
    if not c.dataset_id or not c.user_id:
        return None
    cache = st.session_state.setdefault(PROFILE_CACHE, {})
    key = _pkey(c)
    if key not in cache:
        from core.stages.pipeline import load_profile

        cache[key] = load_profile(c.ws, c.dataset_id, c.user_id)
    return cache[key]


def set_profile(c: AppContext, profile: Any | None) -> None:
    """Replace the cached profile of the active user (after a build, re-cluster or edit)."""
    st.session_state.setdefault(PROFILE_CACHE, {})[_pkey(c)] = profile


def forget_profiles() -> None:
    """Drop every cached profile (after loading data or switching workspace)."""
    st.session_state[PROFILE_CACHE] = {}


# -- building profiles (in the background, with progress and Cancel) -------------------------------------------
BUILD_JOBS = "_inflow_build_jobs"  # {(ws path, dataset, user): (Job, title)}
BUILD_NOTES = "_inflow_build_notes"  # {(ws path, dataset, user): (kind, message or InputError)} of the last build
AUTO_TRIED = "_inflow_auto_tried"  # keys the automatic first build was started for (never twice per session)


def start_build(c: AppContext, *, title: str | None = None, deterministic: bool = False) -> Any:
    """Start building the active user's profile in the background (see :mod:`core.views.build_view`).

    Args:
        c: The context (its backend, embedder and pipeline settings are used).
        title: What the progress panel says.
        deterministic: Use the deterministic stage implementations whatever the sidebar says (no model calls).
    """
    from core.views.build_view import start_build_job

    key = _pkey(c)
    # Every session-state access may end the run when a rerun is pending (a click elsewhere): take the dicts
    # first, so a started build is always registered (a build started but never stored ran unseen, and the
    # page said "no profile yet").
    jobs, notes = st.session_state.setdefault(BUILD_JOBS, {}), st.session_state.setdefault(BUILD_NOTES, {})
    job = start_build_job(c.ws, str(c.dataset_id), str(c.user_id), client=c.client, embedder=c.embedder,
                          settings=c.pipeline_settings(deterministic=deterministic))
    jobs[key] = (job, title or f"Building the profile of **{safe(c.user_id)}**")
    notes.pop(key, None)
    return job


def maybe_auto_build(c: AppContext) -> bool:
    """Start the first build of a sample user unasked (once per session and user); True when started.

    Only for the shipped sample datasets, only when no profile exists, with the deterministic stages
    (an unasked build never spends model calls) and the chosen embedder. ``INFLOW_AUTO_BUILD=0`` turns it off.
    """
    from core.views.build_view import auto_build_allowed

    key = _pkey(c)
    tried: set = st.session_state.setdefault(AUTO_TRIED, set())
    if key in tried or key in st.session_state.get(BUILD_JOBS, {}) or get_profile(c) is not None:
        return False
    if not auto_build_allowed(c.ws, c.dataset_id, c.user_id):
        return False
    start_build(c, deterministic=True,
                title=f"First visit: building the profile of sample user **{safe(c.user_id)}** (deterministic stages, "
                      f"{c.embedder_kind} embeddings)")
    tried.add(key)  # after the start: a run ended before it leaves the build to the next run
    return True


def build_running(c: AppContext) -> bool:
    """Show the active user's running build (progress and Cancel) and return True; finish a done one.

    A finished build's profile replaces the cached one; a cancelled or failed build leaves a note
    (see :func:`show_build_note`).
    """
    from core.views.build_view import BuildCancelled, cancelled_note

    key = _pkey(c)
    jobs = st.session_state.setdefault(BUILD_JOBS, {})
    held = jobs.get(key)
    if held is None:
        return False
    job, title = held
    if not job.done:
        st.info(f"{title} — features, factor map, summary and reasoning paths. Each finished step is stored, so a "
                "later visit opens instantly.", icon=":material/hourglass_top:")
        _build_panel(key)
        return True
    jobs.pop(key, None)
    notes = st.session_state.setdefault(BUILD_NOTES, {})
    if isinstance(job.exception, BuildCancelled):
        notes[key] = ("warning", cancelled_note(c.ws, str(c.dataset_id), str(c.user_id)))
    elif isinstance(job.exception, InputError):
        notes[key] = ("problems", job.exception)
    elif job.exception is not None:
        notes[key] = ("error", f"The build failed: {safe(job.error)}")
    else:
        set_profile(c, job.result)
    return False


def show_build_note(c: AppContext, *, clear: bool = False) -> None:
    """Show what the last build of the active user left to say (cancelled / failed), if anything."""
    notes = st.session_state.get(BUILD_NOTES, {})
    note = notes.pop(_pkey(c), None) if clear else notes.get(_pkey(c))
    if note is None:
        return
    kind, payload = note
    if kind == "problems":
        show_problems(payload, "The build stopped")
    elif kind == "warning":
        st.warning(payload, icon=":material/cancel:")
    else:
        st.error(payload)


def _build_panel(key: tuple[str, str | None, str | None]) -> None:
    from pages._progress import progress_panel

    def job() -> Job | None:
        held = st.session_state.get(BUILD_JOBS, {}).get(key)
        return held[0] if held else None

    progress_panel(job, key="build_cancel", cancelling="Cancelling at the next step; what is finished stays stored.",
                   help="Stop at the next step. Finished items stay stored; building again resumes.")


# -- text from the data -------------------------------------------------------------------------------------
_MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
# GFM's literal autolinks (a bare http(s)://..., www.... or e-mail address) are found in the text
# after its escapes are resolved, so no escape stops them; an invisible word joiner does.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=https:)(?=//)|(?<=http:)(?=//)|(?<=www)(?=\.)|(?<=[-.\w+])(?=@)")


def safe(text: Any) -> str:
    """Return text from the data (texts, ids, names, summaries, model output) escaped for any Markdown slot.

    Every Markdown-rendering call (``st.markdown``, ``st.caption``, ``st.info``, widget and expander
    labels...) gets data only through this. Each ASCII punctuation character is backslash-escaped
    (CommonMark shows an escaped character as itself), so nothing from the data can become a
    heading, list, link, image (no fetch of a remote address), code, table, LaTeX (``$``),
    Streamlit colour or icon directive (``:red[...]``, ``:material/...:``) or HTML. A bare web or
    e-mail address would still become a link (GFM links them in the rendered text), so a word
    joiner (U+2060, zero-width) goes where each such address starts: it reads the same, is not a
    link, and a copied address carries the invisible joiner.
    """
    return _MD_PUNCT.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, str(text)))


def show_failures(c: AppContext, profile: Any) -> None:
    """Show which items, factor names, summary or paths of the profile's build failed or fell back (if any)."""
    from core.views.build_view import failure_report

    heading, lines = failure_report(c.ws, profile)
    if not heading:
        return
    with st.expander(f"{heading.capitalize()}.", icon=":material/warning:"):
        st.text("\n".join(lines))  # plain text: item ids and endpoint messages are data
        if st.button("Build again", key="failures_rebuild", help="Cached calls are free; only these go to the model."):
            start_build(c, title=f"Retrying the failed calls of **{safe(c.user_id)}**")
            st.rerun()


# -- small widgets ------------------------------------------------------------------------------------------
def show_problems(exc: InputError, title: str = "Problems", *, folder: Path | None = None) -> None:
    """Show an InputError's problems as ``file:row:field: message`` lines (no traceback).

    ``folder``: an upload folder to strip from file names, so users see the names they uploaded.
    """
    from core.views.upload_view import display_problem

    lines = "\n".join(f"- {safe(display_problem(p, folder))}" for p in exc.problems)
    more = "\n- … more problems not shown" if getattr(exc, "truncated", False) else ""
    st.error(f"**{title}:**\n{lines}{more}")


def wkey(name: str, default: Any) -> str:
    """Return a widget key whose value starts from (and is copied back to, see :func:`keep`) a plain key."""
    w = f"w_{name}"
    if w not in st.session_state:
        st.session_state[w] = st.session_state.get(name, default)
    return w


def keep(name: str) -> None:
    """on_change callback: copy a widget's value into its plain session key (survives page switches)."""
    st.session_state[name] = st.session_state[f"w_{name}"]


def persisted(name: str, default: Any) -> Any:
    """Return a persisted value (plain key, else the widget's current value, else the default)."""
    if name in st.session_state:
        return st.session_state[name]
    return st.session_state.get(f"w_{name}", default)


def need_user(c: AppContext) -> bool:
    """Show a hint and return False when no dataset / user is active."""
    if not c.dataset_id or not c.user_id:
        st.info("Choose a dataset and a user in the sidebar (or load data on the **Data** page).")
        return False
    return True


def need_profile(c: AppContext, *, build_button: bool = True) -> Any | None:
    """Return the active user's profile, or show its build (returns None until built).

    A running build shows its progress with Cancel. A sample user without a profile is built
    automatically on the first visit (:func:`maybe_auto_build`); others get a "Build profile" button.
    """
    if not need_user(c):
        return None
    if build_running(c):
        return None
    profile = get_profile(c)
    if profile is not None:
        show_build_note(c, clear=True)
        show_failures(c, profile)
        return profile
    if maybe_auto_build(c):
        build_running(c)
        return None
    if _pkey(c) in st.session_state.get(BUILD_NOTES, {}):
        show_build_note(c)
    else:
        st.info(f"User **{safe(c.user_id)}** of **{safe(c.dataset_id)}** has no profile yet: build it to extract "
                "features, cluster them into factors and write a summary and reasoning paths.")
    if build_button and st.button("Build profile", type="primary", key="build_profile_inline"):
        start_build(c)
        st.rerun()
    return None


def user_state(key: str, profile: Any) -> dict[str, Any]:
    """Return a page's plain session-state dict, emptied when the active dataset or user changes."""
    state: dict[str, Any] = st.session_state.setdefault(key, {})
    user_key = (profile.dataset_id, profile.user_id)
    if state.get("user") != user_key:
        state.clear()
        state["user"] = user_key
    return state
