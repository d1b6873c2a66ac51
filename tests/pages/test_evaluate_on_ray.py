"""The Evaluate page with INFLOW_ENGINE=ray: one Ray task per user, progress over users, a stored result."""

from __future__ import annotations

import os
import time

import pytest

from tests.pages.conftest import goto, texts

ray = pytest.importorskip("ray")


def test_evaluate_page_runs_users_on_ray(make_app, monkeypatch):
    if ray.is_initialized():
        pytest.skip("another test's Ray instance is running in this process")
    monkeypatch.setitem(os.environ, "INFLOW_ENGINE", "ray")
    try:
        at = make_app()
        at.run()
        goto(at, "evaluate")
        at.multiselect(key="ev_methods").set_value(["zero"])
        at.radio(key="ev_scope").set_value("all users")
        at.number_input(key="ev_limit_user").set_value(1)
        [b for b in at.button if b.label == "Run evaluation"][0].click().run()
        job = at.session_state["_inflow_eval_job"]["job"]
        labels, deadline = set(), time.time() + 300
        while not job.done and time.time() < deadline:
            labels.add(job.progress.label)
            time.sleep(0.1)
        assert job.done and job.error is None, job.error
        assert any(label.startswith("ray: users ") and "calls/s" in label for label in labels), labels
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        result = job.result
        assert result.engine["engine"] == "ray" and result.engine["failed"] == 0
        assert result.n == result.engine["done"] == result.n_users > 1
        assert f"Evaluated {result.n} queries" in texts(at)
        # again, after the first job's thread has ended: the Ray instance it started must still be up
        [b for b in at.button if b.label == "Run evaluation"][0].click().run()
        again = at.session_state["_inflow_eval_job"]["job"]
        assert again is not job and again.wait(300) and again.error is None, again.error
        assert again.result.engine["done"] == result.engine["done"] and again.result.engine["calls"] == 0
    finally:
        ray.shutdown()
