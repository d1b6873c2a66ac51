"""The build's progress display: a log (not a terminal) still hears from a long stage every few seconds."""

from __future__ import annotations

import io

from core.cli.build import ProgressBar


def test_a_log_gets_a_line_per_interval_not_only_at_the_end(monkeypatch):
    clock = iter(float(t) for t in range(0, 1000, 4))  # each call is 4 s later
    monkeypatch.setattr("core.cli.build.time.perf_counter", lambda: next(clock))
    out = io.StringIO()
    bar = ProgressBar(out, "[big]")
    for done in range(1, 8):
        bar("features", done, 8)
    bar("features", 8, 8)
    lines = out.getvalue().splitlines()
    assert lines[-1] == "[big] features: 8/8"
    assert 2 <= len(lines) - 1 <= 4  # 28 s of work at one line per 10 s, before the final line


def test_a_log_of_a_quick_stage_gets_only_its_final_line():
    out = io.StringIO()
    bar = ProgressBar(out, "[u]")
    for done in range(1, 101):
        bar("paths", done, 100)
    assert out.getvalue().splitlines() == ["[u] paths: 100/100"]
