"""AppTest fixtures: the app pointed at a loopback fake OpenAI server, deterministic stages, the hashing embedder.

Nothing here needs the local llama model or the network. The environment is set for the whole
session because the app reads it when a session starts (``BackendSettings.from_env`` etc.).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.fakes.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "app.py")
TIMEOUT = 300  # a cold UMAP (numba) compile on a loaded 2-core machine can take minutes


@pytest.fixture(autouse=True)
def _navigation_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run app.py on every AppTest run, as the real server does once st.navigation has been called.

    AppTest builds a new PagesManager for every run, which sees the ``pages/`` folder and switches to
    the old folder-based multipage mode: a rerun then executes the page file alone, without app.py
    and its sidebar. The server sets ``uses_pages_directory = False`` when app.py first calls
    ``st.navigation`` and keeps it; this fixture keeps it False from the start.
    """
    from streamlit.runtime import pages_manager

    original = pages_manager.PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        pages_manager.PagesManager.uses_pages_directory = False

    monkeypatch.setattr(pages_manager.PagesManager, "__init__", init)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def app_env(fake_server: FakeOpenAIServer) -> Iterator[dict[str, str]]:
    env = {"INFLOW_BACKEND": "openai", "OPENAI_BASE_URL": fake_server.base_url, "OPENAI_API_KEY": "sk-test-key",
           "INFLOW_MODEL": "fake-model", "INFLOW_STAGES": "deterministic", "INFLOW_EMBEDDER": "hashing",
           "INFLOW_AUTO_BUILD": "0"}  # tests build explicitly; test_auto_build.py turns it on
    saved = {k: os.environ.get(k) for k in [*env, "INFLOW_WORKSPACE"]}
    os.environ.update(env)
    yield env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def make_app(app_env: dict[str, str], tmp_path: Path) -> Callable[..., AppTest]:
    """Return a factory of fresh app sessions on a workspace file (default: a new one in tmp_path)."""

    def make(workspace: Path | None = None) -> AppTest:
        os.environ["INFLOW_WORKSPACE"] = str(workspace or tmp_path / "ws.sqlite")
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.session_state["inflow_play_delay"] = 0.0
        return at

    return make


def goto(at: AppTest, page: str) -> AppTest:
    """Switch to ``pages/<page>.py`` and run."""
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def unescaped(markdown: str) -> str:
    """Return Markdown source with its backslash escapes removed (``pages._shared.safe``'s joiners kept)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def shown(markdown: str) -> str:
    """Return Markdown source as the page shows it: escapes removed, and safe()'s invisible word joiners.

    Data reaches the pages escaped (``pages._shared.safe``); tests about what a page says read it this way.
    """
    from pages._shared import WORD_JOINER

    return unescaped(markdown).replace(WORD_JOINER, "")


def texts(at: AppTest) -> str:
    """All markdown, caption, info, warning, error and success texts of the page, joined (as shown)."""
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
        parts.extend(shown(str(e.value)) for e in getattr(at, kind))
    return "\n".join(parts)


BUILD_JOBS = "_inflow_build_jobs"
RS_JOB = "_inflow_rs_job"


def wait_job(at: AppTest, key: str = RS_JOB, timeout: float = TIMEOUT) -> AppTest:
    """Wait for a page's background job (the Reasoning page's by default) to finish, then run to show its result."""
    held = at.session_state[key] if key in at.session_state else None
    if held:  # the Reasoning page keeps {} when no job runs
        job = held["job"] if isinstance(held, dict) else held
        assert job.wait(timeout), f"the job under {key} did not finish"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wait_build(at: AppTest, timeout: float = TIMEOUT) -> AppTest:
    """Wait for the session's background profile builds to finish, then run so the page picks the result up."""
    deadline = time.time() + timeout
    for job, _title in list(at.session_state[BUILD_JOBS].values()) if BUILD_JOBS in at.session_state else []:
        assert job.wait(max(0.0, deadline - time.time())), "the profile build did not finish"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_built(make_app: Callable[..., AppTest], page: str) -> AppTest:
    """Open ``page`` of a new app, build the active sample user's profile there, and wait for the build."""
    at = make_app()
    at.run()
    goto(at, page)
    at.button(key="build_profile_inline").click().run()
    return wait_build(at)
