"""A process that opened every page exits cleanly: code 0, no "terminate called", twice in a row.

The app starts background work (the UMAP warm-up job, the endpoint check). If such a thread is still
inside native code when the interpreter shuts down, the process aborts with SIGABRT ("terminate
called without an active exception"); at the end of a CI run that would fail it at random. The
second run starts with numba's on-disk cache filled, so the warm-up is then short: both timings of
the race are covered.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["--defaults", "--fake-endpoint"])
def test_visiting_every_page_exits_with_code_0_twice(tmp_path: Path, mode: str):
    # --defaults: as `make run` starts (local backend, default embedder, the sample user's automatic
    # build running in the background while the process ends); else the loopback endpoint.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFLOW_", "OPENAI_"))}
    for attempt in (1, 2):
        cmd = [sys.executable, "-m", "tests.pages.visit_every_page", str(tmp_path / f"ws{attempt}.sqlite"), mode]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        assert "terminate called" not in proc.stderr, (attempt, proc.stderr[-2000:])
        assert proc.returncode == 0, (attempt, proc.returncode, proc.stdout[-1000:], proc.stderr[-2000:])
        assert "visited 8 pages, 0 exceptions" in proc.stdout
