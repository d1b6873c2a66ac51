"""The Evaluate page runs the faithfulness probes on request and shows their chart and table."""

from __future__ import annotations

import time

from tests.pages.conftest import goto, texts


def test_faithfulness_chart_and_table(make_app):
    at = make_app()
    at.run()
    goto(at, "evaluate")
    at.multiselect(key="ev_methods").set_value(["zero", "bm25"])
    at.number_input(key="ev_limit_user").set_value(1)
    at.checkbox(key="ev_faith").check()
    [b for b in at.button if b.label == "Run evaluation"][0].click().run()
    deadline = time.time() + 600
    while at.session_state["_inflow_eval_job"] and time.time() < deadline:  # the page's slot is {} when idle
        time.sleep(1.0)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Evaluated 1 query" in texts(at)
    assert "Faithfulness" in [s.value for s in at.subheader]
    assert len(at.get("plotly_chart")) == 2 + 1  # mae, rmse, faithfulness
    table = at.dataframe[1].value
    assert set(table["method"]) == {"zero", "bm25"} and set(table["removed"]) == {"factor", "items", "summary"}
    bm25_items = table[(table["method"] == "bm25") & (table["removed"] == "items")].iloc[0]
    assert bm25_items["n"] + bm25_items["not used"] == 1
