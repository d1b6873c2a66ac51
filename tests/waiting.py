"""Waiting in tests for something a background thread does."""

from __future__ import annotations

import time
from collections.abc import Callable


def until(check: Callable[[], bool], timeout: float = 120.0, every: float = 0.02) -> None:
    """Poll ``check`` until it is true; fail the test if it is still false after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while not check() and time.time() < deadline:
        time.sleep(every)
    assert check()
