"""The Prompt pool panel on the Reasoning page: view the default pool, save, import JSON, errors, reset, and the
pool step of a trace showing the picked entries with their scores."""

from __future__ import annotations

import json

import pytest

from core.ui_state import Keys
from tests.pages.conftest import goto, open_built, shown, texts, wait_job

pytestmark = pytest.mark.timeout(900)


def _pool(at):
    return at.session_state["_inflow_ctx"].ws.get_pool("reviews", "ava")


def test_pool_panel_edit_import_reset_and_trace(make_app):
    at = open_built(make_app, "factor_map")
    goto(at, "reasoning")
    assert "In use: the default pool built from the profile" in texts(at)
    editor = [e for e in at.dataframe if list(e.value.columns)[:3] == ["id", "kind", "text"]]
    assert editor and len(editor[0].value) > 3  # the default pool, ready to edit
    default_ids = list(editor[0].value["id"])
    assert at.button(key="pool_reset").disabled  # nothing stored yet

    # saving the table unchanged makes the default pool this user's own
    at.button(key="pool_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e["id"] for e in _pool(at)] == default_ids
    assert "In use: this user's own pool" in texts(at)

    # a pasted pool with problems is refused, naming entry and field; nothing changes
    at.text_area(key="pool_json").input(json.dumps([{"text": "ok"}, {"text": " ", "kind": "tip"}]))
    at.button(key="pool_import").click().run()
    assert not at.exception
    errors = " ".join(shown(str(e.value)) for e in at.error)
    assert "pasted JSON:2:text: the text is empty" in errors and "pasted JSON:2:kind:" in errors
    assert [e["id"] for e in _pool(at)] == default_ids
    at.text_area(key="pool_json").input("[{\"text\": ")
    at.button(key="pool_import").click().run()
    assert "pasted JSON:1:pool: invalid JSON" in " ".join(shown(str(e.value)) for e in at.error)

    # a valid pasted pool is stored and used by the pool method
    pool = [{"id": "durable", "text": "Anything that breaks or stops working earns a 1 or 2.", "kind": "instruction"},
            {"text": "Input: The strap snapped after a week.\nResponse: 1", "kind": "demo"}]
    at.text_area(key="pool_json").input(json.dumps(pool))
    at.button(key="pool_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e["id"] for e in _pool(at)] == ["durable", "U1"]
    assert "this user's own pool (2 entries: 1 instructions, 1 demonstrations)" in texts(at)

    at.selectbox(key="w_rs_method").select("pool").run()
    at.button(key="rs_play").click().run()
    assert not at.exception, [e.value for e in at.exception]
    wait_job(at)
    record = at.session_state[Keys.REASONING]["record"]
    step = record.answer.trace.steps[0]
    assert step.detail.pool.pool_source == "stored" and sorted(step.output) == ["U1", "durable"]
    page = texts(at)
    assert "Picked from this user's own pool (2 entries)" in page
    chosen = [d.value for d in at.dataframe if "similarity" in d.value.columns and "score" in d.value.columns][0]
    assert sorted(chosen["id"]) == ["U1", "durable"] and chosen["score"].is_monotonic_decreasing

    # a changed pool makes the shown run stale
    at.button(key="pool_reset").click().run()
    assert not at.exception
    assert _pool(at) is None and "In use: the default pool built from the profile" in texts(at)
    assert "press **Next step** to run it" in texts(at)
    goto(at, "export")
    labels = [str(d.proto.label) for d in at.get("download_button")]
    assert any(label.startswith("Prompt pool (default, ") for label in labels)
