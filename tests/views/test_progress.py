"""The one progress model: stage order, counts, the measured estimate, nested parts, and the jobs that use it."""

from __future__ import annotations

import threading

import pytest

from core.views.jobs import CancelGuard, Job, JobCancelled
from core.views.progress import BUILD_STAGES, ESTIMATING, ProgressTracker, duration_text, nested_reporter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_build_stages_are_the_pipelines():
    from core.stages.pipeline import STAGES

    assert BUILD_STAGES == STAGES


def test_duration_text_rounds_for_a_glance():
    assert duration_text(0.4) == "0 s"
    assert duration_text(42) == "42 s"
    assert duration_text(134) == "2 min 10 s"
    assert duration_text(120) == "2 min"
    assert duration_text(1500) == "25 min"
    assert duration_text(3900) == "1 h 5 min"


def test_an_estimate_only_from_a_measured_rate():
    clock = Clock()
    t = ProgressTracker(BUILD_STAGES, clock=clock)
    assert t.snapshot().line() == "Starting…" and not t.snapshot().started
    t.update("features", 0, 100)
    assert t.snapshot().line() == f"Step 1 of 6 · Extracting features: 0 of 100 items · {ESTIMATING}"
    clock.now += 10
    t.update("features", 20, 100)  # 2 items per second: 80 left take 40 s
    snap = t.snapshot()
    assert snap.stage("features").eta_s == pytest.approx(40.0)
    assert snap.line() == "Step 1 of 6 · Extracting features: 20 of 100 items · about 40 s left in this step"
    clock.now += 10  # a stall: the rate falls, the estimate grows (never a stale promise)
    assert t.snapshot().stage("features").eta_s == pytest.approx(80.0)
    assert 0 < t.snapshot().fraction < 1 / 6


def test_a_resumed_stage_measures_from_where_it_resumed():
    clock = Clock()
    t = ProgressTracker(BUILD_STAGES, clock=clock)
    t.update("features", 60, 100)  # 60 stored by a cancelled build: no rate yet
    assert t.snapshot().stage("features").eta_s is None
    clock.now += 4
    t.update("features", 70, 100)
    assert t.snapshot().stage("features").eta_s == pytest.approx(12.0)


def test_uncounted_stages_show_time_so_far_and_the_checklist_shows_every_stage():
    clock = Clock()
    t = ProgressTracker(BUILD_STAGES, clock=clock)
    t.update("features", 5, 5)
    t.update("projection", 0, 1)
    clock.now += 75
    snap = t.snapshot()
    assert snap.line() == "Step 2 of 6 · Embedding and projecting (UMAP)… 1 min 10 s so far"
    assert snap.checklist() == "✓ features 5/5 · ▶ projection · ○ clustering · ○ factors · ○ summary · ○ paths"
    assert snap.fraction == pytest.approx(1 / 6)


def test_the_summary_beside_the_paths_and_a_build_that_reuses_stages():
    clock = Clock()
    t = ProgressTracker(BUILD_STAGES, clock=clock)
    t.update("summary", 0, 1)  # features .. factors were stored: they count as done
    t.update("paths", 0, 4)
    snap = t.snapshot()
    assert [s.status for s in snap.stages] == ["done"] * 4 + ["running", "running"]
    assert snap.current == "paths"
    assert snap.line().endswith("(also under way: writing the preference summary)")
    t.update("summary", 1, 1)
    t.update("paths", 4, 4)
    assert t.snapshot().fraction == 1.0
    assert t.snapshot().line() == "Step 6 of 6 · Writing reasoning paths: done (4 items)"


def test_nested_progress_and_live_note():
    clock = Clock()
    calls = [3]
    t = ProgressTracker(("answering",), clock=clock, live_note=lambda: f" · {calls[0]} model calls")
    t.update("answering", 0, 8, text="Answering with zero")
    inner = t.nest("Building the profile of u1")
    inner.update("paths", 2, 10)
    calls[0] = 7
    snap = t.snapshot()
    assert snap.line() == f"Answering with zero: 0 of 8 answers · {ESTIMATING} · 7 model calls"  # one stage: no step
    assert snap.nested_title == "Building the profile of u1" and snap.nested.current == "paths"
    t.end_nested()
    assert t.snapshot().nested is None


def test_a_nested_part_holds_back_the_outer_estimate_and_keeps_its_own():
    clock = Clock()
    t = ProgressTracker(("answering",), clock=clock)
    t.update("answering", 0, 4, text="Answering with zero")
    clock.now += 1.0
    t.update("answering", 3, 4, text="Answering with rpm")
    assert "about 0 s left" in t.snapshot().line()  # three answers in a second: one more is "0 s"
    report = nested_reporter(t, lambda: "Answering with rpm")
    report(0, 20, "Fitting this user's decision rule")
    clock.now += 2.0
    report(4, 20, "Fitting this user's decision rule")
    snap = t.snapshot()
    # rpm's one answer is 20 dev answers first: the outer rate would promise "0 s", so it waits
    assert snap.line() == f"Answering with rpm: 3 of 4 answers · {ESTIMATING}"
    assert snap.nested_title == "Answering with rpm"
    assert snap.nested.line() == "Fitting this user's decision rule: 4 of 20 dev items · about 8 s left"
    report(20, 20, "Fitting this user's decision rule")  # the part ended: the outer estimate is back
    assert t.snapshot().nested is None and "left" in t.snapshot().line()
    report(0, 20, "Fitting this user's decision rule")  # the next user's rule: a new part
    assert t.snapshot().nested.line().startswith("Fitting this user's decision rule: 0 of 20 dev items")


def test_a_tracker_takes_reports_from_several_threads():
    t = ProgressTracker(("answering",))

    def report(base: int) -> None:
        for i in range(200):
            t.update("answering", base + i, 1000)
            t.snapshot()

    threads = [threading.Thread(target=report, args=(n * 200,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert t.snapshot().stage("answering").total == 1000


def test_job_progress_reads_the_tracker():
    gate = threading.Event()

    def work(job: Job) -> str:
        job.report(1, 4, "Answering with rpm", stage="answering")
        gate.wait(10)
        return "ok"

    job = Job(work, "t", ("answering",)).start()
    try:
        deadline = 50
        while job.progress.done < 1 and deadline:
            gate.wait(0.05)
            deadline -= 1
        p = job.progress
        assert (p.done, p.total, p.fraction) == (1, 4, 0.25)
        assert p.label.startswith("Answering with rpm: 1 of 4 answers")
    finally:
        gate.set()
        job.wait(10)
    assert job.result == "ok"


class _Client:
    def __init__(self) -> None:
        self.calls = 0
        self.capabilities = "caps"

    def chat(self, request: str) -> str:
        self.calls += 1
        return request.upper()

    def map(self, requests: list[str]) -> list[str]:
        self.calls += len(requests)
        return [r.upper() for r in requests]


def test_cancel_guard_refuses_the_next_model_call_only():
    client, cancelled = _Client(), [False]
    guard = CancelGuard(client, lambda: cancelled[0])
    assert guard.chat("a") == "A" and guard.map(["b"]) == ["B"] and guard.capabilities == "caps"
    cancelled[0] = True
    with pytest.raises(JobCancelled):
        guard.chat("c")
    with pytest.raises(JobCancelled):
        guard.map(["d"])
    assert client.calls == 2


def test_cancel_guard_says_whether_it_refused_a_call_or_dropped_a_result():
    client, cancelled = _Client(), [False]
    guard = CancelGuard(client, lambda: cancelled[0])

    class _CancelMidCall(_Client):
        def chat(self, request: str) -> str:
            cancelled[0] = True  # the user pressed Cancel while this call ran
            return super().chat(request)

    mid = CancelGuard(_CancelMidCall(), lambda: cancelled[0])
    with pytest.raises(JobCancelled) as dropped:
        mid.chat("a")
    assert dropped.value.dropped and "result that arrived after the Cancel was dropped" in str(dropped.value)
    with pytest.raises(JobCancelled) as refused:
        guard.chat("b")
    assert not refused.value.dropped and str(refused.value) == "cancelled before the next model call; it was not sent"
    assert client.calls == 0
