"""One real-browser pass: `streamlit run app.py` on 127.0.0.1, driven by Playwright on Debian's Chromium.

Opens every page with the sample data (the sample user's profile builds by itself on the first
visit), steps through an answer, edits the prompt pool, compares methods, runs a small evaluation,
asserts on the page text and saves a screenshot of each page under tests/artifacts/. Skips cleanly
without /usr/bin/chromium or playwright; never downloads a browser. The app talks to a loopback
fake OpenAI server, with deterministic stages.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("streamlit did not become healthy")


@contextlib.contextmanager
def streamlit_app(tmp: Path, fake: FakeOpenAIServer, **env_extra: str) -> Iterator[str]:
    """Serve app.py with ``streamlit run`` on a free loopback port against ``fake``; yield its URL.

    The server's log goes to ``tmp/streamlit.log``; the server is stopped on exit.
    """
    port = _free_port()
    # Settings other tests of this session left in os.environ (e.g. INFLOW_AUTO_BUILD=0) are not inherited.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("INFLOW_", "OPENAI_"))}
    env = {**inherited, "INFLOW_WORKSPACE": str(tmp / "ws.sqlite"), "INFLOW_BACKEND": "openai",
           "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "sk-browser-test", "INFLOW_MODEL": "fake-model",
           "INFLOW_STAGES": "deterministic", "INFLOW_EMBEDDER": "hashing", "PYTHONUNBUFFERED": "1", **env_extra}
    with (tmp / "streamlit.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("browser")
    with FakeOpenAIServer() as fake:
        try:
            with streamlit_app(tmp, fake) as url:
                yield url
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp / "streamlit.log", ARTIFACTS / "streamlit.log")


def _shot(page, name: str) -> None:
    """Screenshot the whole page: Streamlit scrolls inside its main section, so grow the viewport to fit it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                           " return m ? m.scrollHeight : document.body.scrollHeight; }")
    page.set_viewport_size({"width": size["width"], "height": int(min(max(height, size["height"]), 8000))})
    page.wait_for_timeout(700)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def _nav(page, title: str) -> None:
    """Open a page from the sidebar; a click that lands while a rerun redraws the sidebar is lost, so retry."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link").filter(has=page.get_by_text(title, exact=True))
    path = urllib.parse.urlparse(link.first.get_attribute("href") or "").path.strip("/")
    for _ in range(4):
        page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
        try:
            page.wait_for_url(re.compile(f"/{re.escape(path)}/?(\\?.*)?$"), timeout=15_000)
            return
        except sync_api.TimeoutError:
            _settle(page, 300)
    raise AssertionError(f"the sidebar link {title!r} did not open its page")


def _settle(page, ms: int = 1200) -> None:
    """Wait until Streamlit stops running the script, then a little more for charts to draw."""
    page.wait_for_timeout(300)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=120_000)
    page.wait_for_timeout(ms)


def _choose(page, label: str, pattern: re.Pattern[str]) -> None:
    """Pick an option of a select box, retrying when a rerun redraws the box under the click."""
    for _ in range(4):
        _settle(page, 300)
        page.get_by_role("combobox", name=label).click()
        option = page.get_by_role("option").filter(has_text=pattern).first
        try:
            option.wait_for(timeout=10_000)
            option.click()
            return
        except sync_api.TimeoutError:
            page.keyboard.press("Escape")
    raise AssertionError(f"could not choose {pattern.pattern!r} in {label!r}")


def test_every_page_with_the_sample_data_in_chromium(app_url: str):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(app_url)
            # Upload page with the sample data loaded on a fresh workspace; the sample user's build starts
            page.get_by_role("heading", name="Data", exact=True).wait_for()
            # the sample user's first build (a wait, not a timing test: a loaded CI machine may take minutes)
            page.get_by_text("Open the factor map").wait_for(timeout=300_000)
            # (the sample user's build starts in the background now; on a warm machine it may already be done)
            page.wait_for_timeout(800)
            _shot(page, "1_upload")
            body = page.inner_text("body")
            assert "Active: reviews, user ava" in body
            assert "Backend openai · fake-model" in body

            # Factor map: no button to find, the build finishes on its own and the map appears
            _nav(page, "Factor map")
            page.get_by_role("heading", name="Factors", exact=True).wait_for(timeout=400_000)
            page.locator(".js-plotly-plot").first.wait_for()
            _settle(page, 1500)
            body = page.inner_text("body")
            assert "Build profile" not in body
            assert "Unclustered" in body and "No features selected." in body
            assert page.locator(".js-plotly-plot").count() >= 2
            _shot(page, "2_factor_map")

            _nav(page, "Factors")
            page.get_by_role("heading", name="Edits", exact=True).wait_for()
            _settle(page)
            _shot(page, "3_factors")

            _nav(page, "Preference summary")
            page.get_by_role("heading", name="Version history", exact=True).wait_for()
            _settle(page)
            _shot(page, "4_summary")

            # Reasoning: reveal one step, then play the rest
            _nav(page, "Reasoning step by step")
            page.get_by_role("button", name="Next step").click()
            page.get_by_text("Step 1 of").wait_for(timeout=120_000)
            _settle(page, 500)
            _shot(page, "5_reasoning_step1")
            page.get_by_role("button", name="Play").click()
            page.get_by_text("True response").wait_for(timeout=120_000)
            _settle(page)
            body = page.inner_text("body")
            assert "Retrieved items" in body or "Retrieve" in body
            assert "Ablation" in body
            _shot(page, "6_reasoning_done")

            # The prompt pool panel, and the pool method's trace showing the picked entries
            page.get_by_text("Prompt pool — the snippets").click()
            page.get_by_text("In use: the default pool built from the profile").wait_for()
            _settle(page, 800)
            _shot(page, "7_prompt_pool")
            page.get_by_role("button", name="Save as this user's pool").click()
            page.get_by_text("In use: this user's own pool").wait_for()
            _settle(page, 500)
            _choose(page, "Method", re.compile(r"^pool"))
            _settle(page, 300)
            page.get_by_role("button", name="Play").click()
            page.get_by_text("Picked from this user's own pool").wait_for(timeout=120_000)
            _settle(page)
            page.get_by_text("Picked from this user's own pool").scroll_into_view_if_needed()
            _shot(page, "8_reasoning_pool")

            _nav(page, "Compare")
            page.get_by_role("button", name="Run all methods").click()
            page.get_by_role("heading", name="Side by side", exact=True).wait_for(timeout=300_000)
            _settle(page, 1500)
            assert "failed:" not in page.inner_text("body")
            _shot(page, "9_compare")

            _nav(page, "Evaluate")
            page.get_by_role("button", name="Run evaluation").click()
            page.get_by_role("heading", name="Per query", exact=True).wait_for(timeout=400_000)
            _settle(page, 1500)
            assert "Evaluated" in page.inner_text("body")
            _shot(page, "10_evaluate")

            _nav(page, "Export")
            page.get_by_role("heading", name="Whole workspace", exact=True).wait_for()
            _settle(page)
            _shot(page, "11_export")
        except Exception:
            _shot(page, "failure")  # what the page showed when a step failed
            raise
        finally:
            browser.close()


def test_a_deep_link_as_a_fresh_servers_first_request_opens_the_app(tmp_path: Path):
    # Streamlit would run pages/factors.py alone and list every file of pages/ (helpers included) as
    # a page; the page hands over to app.py, which sets up the navigation and opens the page asked for.
    with FakeOpenAIServer() as fake, streamlit_app(tmp_path, fake, INFLOW_AUTO_BUILD="0") as url:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.set_default_timeout(120_000)
                page.goto(f"{url}/factors")
                page.get_by_role("heading", name="Factors", exact=True).wait_for()
                _settle(page)
                nav = page.get_by_test_id("stSidebarNav").inner_text()
                assert "Reasoning step by step" in nav and "shared" not in nav, nav
                assert page.url.rstrip("/").endswith("/factors")
            finally:
                browser.close()
