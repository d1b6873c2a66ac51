"""In a real browser, links and images from the data are never fetched: a loopback pixel server counts 0 requests.

The workspace of :mod:`tests.pages.hostile` points its images, links and HTML at a pixel server on
127.0.0.1; the app is opened on every page that shows the data, an answer is played step by step,
and the server (and the browser's own request log) must see no request for it, while the page text
shows the Markdown literally. Skips like the other browser test without Chromium or Playwright.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.browser.test_workbench_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    _nav,
    _settle,
    _shot,
    streamlit_app,
    sync_api,
)
from tests.fakes.openai_server import FakeOpenAIServer
from tests.pages.hostile import MARK, hostile_workspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


class PixelServer:
    """Counts every request it gets (a tracking pixel / exfiltration endpoint stand-in)."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, PixelServer]]:
    tmp = tmp_path_factory.mktemp("hostile_browser")
    pixel = PixelServer()
    hostile_workspace(tmp / "ws.sqlite", pixel.url)
    try:
        with FakeOpenAIServer() as fake, streamlit_app(tmp, fake, INFLOW_NO_SAMPLES="1", INFLOW_AUTO_BUILD="0") as url:
            yield url, pixel
    finally:
        pixel.close()


def links(page) -> list[str]:  # noqa: ANN001 - a Playwright page
    """Every link target on the page."""
    return page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")


def test_images_and_links_from_the_data_are_never_fetched(hostile_app: tuple[str, PixelServer]) -> None:
    url, pixel = hostile_app
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        seen: list[str] = []
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(60_000)
            page.on("request", lambda req: seen.append(req.url) if req.url.startswith(pixel.url) else None)
            page.goto(url)
            page.get_by_role("heading", name="Data", exact=True).wait_for()
            _settle(page)
            bodies = {"upload": page.inner_text("body")}
            hrefs = links(page)
            for title, heading in (("Factor map", "Factors"), ("Factors", "Edits"),
                                   ("Preference summary", "Version history"), ("Export", "Whole workspace")):
                _nav(page, title)
                page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=120_000)
                _settle(page)
                bodies[title] = page.inner_text("body")
                hrefs += links(page)
            _nav(page, "Reasoning step by step")
            page.get_by_text("Query text").click()
            page.get_by_role("button", name="Play").click()
            page.get_by_text("True response").wait_for(timeout=120_000)
            _settle(page, 2000)
            bodies["reasoning"] = page.inner_text("body")
            hrefs += links(page)
            _shot(page, "hostile_reasoning")
        finally:
            browser.close()
    assert pixel.paths == [] and seen == [], (pixel.paths, seen)  # 0 requests to the pixel server
    # nor a link to it: a bare address in the data is not turned into one (GFM's autolinks)
    assert not [h for h in hrefs if h.startswith(pixel.url) or h.startswith("mailto:")], hrefs
    # the data was on the pages, as literal text (so the count above is not vacuous)
    image = f"![{MARK}]({pixel.url}/img-{MARK}.png)"
    assert image in bodies["Preference summary"] and f":red[{MARK} red]" in bodies["Preference summary"]
    assert MARK in bodies["Factor map"] and MARK in bodies["reasoning"]
