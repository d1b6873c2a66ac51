"""A real-browser pass over progress and Cancel on the Reasoning page (Chromium, Playwright, a slow loopback server).

The fake endpoint answers each request after a fixed delay, so an answer (two model calls with
"Reason before answering") and "Ablate each factor in turn" run long enough to watch the progress
bar move and press Cancel, as a person would. Screenshots go to tests/artifacts/progress_*.png.
Skips like tests/browser/test_workbench_browser.py without Chromium or Playwright.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest

from tests.browser.test_workbench_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    _choose,
    _nav,
    _settle,
    _shot,
    streamlit_app,
    sync_api,
)
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

LATENCY_S = 1.5  # per request: time to see the bar and press Cancel before the next call starts
# (rpm's first answer for a user also answers its dev slice to fit the decision rule: about 40 calls
# with "Reason before answering", so a longer delay would make the test's first answer minutes long)


@pytest.fixture(scope="module")
def slow_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("browser_progress")
    with FakeOpenAIServer(latency_s=LATENCY_S) as fake:
        try:
            with streamlit_app(tmp, fake) as url:
                yield url
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp / "streamlit.log", ARTIFACTS / "streamlit_progress.log")


def _cancel(page) -> None:
    """Press the progress panel's Cancel (the panel redraws every second, so retry a click it swallowed)."""
    for _ in range(4):
        try:
            page.get_by_role("button", name="Cancel", exact=True).click(timeout=5_000)
            return
        except sync_api.TimeoutError:
            page.wait_for_timeout(300)
    raise AssertionError("no Cancel button to press")


def test_reasoning_answer_and_ablation_show_progress_and_cancel_in_chromium(slow_app_url: str):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            page.goto(slow_app_url)
            page.get_by_role("heading", name="Data", exact=True).wait_for()
            # the sample user's automatic first build starts on this page; wait for it as the workbench test does
            page.get_by_text("Open the factor map").wait_for(timeout=300_000)
            _nav(page, "Factor map")
            page.get_by_role("heading", name="Factors", exact=True).wait_for(timeout=400_000)
            _nav(page, "Reasoning step by step")
            page.get_by_role("button", name="Next step").wait_for()
            _settle(page)
            _choose(page, "Method", re.compile(r"^rpm"))
            _settle(page, 300)
            page.get_by_text("Reason before answering").click()
            _settle(page, 300)

            # -- one answer: the bar says what runs, Cancel stops it, the page stays usable --------------------
            page.get_by_role("button", name="Next step").click()
            page.get_by_text("Running rpm").wait_for()
            # the model calls so far move inside the one answer (counted as each call starts)
            page.get_by_test_id("stProgress").filter(has_text="1 model call").wait_for(timeout=30_000)
            _shot(page, "progress_1_answer_running")
            _cancel(page)
            page.get_by_text("Cancelled: the answer was stopped").wait_for(timeout=60_000)  # refused or dropped
            _settle(page, 500)
            _shot(page, "progress_2_answer_cancelled")
            page.get_by_role("button", name="Next step").click()
            page.get_by_text("Step 1 of").wait_for(timeout=300_000)
            page.get_by_role("button", name="Play").click()
            page.get_by_role("heading", name="Ablation").wait_for(timeout=300_000)
            _settle(page)

            # -- ablate each factor: counts and an estimate, Cancel keeps the finished factors ----------------
            page.get_by_role("button", name="Ablate each factor in turn").click()
            bar = page.get_by_test_id("stProgress").filter(has_text="once per factor")
            bar.wait_for()
            page.get_by_test_id("stProgress").filter(has_text=re.compile(r"about \d+ (s|min)")).wait_for(
                timeout=120_000)  # an estimate once a rate is measured
            assert re.search(r"Re-running rpm once per factor: \d+ of \d+ answers", bar.inner_text())
            _shot(page, "progress_3_ablation_running")
            _cancel(page)
            page.get_by_text(re.compile(r"Cancelled: \d+ of \d+ factors were re-run")).wait_for(timeout=120_000)
            _settle(page)
            assert page.get_by_test_id("stDataFrame").count() >= 1  # the kept rows
            _shot(page, "progress_4_ablation_cancelled")

            # -- evaluation of one query: the label counts what runs, the bar moves while the methods answer --
            _nav(page, "Evaluate")
            page.get_by_role("button", name="Run evaluation").wait_for()
            _settle(page, 500)
            box = page.get_by_label("Queries per user")
            box.fill("1")
            box.press("Tab")  # Enter would submit the form
            _settle(page, 300)
            page.get_by_role("button", name="Run evaluation").click()
            page.get_by_text(re.compile(r"Evaluating 1 query \(at most 1 per user, of time split")).wait_for()
            page.get_by_test_id("stProgress").filter(has_text=re.compile(r"Answering with \w+: [1-3] of 4 answers")
                                                     ).wait_for(timeout=120_000)
            _shot(page, "progress_5_evaluate_running")
            # rpm's first answer for the user fits its decision rule: a nested bar counts the dev items
            page.get_by_test_id("stProgress").filter(
                has_text=re.compile(r"Answering with rpm · Fitting this user's decision rule: \d+ of \d+ dev items")
            ).wait_for(timeout=120_000)
            _shot(page, "progress_5b_evaluate_rpm_fitting")
            page.get_by_text(re.compile(r"Evaluated 1 query in")).wait_for(timeout=300_000)
            _settle(page)
            _shot(page, "progress_6_evaluate_done")
        except Exception:
            _shot(page, "progress_failure")
            raise
        finally:
            browser.close()
