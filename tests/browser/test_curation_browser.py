"""A real-browser pass over curation and upload as a person uses them (Chromium, Playwright, loopback server).

upload with a clashing id -> asked, nothing replaced -> upload as a new dataset -> build -> rename, pin,
merge (the dropdown shows the new name at once; the summary is marked out of date) -> re-project ->
every edit is replayed or reported, the summary is fresh. Screenshots go to tests/artifacts/curation_*.png.
Skips like tests/browser/test_workbench_browser.py without Chromium or Playwright.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.test_workbench_browser import (  # noqa: F401 (app_url is a fixture)
    _nav,
    _settle,
    _shot,
    app_url,
    sync_api,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "sample_data" / "reviews.csv"
NEW_NAME = "Renamed in the browser"


def _key(page, key: str):
    """The element of a widget by its Streamlit key (Streamlit marks its container ``st-key-<key>``)."""
    return page.locator(f".st-key-{key}")


def _dataset_id(page, value: str) -> None:
    box = page.get_by_label("Dataset id", exact=True)
    box.fill(value)
    box.press("Enter")
    _settle(page, 500)


def test_upload_clash_then_curate_and_reproject_in_chromium(app_url: str):  # noqa: F811
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                           "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            page.goto(app_url)
            page.get_by_role("heading", name="Data", exact=True).wait_for()
            _settle(page)
            table = page.get_by_test_id("stDataFrame").first.inner_text()
            # -- upload under an existing id: asked, nothing replaced ---------------------------------------------
            with page.expect_file_chooser() as chooser:
                page.get_by_role("button", name="Upload", exact=True).click()
            chooser.value.set_files(str(SAMPLE_CSV))
            page.get_by_text("reviews.csv · CSV").wait_for()
            _settle(page)
            _dataset_id(page, "movie_tags")
            page.get_by_role("button", name="Validate and load").click()
            page.get_by_text("A dataset movie_tags is already in this workspace").wait_for()
            assert "Nothing has been loaded yet." in page.inner_text("body")
            _shot(page, "curation_1_upload_clash")
            _key(page, "up_clash_cancel").get_by_role("button").click()
            page.get_by_text("is already in this workspace").wait_for(state="detached")  # the question is gone
            _settle(page)
            assert page.get_by_test_id("stDataFrame").first.inner_text() == table  # nothing replaced
            # -- upload as a new dataset, build ava ---------------------------------------------------------------
            _dataset_id(page, "uploaded_reviews")
            page.get_by_role("button", name="Validate and load").click()
            page.get_by_text("Last load: uploaded_reviews").wait_for()
            _settle(page)
            user = page.get_by_test_id("stSidebarUserContent").get_by_role("combobox", name="User")
            if user.input_value() != "ava (96 items)":
                user.click()
                page.get_by_role("option", name="ava (96 items)", exact=True).click()  # history sizes show
                _settle(page)
            _nav(page, "Factor map")
            page.get_by_role("button", name="Build profile").click()
            page.get_by_role("heading", name="Factors", exact=True).wait_for(timeout=400_000)
            _settle(page, 1500)
            # -- rename, pin, merge ----------------------------------------------------------------------------
            _nav(page, "Factors")
            page.get_by_role("heading", name="Edits", exact=True).wait_for()
            _settle(page)
            page.get_by_label("Name", exact=True).fill(NEW_NAME)
            page.get_by_role("button", name="Save name and description").click()
            page.get_by_text(re.compile(r"rename .+ \(F\d+\) → “" + NEW_NAME + "”")).wait_for()
            _settle(page)
            factor_box = page.get_by_test_id("stMainBlockContainer").get_by_role("combobox", name="Factor", exact=True)
            assert factor_box.input_value().startswith(NEW_NAME)  # the dropdown shows the new name at once
            _key(page, "fc_pin").get_by_role("button").click()
            page.get_by_text(re.compile(r"pin " + NEW_NAME)).wait_for()
            _settle(page)
            merge = page.get_by_role("combobox", name=re.compile("Merge with"))
            merge.click()
            page.get_by_role("option").filter(has_text=re.compile(r"\(F\d+\)")).first.click()  # one factor
            page.keyboard.press("Escape")
            page.get_by_role("button", name="Merge", exact=True).click()
            page.get_by_text(re.compile(r"merge " + NEW_NAME)).wait_for()
            _settle(page)
            body = page.inner_text("body")
            assert "Streamlit" not in body or "w_fc_factor" not in body
            _shot(page, "curation_2_factors_edited")
            _nav(page, "Preference summary")
            page.get_by_text("Out of date.").wait_for()  # written before the edits
            _settle(page, 2500)
            _shot(page, "curation_3_summary_stale")
            # -- re-project: every edit replayed or reported ----------------------------------------------------
            _nav(page, "Factor map")
            page.get_by_text("UMAP and HDBSCAN parameters").click()
            thumb = _key(page, "fm_nn").get_by_role("slider")
            thumb.focus()
            for _ in range(5):
                thumb.press("ArrowRight")
            _settle(page)
            _key(page, "fm_reproject").get_by_role("button").click()
            page.get_by_role("heading", name="Factors", exact=True).wait_for(timeout=400_000)
            _settle(page, 1500)
            _shot(page, "curation_4_map_after_reproject")
            _nav(page, "Factors")
            page.get_by_role("heading", name="Edits", exact=True).wait_for()
            _settle(page)
            body = page.inner_text("body")
            lines = [ln for ln in body.splitlines() if re.match(r"#\d+ \d\d:\d\d:\d\d · ", ln)]  # the audit list
            assert len(lines) == 3, lines
            assert all(" · applied" in ln or " · not replayed: " in ln for ln in lines), lines
            assert any(re.search(r"rename .+ \(F\d+\) → “" + NEW_NAME + "”", ln) for ln in lines)
            if any("not replayed" in ln for ln in lines):
                assert "could not be replayed" in body  # the banner, with Re-apply / Drop
            _shot(page, "curation_5_factors_after_reproject")
            _nav(page, "Preference summary")
            page.get_by_role("heading", name="Version history", exact=True).wait_for()
            _settle(page)
            assert "Out of date." not in page.inner_text("body")  # the rebuild wrote it from the curated factors
            _shot(page, "curation_6_summary_fresh")
        except Exception:
            _shot(page, "curation_failure")
            raise
        finally:
            browser.close()
