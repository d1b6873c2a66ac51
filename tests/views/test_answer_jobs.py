"""Answer, ablate-each-factor, compare and evaluation as background jobs: progress that moves, Cancel that keeps.

Against the loopback fake server (tests/fakes) with a per-request latency, on the sample user ``ava``
built with the deterministic stages.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from core.embed.cached import CachedEmbedder
from core.embed.hashing import HashingEmbedder
from core.evaluate.result import EvalResult
from core.llm.factory import make_client
from core.llm.settings import BackendSettings
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from core.ui_state import ensure_sample_data
from core.views.answer_jobs import (
    JobCancelled,
    ablate_all_rows,
    cancelled_answer_note,
    start_ablate_all_job,
    start_answer_job,
    start_compare_job,
    start_summary_job,
)
from core.views.answering import AblationRecord, AnswerRecord, make_context
from core.views.eval_view import eval_inputs, finished_text, plan_text, start_eval_job
from core.views.progress import BUILD_STAGES, ProgressTracker
from tests.fakes.openai_server import FakeOpenAIServer
from tests.waiting import until

pytestmark = pytest.mark.timeout(600)
DETERMINISTIC = PipelineSettings(extractor="lexicon", namer="keywords", summarizer="template", paths="template")


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[tuple]:
    ws = Workspace(tmp_path_factory.mktemp("jobs") / "ws.sqlite")
    ensure_sample_data(ws)
    emb = CachedEmbedder(HashingEmbedder(), ws)
    profile = build_profile(ws, "reviews", "ava", client=None, embedder=emb, settings=DETERMINISTIC)
    with FakeOpenAIServer(latency_s=0.3) as server:
        client = make_client(BackendSettings(kind="openai", base_url=server.base_url, model="fake-model",
                                             api_key="sk-test", use_cache=False), ws)
        yield ws, profile, client, emb, server
    ws.close()


def test_an_answer_job_counts_its_answer_and_model_calls(setup):
    ws, profile, client, emb, _ = setup
    job = start_answer_job(ws, profile, method="zero", query="It broke after a day.", client=client, embedder=emb,
                           gold="1")
    assert job.wait(120) and job.error is None, job.error
    assert isinstance(job.result, AnswerRecord) and job.result.method == "zero"
    snap = job.snapshot()
    assert snap.stage("answering").status == "done"
    assert snap.line().startswith("Running zero: done") and "1 model call" in snap.line()


def test_a_cancelled_answer_stops_at_the_next_model_call(setup):
    ws, profile, client, emb, server = setup
    before = server.chat_calls
    job = start_answer_job(ws, profile, method="rpm", query="The lid cracked.", client=client, embedder=emb,
                           reason_first=True)  # two model calls: the reasoning, then the answer
    until(lambda: server.chat_calls > before)
    job.cancel()
    assert job.wait(120)
    assert isinstance(job.exception, JobCancelled)
    assert server.chat_calls == before + 1  # the reasoning call finished; the answer call was never sent
    assert "no answer was stored" in cancelled_answer_note("answer", cached=False)
    assert "in the cache" in cancelled_answer_note("answer", cached=True)


def test_ablate_each_factor_moves_and_keeps_what_finished_on_cancel(setup):
    ws, profile, client, emb, _ = setup
    ctx = make_context(profile, client=client, embedder=emb, k=2, ws=ws)
    planned = len(ctx.active_factors())
    assert planned >= 4
    job = start_ablate_all_job(ws, profile, method="zero", query="The handle snapped off.", client=client,
                               embedder=emb, k=2)
    until(lambda: job.progress.done >= 3)
    assert job.progress.total == planned + 1
    assert "Re-running zero once per factor: " in job.progress.label
    job.cancel()
    assert job.wait(120) and job.error is None, job.error
    out: AblationRecord = job.result
    assert out.cancelled and out.planned == planned and 2 <= len(out.results) < planned
    runs = ws.list_runs("ablation")  # recorded as every ablation is; a cancelled one says so
    assert runs and runs[0].status == "cancelled"
    rows = ablate_all_rows(out.results)
    assert len(rows) == len(out.results) and set(rows[0]) >= {"removed", "ablated", "effect"}


def test_compare_job_answers_each_method_and_reports_each(setup):
    ws, profile, client, emb, _ = setup
    seen: list[str] = []
    job = start_compare_job(ws, profile, ["zero", "bm25"], query="Great value.", client=client, embedder=emb)
    while not job.done:
        seen.append(job.progress.label)
        time.sleep(0.05)
    assert job.error is None, job.error
    records, port = job.result
    assert list(records) == ["zero", "bm25"] and port is None
    assert any(label.startswith("Answering with bm25: 1 of 2 answers") for label in seen), seen
    assert job.snapshot().stage("answering").done == 2


def test_plan_and_finished_texts_count_what_runs():
    from core.data.model import Query

    queries = [Query(f"q{n}", f"u{n % 3}", "x", "1") for n in range(110)]
    assert plan_text(queries, "time split (110 queries)", limit_per_user=1) == \
        "3 queries (at most 1 per user, of time split (110 queries))"
    assert plan_text(queries, "split (110 queries)", limit_per_user=500) == "110 queries (split (110 queries))"
    assert plan_text(queries[:1], "the dataset's own 1 queries", limit_per_user=3) == \
        "1 query (the dataset's own 1 queries)"
    assert finished_text(EvalResult.from_dict({"n": 1, "n_planned": 1, "runtime_s": 2.04})) == \
        "Evaluated 1 query in 2.0 s."
    assert finished_text(EvalResult.from_dict({"n": 2, "n_planned": 5, "cancelled": True})) == \
        "Cancelled: 2 of 5 queries finished and were kept."


def test_the_evaluation_job_moves_while_methods_answer(setup):
    ws, _, client, emb, _ = setup
    history, queries, how = eval_inputs(ws.get_dataset("reviews"), "reviews", user_ids=["ben"])
    job = start_eval_job(ws, history, queries, methods=["zero", "bm25"], client=client, embedder=emb,
                         settings=DETERMINISTIC, limit_per_user=2, k=2)
    nested, labels = set(), []
    while not job.done:
        snap = job.snapshot()
        if snap.nested is not None:
            nested.add(snap.nested_title)
        labels.append(snap.line())
        time.sleep(0.02)
    assert job.error is None, job.error
    assert job.result.n == 2
    assert nested == {"Building the profile of ben"}  # the build shows as its own stages
    answering = job.snapshot().stage("answering")
    assert (answering.done, answering.total) == (4, 4)  # queries times methods
    assert any(label.startswith("Answering with bm25: 1 of 4 answers") for label in labels)
    assert any(label.startswith("Answering with bm25: 3 of 4 answers · about") for label in labels)


def _llm_summary(profile):
    from dataclasses import replace

    return replace(profile, settings={**profile.settings, "summarizer": "llm"})  # one model call per summary


def test_a_summary_job_writes_a_new_version(setup):
    ws, profile, client, _, _ = setup
    before = len(ws.list_summary_versions("reviews", "ava"))
    job = start_summary_job(ws, _llm_summary(profile), client=client)
    assert job.wait(120) and job.error is None, job.error
    versions = ws.list_summary_versions("reviews", "ava")
    assert len(versions) == before + 1 and job.result.summary_version == versions[-1]["version"]
    assert job.snapshot().stage("summary").status == "done"


def test_a_cancelled_summary_job_stores_nothing_and_its_run_says_cancelled(setup):
    ws, profile, _, _, _ = setup
    with FakeOpenAIServer(latency_s=3.0) as slow:  # a call long enough to cancel while it runs
        client = make_client(BackendSettings(kind="openai", base_url=slow.base_url, model="slow-model",
                                             api_key="sk-test", use_cache=False), ws)
        before = len(ws.list_summary_versions("reviews", "ava"))
        job = start_summary_job(ws, _llm_summary(profile), client=client)
        time.sleep(0.5)
        job.cancel()
        assert job.wait(120)
    assert isinstance(job.exception, JobCancelled)
    assert len(ws.list_summary_versions("reviews", "ava")) == before  # the text written meanwhile is dropped
    assert ws.list_runs("summary", dataset_id="reviews", user_id="ava")[0].status == "cancelled"


# -- rpm's first answer: the rule fitting is counted, and Cancel stops it -----------------------------------------


@pytest.fixture
def reports(monkeypatch) -> list[tuple]:
    """Every tracker update and nested part started while the test runs, in order (no polling)."""
    seen: list[tuple] = []
    update, nest = ProgressTracker.update, ProgressTracker.nest

    def recording_update(self, stage, done, total, *, text=None, unit=None):
        seen.append(("update", stage, done, total, text))
        update(self, stage, done, total, text=text, unit=unit)

    def recording_nest(self, title, stages=BUILD_STAGES):
        seen.append(("nest", title))
        return nest(self, title, stages)

    monkeypatch.setattr(ProgressTracker, "update", recording_update)
    monkeypatch.setattr(ProgressTracker, "nest", recording_nest)
    return seen


def test_rpm_answer_job_counts_the_rule_fitting_item_by_item(setup, reports):
    ws, profile, client, emb, server = setup
    before = server.chat_calls
    lines: list[str] = []
    job = start_answer_job(ws, profile, method="rpm", query="The strap frayed within a week.", client=client,
                           embedder=emb)
    while not job.done:
        lines.append(job.snapshot().line())
        time.sleep(0.05)
    assert job.error is None, job.error
    n = job.result.answer.trace.steps[-1].detail.decision["n_dev"]
    assert n == 20 and server.chat_calls - before == n + 1  # one answering call per dev item, then the query's
    counts = [(done, total) for kind, stage, done, total, *_ in reports if kind == "update" and stage == "answering"]
    # 0 of 1, then the fitting's n + 1 reports as answers out of n + 1 (the query's answer last), then done
    assert counts == [(0, 1), *[(i, n + 1) for i in range(n + 1)], (n + 1, n + 1)]
    texts_ = [r[4] for r in reports if r[0] == "update"]
    assert texts_[1] == f"Running rpm · Fitting this user's decision rule on {n} dev items, then the query"
    assert texts_[-2] == "Running rpm · answering the query"
    assert job.snapshot().line().startswith(f"Running rpm: done ({n + 1} answers)")
    # the bar's line says where the fitting is, with an estimate from the measured rate once an item finished
    assert any(re.search(rf"then the query: \d+ of {n + 1} answers · about ", line) for line in lines), lines


def test_cancel_while_rpm_fits_its_rule_stops_at_the_next_model_call(setup):
    ws, profile, client, emb, server = setup
    before = server.chat_calls
    job = start_answer_job(ws, profile, method="rpm", query="The zip broke on day two.", client=client, embedder=emb)
    until(lambda: job.progress.total == 21 and job.progress.done >= 3)
    job.cancel()
    sent = server.chat_calls
    assert job.wait(120)
    assert isinstance(job.exception, JobCancelled)
    # at most one more call: one that passed the guard just as Cancel was pressed; far from the 21 of a whole answer
    assert server.chat_calls <= sent + 1 and server.chat_calls - before < 21
    runs = [r for r in ws.list_runs("answer") if r.params.get("query") == "The zip broke on day two."]
    assert [r.status for r in runs] == ["cancelled"]  # recorded, and not left "running"
    assert not [r for r in ws.list_runs() if r.status == "running"]
    # what the note says matches what happened to the call in flight
    note = cancelled_answer_note("answer", cached=False, dropped=job.exception.dropped)
    assert ("result was dropped" in note) == job.exception.dropped and "no answer was stored" in note


def test_compare_shows_rpms_fitting_as_a_nested_part_and_cancel_keeps_the_finished_methods(setup, reports):
    ws, profile, client, emb, server = setup
    job = start_compare_job(ws, profile, ["zero", "rpm"], query="Sturdy and cheap.", client=client, embedder=emb)
    until(lambda: any(r[:2] == ("update", "fitting rule") and r[2] >= 2 for r in reports))
    snap = job.snapshot()
    assert snap.nested_title == "Answering with rpm" and snap.stage("answering").done == 1
    assert snap.nested.line().startswith("Fitting this user's decision rule: ")
    job.cancel()
    assert job.wait(120) and job.error is None, job.error
    records, _ = job.result
    assert list(records) == ["zero"]  # rpm, stopped at its next model call, is left out
    rpm_runs = [r for r in ws.list_runs("answer") if r.params.get("query") == "Sturdy and cheap."
                and r.params.get("method") == "rpm"]
    assert [r.status for r in rpm_runs] == ["cancelled"]


def test_evaluation_shows_rpms_fitting_nested_and_a_cancel_inside_it_keeps_a_cancelled_run(setup, reports):
    ws, _, client, emb, _ = setup
    history, queries, _ = eval_inputs(ws.get_dataset("reviews"), "reviews", user_ids=["chloe"])
    job = start_eval_job(ws, history, queries, methods=["rpm"], client=client, embedder=emb,
                         settings=DETERMINISTIC, limit_per_user=2, k=2)
    until(lambda: any(r[:2] == ("update", "fitting rule") and r[2] >= 2 for r in reports), timeout=300)
    assert ("nest", "Building the profile of chloe") in reports and ("nest", "Answering with rpm") in reports
    job.cancel()
    assert job.wait(120) and job.error is None, job.error
    result = job.result
    assert result.cancelled and result.n == 0  # the query in flight was dropped, not scored as a failure
    runs = ws.list_runs("eval")
    assert runs[0].status == "cancelled" and not [r for r in ws.list_runs() if r.status == "running"]


def test_cancel_during_an_ablations_full_rpm_answer_keeps_nothing_and_says_so(setup, reports):
    ws, profile, client, emb, _ = setup
    job = start_ablate_all_job(ws, profile, method="rpm", query="The seams split.", client=client, embedder=emb, k=2)
    until(lambda: any(r[:2] == ("update", "fitting rule") and r[2] >= 1 for r in reports))
    assert ("nest", "The full rpm answer") in reports and job.snapshot().stage("answering").done == 0
    job.cancel()
    assert job.wait(120) and isinstance(job.exception, JobCancelled)
    runs = [r for r in ws.list_runs("ablation") if r.params.get("query") == "The seams split."]
    assert [r.status for r in runs] == ["cancelled"]
    assert not [r for r in ws.list_runs() if r.status == "running"]
    assert "no factor was re-run" in cancelled_answer_note("ablate_all", cached=False)
