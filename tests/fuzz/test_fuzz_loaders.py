"""Fuzz every loader path with seeded hostile files: a result or a clean problem, never a traceback or a hang.

The cases come from :mod:`tests.fuzz.hostile` (``python -m tests.fuzz.hostile`` prints the figures).
Each case has its own timeout, so a read that blocks (a FIFO, a device) fails that case instead of
stalling the suite.
"""

from __future__ import annotations

import pytest

from tests.fuzz.hostile import N_CASES, make_case, run_case


@pytest.mark.timeout(30)
@pytest.mark.parametrize("i", range(N_CASES))
def test_hostile_input_gives_a_result_or_a_clean_problem(i, tmp_path):
    assert run_case(make_case(i, tmp_path)) in {"loaded", "partly loaded", "refused"}


def test_the_first_cases_already_reach_every_outcome(tmp_path):
    outcomes = set()
    for i in range(24):  # a generator that only made unreadable files would test little
        folder = tmp_path / str(i)
        folder.mkdir()
        outcomes.add(run_case(make_case(i, folder)))
    assert outcomes == {"loaded", "partly loaded", "refused"}
