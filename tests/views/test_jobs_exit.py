"""Live jobs are cancelled and waited for before the interpreter exits."""

from __future__ import annotations

import time

from core.views.jobs import Job, live_jobs, stop_all


def test_stop_all_cancels_and_waits_for_live_jobs():
    def work(job: Job) -> int:
        n = 0
        while not job.cancelled():
            n += 1
            time.sleep(0.01)
        return n

    job = Job(work, "loop").start()
    assert job in live_jobs()
    assert stop_all(timeout=5.0) == []
    assert job.done and not job.running and job.result > 0
    assert job not in live_jobs()


def test_stop_all_reports_a_job_that_will_not_stop_in_time():
    job = Job(lambda j: time.sleep(0.5), "stubborn").start()
    assert stop_all(timeout=0.05) == [job]
    assert job.wait(5.0)
