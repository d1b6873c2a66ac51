"""Honest progress and Cancel on the pages: build, Reasoning's answer and ablate-each-factor, Compare; small items.

A slow loopback server (tests/fakes, a fixed latency per request) keeps a job running long enough to
see its progress and press Cancel.
"""

from __future__ import annotations

import os

from core.ui_state import Keys
from tests.fakes.openai_server import FakeOpenAIServer
from tests.pages.conftest import RS_JOB, goto, open_built, shown, texts, wait_build, wait_job
from tests.waiting import until


def _progress_texts(at) -> str:
    """The progress bars' texts, as shown (they carry escaped data)."""
    return " ".join(shown(p.proto.text) for p in at.get("progress"))


def test_build_panel_shows_steps_without_promising_a_duration(make_app):
    at = make_app()
    at.run()
    goto(at, "factor_map")
    at.button(key="build_profile_inline").click().run()
    assert not at.exception, [e.value for e in at.exception]
    info = " ".join(str(i.value) for i in at.info)
    assert "Each finished step is stored" in info and "up to a minute" not in info
    assert at.button(key="build_cancel") is not None and at.get("progress")
    job = next(iter(at.session_state["_inflow_build_jobs"].values()))[0]
    wait_build(at)
    snap = job.snapshot()
    assert [s.name for s in snap.stages] == ["features", "projection", "clustering", "factors", "summary", "paths"]
    assert all(s.status == "done" for s in snap.stages) and snap.line().startswith("Step 6 of 6")


def test_reasoning_answer_runs_in_the_background_and_can_be_cancelled(make_app, monkeypatch):
    with FakeOpenAIServer(latency_s=1.0) as slow:
        monkeypatch.setitem(os.environ, "OPENAI_BASE_URL", slow.base_url)
        at = open_built(make_app, "reasoning")
        at.selectbox(key="w_rs_method").select("rpm").run()
        at.checkbox(key="w_rs_reason_first").check().run()  # two model calls: reasoning, then the answer
        at.button(key="rs_next").click().run()
        assert not at.exception, [e.value for e in at.exception]
        job = at.session_state[RS_JOB]["job"]
        assert "Running rpm" in _progress_texts(at)
        assert at.button(key="rs_next").disabled  # one answer at a time
        assert "Press **Next step** to run" not in texts(at)
        until(lambda: slow.chat_calls >= 1)
        # rpm's first answer fits the user's rule first: the bar counts its dev items as answers
        line = job.snapshot().line()
        assert line.startswith("Running rpm · Fitting this user's decision rule on ")
        assert "then the query: 0 of " in line
        at.button(key="rs_cancel_answer").click().run()
        assert job.cancelled() and job.wait(60)
        wait_job(at)
        # the first dev item's reasoning call was in flight: the note says whether its result was dropped
        # or the next call refused
        how = "its result was dropped" if job.exception.dropped else "stopped before its next model call"
        assert "Cancelled: the answer was stopped" in texts(at) and how in texts(at)
        assert slow.chat_calls == 1  # the reasoning call's answer call was never sent
        state = at.session_state[Keys.REASONING]
        assert state.get("record") is None and not at.session_state[RS_JOB]
        # the page is usable: the same question runs to the end
        at.button(key="rs_next").click().run()
        wait_job(at)
        state = at.session_state[Keys.REASONING]
        assert state["record"].method == "rpm" and state["shown"] == 1


def test_ablate_each_factor_shows_progress_and_keeps_finished_factors_on_cancel(make_app, monkeypatch):
    with FakeOpenAIServer(latency_s=0.4) as slow:
        monkeypatch.setitem(os.environ, "OPENAI_BASE_URL", slow.base_url)
        at = open_built(make_app, "reasoning")
        at.selectbox(key="w_rs_method").select("rpm").run()  # its prompt names the factors: no two re-runs alike
        at.button(key="rs_play").click().run()
        wait_job(at)
        state = at.session_state[Keys.REASONING]
        assert state["shown"] == len(state["record"].answer.trace.steps)  # Play ran through once answered
        at.button(key="rs_ablate_all").click().run()
        job = at.session_state[RS_JOB]["job"]
        until(lambda: job.progress.done >= 3)
        at.run()
        assert "Re-running rpm once per factor" in _progress_texts(at)
        at.button(key="rs_cancel_ablate_all").click().run()
        assert job.wait(60)
        wait_job(at)
        out = job.result
        assert out.cancelled and 2 <= len(out.results) < out.planned
        assert f"Cancelled: {len(out.results)} of {out.planned} factors were re-run" in texts(at)
        assert len(at.session_state[Keys.REASONING]["ablate_all"]) == len(out.results)


def test_compare_hides_its_hint_while_running(make_app, monkeypatch):
    with FakeOpenAIServer(latency_s=0.5) as slow:
        monkeypatch.setitem(os.environ, "OPENAI_BASE_URL", slow.base_url)
        at = open_built(make_app, "compare")
        assert "Press **Run all methods**" in texts(at)
        at.multiselect(key="cmp_methods").set_value(["zero", "bm25"])
        at.button(key="cmp_run").click().run()
        assert not at.session_state["_inflow_compare_job"]["job"].done
        assert "Press **Run all methods**" not in texts(at)
        assert "Answering with" in _progress_texts(at)
        wait_job(at, "_inflow_compare_job")
        at.run()
        assert list(at.dataframe[0].value["method"]) == ["zero", "bm25"]


def test_summary_note_is_cleared_after_saving(make_app):
    at = open_built(make_app, "summary")
    note = next(t for t in at.text_input if t.label.startswith("Note for this version"))
    note.input("tightened wording")
    editor = next(t for t in at.text_area if t.label == "Edit")
    editor.input(editor.value + " Also hates noise.")
    at.button(key="sum_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert next(t for t in at.text_input if t.label.startswith("Note for this version")).value == ""
    versions = at.session_state["_inflow_ctx"].ws.list_summary_versions("reviews", "ava")
    assert versions[-1]["note"] == "tightened wording"


def test_nav_and_title_share_one_name(make_app):
    import re

    from tests.pages.conftest import APP

    at = make_app()
    at.run()
    declared = re.search(r'st\.Page\("pages/upload\.py", title="([^"]+)"', open(APP, encoding="utf-8").read())
    assert declared is not None and at.title[0].value == declared.group(1) == "Data"
