"""Compare: a summary written by another model, answered with beside the other methods."""

from __future__ import annotations

from tests.pages.conftest import open_built, texts, wait_job


def test_ported_summary_answer_side_by_side(make_app):
    at = open_built(make_app, "compare")
    at.multiselect(key="cmp_methods").set_value(["history", "bm25", "summary"])
    at.checkbox(key="cmp_port").check()
    at.selectbox(key="cmp_port_kind").select("openai")
    at.text_input(key="cmp_port_model").input("writer-model")
    at.button(key="cmp_run").click().run()
    wait_job(at, "_inflow_compare_job", timeout=300)
    rows = at.dataframe[0].value
    assert list(rows["method"]) == ["history", "bm25", "summary", "summary ← openai / writer-model"]
    assert not rows["answer"].str.startswith("failed").any()
    assert "The ported summary" in texts(at)
    assert any(t.value.startswith("echo: ") for t in at.text)  # the fake writer echoes its prompt: shown as text
    assert len([b for b in at.button if b.label == "Step through"]) == 3  # not for the ported row
