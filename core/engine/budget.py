"""One budget for an endpoint: calls in flight, requests and tokens per minute, and a global 429 pause.

:class:`BudgetState` is the bookkeeping alone (no threads, no clock of its own), so it is tested
directly. Two holders put it to use:

* :class:`LocalBudget`: a thread-safe :class:`core.llm.limits.CallLimiter` for clients in this
  process (the local engine);
* ``BudgetActor`` (:mod:`core.engine.ray_engine`): one Ray actor holding the state for a whole
  cluster, reached by every worker's client through :class:`core.engine.ray_engine.RayLimiter`.

The state also integrates calls in flight over time, so an engine can report the mean number in
flight while any call was running (the figure that shows whether the endpoint was kept busy).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from core.env import env_int

WINDOW_S = 60.0


@dataclass(frozen=True)
class BudgetLimits:
    """What the endpoint allows, for every worker together.

    Attributes:
        max_in_flight: Calls in flight at once (``INFLOW_MAX_CONCURRENCY``).
        rpm: Requests started per minute, or None for no limit (``INFLOW_MAX_RPM``).
        tpm: Tokens (prompt + completion) per minute, or None (``INFLOW_MAX_TPM``).
    """

    max_in_flight: int = 8
    rpm: int | None = None
    tpm: int | None = None

    @classmethod
    def from_env(cls, max_in_flight: int, environ: dict[str, str] | None = None) -> BudgetLimits:
        """Read ``INFLOW_MAX_RPM`` and ``INFLOW_MAX_TPM`` (empty or unset: no limit).

        Raises:
            InputError: A value that is not a positive integer (the variable is named).
        """
        env = os.environ if environ is None else environ
        values = {name: env_int(env, var, name, minimum=1) for var, name in (("INFLOW_MAX_RPM", "rpm"),
                                                                               ("INFLOW_MAX_TPM", "tpm"))}
        return cls(max_in_flight=max_in_flight, rpm=values["rpm"], tpm=values["tpm"])


@dataclass
class BudgetStats:
    """What the budget has seen.

    Attributes:
        calls: Calls granted a slot.
        in_flight: Calls in flight now.
        max_seen: Most calls in flight at once.
        busy_s: Seconds with at least one call in flight.
        mean_in_flight: Time-weighted mean of calls in flight while at least one was (0 before any call).
        pauses: 429 pauses taken.
        waited_s: Seconds callers spent waiting for a slot, summed over callers.
    """

    calls: int = 0
    in_flight: int = 0
    max_seen: int = 0
    busy_s: float = 0.0
    mean_in_flight: float = 0.0
    pauses: int = 0
    waited_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the stats as JSON-ready data."""
        return dict(self.__dict__)


class BudgetState:
    """The budget's bookkeeping; callers pass the time, so it is exact to test.

    Leases carry an ``owner`` (e.g. ``"user-7:attempt-1"``): when a worker dies holding slots, the
    driver drops that owner's leases and the slots come back.
    """

    def __init__(self, limits: BudgetLimits) -> None:
        """Create an empty budget."""
        if limits.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.limits = limits
        self._leases: dict[int, tuple[str, list[float]]] = {}  # lease -> (owner, its window entry)
        self._ids = itertools.count(1)
        self._window: deque[list[float]] = deque()  # [start time, tokens] of calls started in the last minute
        self._paused_until = 0.0
        self._last: float | None = None  # time of the last update
        self.stats = BudgetStats()
        self._area = 0.0

    def _advance(self, now: float) -> None:
        if self._last is not None and self.stats.in_flight > 0:
            self.stats.busy_s += now - self._last
            self._area += (now - self._last) * self.stats.in_flight
        self._last = now
        while self._window and self._window[0][0] <= now - WINDOW_S:
            self._window.popleft()

    def try_acquire(self, owner: str, tokens: int, now: float) -> tuple[int | None, float | None]:
        """Take a slot if the budget allows one now.

        Returns:
            ``(lease, None)`` on success; else ``(None, wait)``: seconds until the budget may allow
            it (None: until a call in flight ends).
        """
        self._advance(now)
        if now < self._paused_until:
            return None, self._paused_until - now
        if self.stats.in_flight >= self.limits.max_in_flight:
            return None, None
        if self.limits.rpm is not None and len(self._window) >= self.limits.rpm:
            return None, self._window[0][0] + WINDOW_S - now
        if self.limits.tpm is not None and self._window:
            used = sum(tokens_ for _, tokens_ in self._window)
            if used + tokens > self.limits.tpm:
                return None, self._window[0][0] + WINDOW_S - now
        lease = next(self._ids)
        entry = [now, float(tokens)]
        self._window.append(entry)
        self._leases[lease] = (owner, entry)
        self.stats.in_flight += 1
        self.stats.calls += 1
        self.stats.max_seen = max(self.stats.max_seen, self.stats.in_flight)
        return lease, None

    def release(self, lease: int, tokens: int, now: float) -> bool:
        """End a call; record the tokens it really used. False when the lease was already dropped."""
        self._advance(now)
        held = self._leases.pop(lease, None)
        if held is None:
            return False
        held[1][1] = float(tokens)  # the window counts what the call really used
        self.stats.in_flight -= 1
        return True

    def drop_owner(self, owner: str, now: float) -> int:
        """Free every slot held by ``owner`` (a worker that died mid-call); return how many."""
        self._advance(now)
        dropped = [lease for lease, (o, _) in self._leases.items() if o == owner]
        for lease in dropped:
            self._leases.pop(lease)
            self.stats.in_flight -= 1
        return len(dropped)

    def pause(self, seconds: float, now: float) -> None:
        """Hold back every new call until ``now + seconds`` (a pause in progress is only extended)."""
        self._paused_until = max(self._paused_until, now + max(0.0, seconds))
        self.stats.pauses += 1

    def snapshot(self, now: float) -> BudgetStats:
        """Return a copy of the stats up to ``now``."""
        self._advance(now)
        out = BudgetStats(**self.stats.to_dict())
        out.mean_in_flight = self._area / self.stats.busy_s if self.stats.busy_s > 0 else 0.0
        return out


class LocalBudget:
    """A :class:`core.llm.limits.CallLimiter` for the clients of one process (threads wait on a condition).

    Args:
        limits: The endpoint's limits.
        owner: The owner recorded on this process's leases.
    """

    def __init__(self, limits: BudgetLimits, owner: str = "local") -> None:
        """Create the budget."""
        self.state = BudgetState(limits)
        self.owner = owner
        self._cond = threading.Condition()

    def acquire(self, tokens: int) -> int:
        """Wait for a slot; return its lease."""
        start = time.monotonic()
        with self._cond:
            while True:
                lease, wait = self.state.try_acquire(self.owner, tokens, time.monotonic())
                if lease is not None:
                    self.state.stats.waited_s += time.monotonic() - start
                    return lease
                self._cond.wait(timeout=wait)

    def release(self, lease: int, tokens: int) -> None:
        """End a call and wake the waiters."""
        with self._cond:
            self.state.release(lease, tokens, time.monotonic())
            self._cond.notify_all()

    def pause(self, seconds: float) -> None:
        """Pause every caller of this budget."""
        with self._cond:
            self.state.pause(seconds, time.monotonic())

    def stats(self) -> BudgetStats:
        """Return the stats so far."""
        with self._cond:
            return self.state.snapshot(time.monotonic())
