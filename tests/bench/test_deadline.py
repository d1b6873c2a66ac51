"""bench/results.py's Deadline: a run starts a query only when the slowest recent one would still end in time."""

import time

from bench.results import Deadline


def test_no_deadline_never_stops():
    d = Deadline(None)
    assert not d()
    d.done()
    assert not d()


def test_a_query_that_would_overrun_is_not_started():
    now = time.perf_counter()
    d = Deadline(now + 3600.0)
    assert not d()  # nothing measured yet: the first query starts
    d._started -= 4000.0  # the first query "took" over an hour (no sleeping in tests)
    d.done()
    assert d.durations and d.durations[-1] > 3600.0
    assert d()  # the next one would end past the deadline


def test_only_recent_queries_count():
    d = Deadline(time.perf_counter() + 100.0, window=2)
    d()
    d._started -= 500.0
    d.done()  # one slow query (e.g. a user's first, which builds the profile)
    assert d()
    d.done()
    d.done()  # two fast ones push it out of the window
    assert not d()


def test_the_first_query_is_held_to_the_expected_duration():
    """A later section's first query is not started when the previous section's slowest would overrun."""
    assert Deadline(time.perf_counter() + 60.0, expect=600.0)()
    assert not Deadline(time.perf_counter() + 600.0, expect=60.0)()
