"""Text from the data is shown as text on every page: no heading, image, link, LaTeX, colour or icon comes from it.

The workspace of :mod:`tests.pages.hostile` (hostile item texts and ids, user id, factor name and
description, summary, a listed failure) is opened on every page, an answer is stepped through and
methods are compared. Every Markdown-rendering element (markdown, captions, alerts, titles, metric,
expander, button and checkbox labels) is parsed with markdown-it: no token that holds the data may
be an image, link, heading, code, HTML or table, and no Streamlit directive (``:red[``,
``:material/``, ``$``) may stand unescaped in front of it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from core.ui_state import Keys
from tests.pages.conftest import goto, shown, unescaped, wait_build, wait_job
from tests.pages.hostile import MARK, hostile_workspace, item_id, payloads, user_id

pytestmark = pytest.mark.timeout(900)

PIXEL = "http://127.0.0.1:9"
MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# Markup that must never hold data. (Lists and quotes do come from the pages' own templates, around escaped data;
# that data cannot open one itself is checked by test_safe_text_reads_back_as_the_same_plain_text.)
FORBIDDEN = {"image", "link_open", "heading_open", "code_inline", "code_block", "fence", "html_inline", "html_block",
             "table_open"}
DIRECTIVE = re.compile(r"(?<!\\)(?::[a-z]+\[|:material/|\$+)\s*" + MARK)  # unescaped, right before the data


@pytest.fixture
def app(make_app, tmp_path) -> Iterator[AppTest]:
    path = tmp_path / "hostile.sqlite"
    dataset, user = hostile_workspace(path, PIXEL)
    os.environ["INFLOW_NO_SAMPLES"] = "1"
    try:
        at = make_app(path)
        at.session_state[Keys.DATASET] = dataset
        at.session_state[Keys.USER] = user
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        yield at
    finally:
        os.environ.pop("INFLOW_NO_SAMPLES", None)


def sources(at: AppTest) -> list[str]:
    """Every Markdown source the page hands to the browser."""
    out = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "header", "subheader"):
        out += [str(e.value) for e in getattr(at, kind)]
    for kind in ("expander", "button", "checkbox"):
        out += [str(e.label) for e in getattr(at, kind)]
    for m in at.metric:
        out += [str(m.label), str(m.value)]
    return out


def violations(source: str) -> list[str]:
    """What in one Markdown source turned data (anything holding MARK) into markup."""
    found = [f"directive {m.group(0)!r}" for m in DIRECTIVE.finditer(source)]
    stack: list[str] = []

    def walk(tokens) -> None:  # noqa: ANN001 - markdown-it tokens
        for tok in tokens:
            text = f"{tok.content} {tok.attrs or ''}"
            inside = any(s in FORBIDDEN for s in stack)
            if MARK in text.lower() and (tok.type in FORBIDDEN or inside):
                found.append(f"{tok.type} inside {stack}: {tok.content[:60]!r}")
            if tok.type in ("image",):
                found.append(f"image {tok.attrs}")
            if tok.type.endswith("_open"):
                stack.append(tok.type)
            elif tok.type.endswith("_close") and stack:
                stack.pop()
            if tok.children:
                walk(tok.children)

    walk(MD.parse(source))
    return found


def check(at: AppTest, page: str) -> int:
    """Assert no markup from the data on the current page; return how many sources held the data."""
    assert not at.exception, [e.value for e in at.exception]
    srcs = sources(at)
    bad = {s[:120]: v for s in srcs if (v := violations(s))}
    assert not bad, (page, bad)
    return sum(MARK in s.lower() for s in srcs)


@pytest.mark.parametrize("text", [*payloads(PIXEL), user_id(PIXEL), item_id(PIXEL), "a\\*b\\", "1) x", "***", "==="])
def test_safe_text_reads_back_as_the_same_plain_text(text: str) -> None:
    from pages._shared import WORD_JOINER, safe

    tokens = MD.parse(safe(text))
    assert [t.type for t in tokens if t.type != "inline"] == ["paragraph_open", "paragraph_close"]
    inline = next(t for t in tokens if t.type == "inline")
    assert {c.type for c in inline.children} <= {"text", "softbreak"}
    read = "".join("\n" if c.type == "softbreak" else c.content for c in inline.children)
    assert read.replace(WORD_JOINER, "") == text  # the joiners are invisible (they only stop GFM's autolinks)
    assert not DIRECTIVE.search(safe(text))


@pytest.mark.parametrize("text", ["see http://127.0.0.1:9/x now", "HTTPS://example.com", "(www.example.com)",
                                  "write to amy@example.com", "@amy hi"])
def test_safe_text_breaks_what_gfm_would_link_bare(text: str) -> None:
    from pages._shared import WORD_JOINER, safe

    read = unescaped(safe(text))  # the text as the page has it, joiners in
    assert not re.search(r"(?i)https?://|www\.|[-.\w+]@", read), read  # none of GFM's literal autolinks start here
    assert shown(safe(text)) == text and (WORD_JOINER in read) == ("@amy" not in text)


def test_no_page_renders_markup_from_the_data(app: AppTest) -> None:
    shown = {}
    shown["upload"] = check(app, "upload")
    for page in ("factor_map", "factors", "summary", "export", "evaluate"):
        shown[page] = check(goto(app, page), page)
    # the listed build failure (an item id with markup) is shown, as plain text
    goto(app, "factor_map")
    assert any("failed" in e.label for e in app.expander)
    assert any(MARK in t.value for t in app.text)
    # step through an answer on the history item whose id and text carry markup, then compare methods
    goto(app, "reasoning")
    app.button(key="rs_play").click().run()
    wait_job(app)
    shown["reasoning"] = check(app, "reasoning")
    app.checkbox[0].check().run()  # the ablation form's factor checkboxes carry factor names
    shown["reasoning ablation"] = check(app, "reasoning ablation")
    goto(app, "compare")
    app.button(key="cmp_run").click().run()
    wait_job(app, "_inflow_compare_job", timeout=300)
    shown["compare"] = check(app, "compare")
    wait_build(app)
    # the data did reach the pages that show it (so the checks were not vacuous)
    for page in ("factor_map", "factors", "summary", "reasoning", "compare"):
        assert shown[page] > 0, (page, shown)
