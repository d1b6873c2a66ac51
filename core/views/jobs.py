"""Background jobs for long work in the pages (build, answer, ablation, compare, evaluation).

A page starts a :class:`Job` in a thread and keeps it in the session; a fragment polls
:attr:`Job.tracker` (the stage-by-stage model of :mod:`core.views.progress`) and shows it with a
Cancel button; "Cancel" sets the job's cancel flag, which the work checks between items, so
finished items are kept. The work never touches Streamlit.

Every started job is registered until it ends, and :func:`stop_all` (run at interpreter exit) cancels
the live ones and waits for them. Why: a job is a daemon thread, and a daemon thread still inside
native code (numba's UMAP, a C++ thread pool) while the interpreter finalises makes the process abort
with "terminate called without an active exception" (SIGABRT) instead of exiting with 0.
"""

from __future__ import annotations

import atexit
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import Cancelled
from core.views.progress import ProgressSnapshot, ProgressTracker


@dataclass
class JobProgress:
    """A job's progress in brief: the current stage's counts, the share of all work done and the line shown."""

    done: int = 0
    total: int = 0
    label: str = ""
    fraction: float = 0.0


class JobCancelled(Cancelled):
    """Raised inside a job's work when the user cancelled it mid-item (see :class:`CancelGuard`).

    Attributes:
        dropped: True when a model call's result arrived after the Cancel and was thrown away;
            False when the job stopped before sending its next call.
    """

    def __init__(self, message: str, *, dropped: bool = False) -> None:
        """Create the error; ``dropped`` says whether a finished call's result was thrown away."""
        super().__init__(message)
        self.dropped = dropped


class CancelGuard:
    """An LLM client that refuses the next model call once the job is cancelled.

    Why: one answer of the local model takes minutes over several calls, with no item boundary to
    stop at; the guard stops it at the next call. Every call still goes through the wrapped client
    (cache, limits, traces); everything else is delegated to it.

    Args:
        client: The LLM client.
        cancelled: Returns True once the user cancelled.
    """

    def __init__(self, client: Any, cancelled: Callable[[], bool]) -> None:
        """Wrap ``client``."""
        self._client = client
        self._cancelled = cancelled

    def _before(self) -> None:
        if self._cancelled():
            raise JobCancelled("cancelled before the next model call; it was not sent")

    def _after(self, calls: str) -> None:
        # a call in flight cannot be stopped: it finished, but its result is not used once the user cancelled
        if self._cancelled():
            raise JobCancelled(f"cancelled while {calls} ran; the result that arrived after the Cancel was dropped",
                               dropped=True)

    def chat(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped client's ``chat``, unless cancelled (before the call, or while it ran: then dropped)."""
        self._before()
        out = self._client.chat(*args, **kwargs)
        self._after("a model call")
        return out

    def map(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped client's ``map``, unless cancelled (before the calls, or while they ran: then dropped)."""
        self._before()
        out = self._client.map(*args, **kwargs)
        self._after("a batch of model calls")
        return out

    def __getattr__(self, name: str) -> Any:
        """Everything else comes from the wrapped client."""
        return getattr(self._client, name)


class Job:
    """Run ``work(job)`` in a daemon thread.

    ``work`` reports with :meth:`report` and checks :meth:`cancelled`; its return value becomes
    :attr:`result`. An exception becomes :attr:`error` (the message) and :attr:`exception`.

    Args:
        work: The function to run; it receives the job.
        name: A label for the UI.
        stages: The stages the work reports, in order (see :class:`core.views.progress.ProgressTracker`).
    """

    def __init__(self, work: Callable[[Job], Any], name: str = "job", stages: tuple[str, ...] = ()) -> None:
        """Create the job (not started)."""
        self.name = name
        self._work = work
        self.tracker = ProgressTracker(stages)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.result: Any = None
        self.error: str | None = None
        self.exception: BaseException | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None

    def start(self) -> Job:
        """Start the thread and return the job."""
        self.started_at = time.time()
        self._thread = threading.Thread(target=self._run, name=f"inflow-{self.name}", daemon=True)
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self._work(self)
        except BaseException as exc:  # noqa: BLE001 - reported to the UI, never swallowed silently
            self.exception = exc
            self.error = str(exc) or type(exc).__name__
            self.traceback = traceback.format_exc()
        finally:
            self.finished_at = time.time()
            with _LIVE_LOCK:
                _LIVE.discard(self)

    def report(self, done: int, total: int, label: str = "", *, stage: str = "work") -> None:
        """Record progress of one stage (called by the work); ``label`` replaces the stage's title."""
        self.tracker.update(stage, done, total, text=label or None)

    def snapshot(self) -> ProgressSnapshot:
        """The stage-by-stage progress now."""
        return self.tracker.snapshot()

    @property
    def progress(self) -> JobProgress:
        """The latest progress in brief."""
        snap = self.tracker.snapshot()
        cur = snap.stage(snap.current) if snap.current else None
        return JobProgress(cur.done if cur else 0, cur.total if cur else 0, snap.line() if cur else "",
                           snap.fraction)

    def cancel(self) -> None:
        """Ask the work to stop after the item in flight."""
        self._cancel.set()

    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called (the work checks this between items)."""
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def done(self) -> bool:
        """True once the work returned or raised."""
        return self.finished_at is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread; return True when it finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done


_LIVE: set[Job] = set()
_LIVE_LOCK = threading.Lock()

# How long interpreter exit waits for running jobs in all (seconds). A cancelled job stops after its
# item in flight; the warm-up (a small UMAP) needs a few seconds warm, longer while numba compiles.
STOP_TIMEOUT = 300.0


def live_jobs() -> list[Job]:
    """Return the jobs that started and have not finished yet."""
    with _LIVE_LOCK:
        return list(_LIVE)


def stop_all(timeout: float = STOP_TIMEOUT) -> list[Job]:
    """Cancel every live job and wait for them, within ``timeout`` seconds in all.

    Returns:
        The jobs still running when the time ran out (empty when all stopped).
    """
    jobs = live_jobs()
    for job in jobs:
        job.cancel()
    deadline = time.monotonic() + timeout
    for job in jobs:
        job.wait(max(0.0, deadline - time.monotonic()))
    return [j for j in jobs if j.running]


atexit.register(stop_all)
