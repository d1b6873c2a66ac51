"""Cancelling an evaluation keeps the finished queries and stores them as an eval run."""

from __future__ import annotations

import os
import time

from tests.fakes.openai_server import FakeOpenAIServer
from tests.pages.conftest import goto, open_built, texts


def cancel_midway(at, job_key: str, cancel_key: str, progress_text: str, *, after: int = 2, timeout: float = 300):
    """Wait until the page's job finished ``after`` items, press Cancel, wait for the page to settle; return the job."""
    held = at.session_state[job_key]  # a Job, or a page's job slot {"job": Job, ...} (empty once it ended)
    job = held["job"] if isinstance(held, dict) else held
    deadline = time.time() + timeout
    while job.progress.done < after and not job.done and time.time() < deadline:
        time.sleep(0.1)
    at.run()
    assert progress_text in str([p.proto for p in at.get("progress")])
    at.button(key=cancel_key).click().run()
    assert job.cancelled()
    while job_key in at.session_state and at.session_state[job_key] and time.time() < deadline:
        time.sleep(0.3)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Cancelled:" in texts(at)
    return job


def test_cancel_keeps_finished_queries(make_app, monkeypatch):
    with FakeOpenAIServer(latency_s=0.25) as slow:
        monkeypatch.setitem(os.environ, "OPENAI_BASE_URL", slow.base_url)
        at = make_app()
        at.run()
        at.sidebar.selectbox(key="sb_dataset").select("movie_tags").run()
        goto(at, "evaluate")
        at.multiselect(key="ev_methods").set_value(["zero", "summary"])
        at.radio(key="ev_scope").set_value("all users")
        at.number_input(key="ev_limit_user").set_value(20)
        [b for b in at.button if b.label == "Run evaluation"][0].click().run()
        assert "Evaluating " in texts(at) and "queries (time split" in texts(at)  # what runs, then the split
        job = cancel_midway(at, "_inflow_eval_job", "ev_cancel", "Answering with", after=5)  # answers: 2+ queries
        result = job.result
        assert result.cancelled and 2 <= result.n < result.n_planned
        stored = at.session_state["_inflow_ctx"].ws.get_eval_run(result.eval_id)["result"]
        assert stored["n"] == result.n


def test_compare_can_be_cancelled_and_keeps_the_answered_methods(make_app, monkeypatch):
    with FakeOpenAIServer(latency_s=0.4) as slow:
        monkeypatch.setitem(os.environ, "OPENAI_BASE_URL", slow.base_url)
        at = open_built(make_app, "compare")
        at.button(key="cmp_run").click().run()
        cancel_midway(at, "_inflow_compare_job", "cmp_cancel", "Answering with")
        rows = at.dataframe[0].value
        assert 2 <= len(rows) < 6
        assert not rows["answer"].str.startswith("failed").any()


def test_evaluate_keeps_its_one_job_in_a_slot(make_app, monkeypatch):
    with FakeOpenAIServer(latency_s=0.5) as slow:
        monkeypatch.setitem(os.environ, "OPENAI_BASE_URL", slow.base_url)
        at = make_app()
        at.run()
        goto(at, "evaluate")
        at.multiselect(key="ev_methods").set_value(["zero"])
        at.number_input(key="ev_limit_user").set_value(2)
        run = [b for b in at.button if b.label == "Run evaluation"][0]
        run.click().run()
        slot = at.session_state["_inflow_eval_job"]
        job = slot["job"]
        assert not job.done and "Evaluating 2 queries" in texts(at)
        assert [b for b in at.button if b.label == "Run evaluation"][0].disabled  # no second job while it runs
        at.run()
        assert at.session_state["_inflow_eval_job"]["job"] is job  # a rerun neither loses nor replaces it
        assert job.wait(300)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state["_inflow_eval_job"] == {} and "Evaluated 2 queries" in texts(at)
        at.run()  # the outcome was shown once, and the slot stays empty
        assert "Evaluated 2 queries" not in texts(at) and at.session_state["_inflow_eval_job"] == {}
