"""One progress model for long work: named stages with counts, elapsed time and a measured estimate.

A :class:`ProgressTracker` receives ``update(stage, done, total)`` reports from the work (a build's
progress hook, an evaluation's answers, an ablation's re-runs) and gives a :class:`ProgressSnapshot`
that the CLI progress bar and the pages' progress panel render. Both show the same words.

Why an estimate only from measured rates: a fixed promise ("up to a minute") was wrong by a factor
of four on a first visit. A stage with counted items gets "about N left" once at least one item has
finished since the stage started (items per second so far); until then it says "estimating time
left". A stage without counts (projection, clustering) shows the time spent so far, never a guess.
While the item in flight runs a nested part (one user's build inside an evaluation, ``rpm`` fitting
its decision rule inside one answer), the outer stage says "estimating time left" and the nested
part carries its own counts and estimate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

BUILD_STAGES: tuple[str, ...] = ("features", "projection", "clustering", "factors", "summary", "paths")
"""The stages of a profile build, in order (the same as :data:`core.stages.profile.STAGES`)."""

STAGE_TITLES: dict[str, str] = {
    "features": "Extracting features", "projection": "Embedding and projecting (UMAP)",
    "clustering": "Clustering (HDBSCAN)", "factors": "Naming factors and computing statistics",
    "summary": "Writing the preference summary", "paths": "Writing reasoning paths", "answering": "Answering",
    "work": "Working", "fitting rule": "Fitting this user's decision rule",
}
STAGE_UNITS: dict[str, str] = {"features": "items", "paths": "items", "answering": "answers",
                               "fitting rule": "dev items"}

ESTIMATING = "estimating time left…"


def duration_text(seconds: float) -> str:
    """Return a rounded duration a person reads at a glance: ``"8 s"``, ``"2 min 10 s"``, ``"1 h 5 min"``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 600:
        m, r = divmod(s, 60)
        r = (r // 10) * 10  # ten-second steps: an estimate is not that precise
        return f"{m} min {r} s" if r else f"{m} min"
    if s < 3600:
        return f"{round(s / 60)} min"
    h, m = divmod(round(s / 60), 60)
    return f"{h} h {m} min" if m else f"{h} h"


@dataclass(frozen=True)
class StageState:
    """One stage as last reported.

    Attributes:
        name: The stage name (e.g. ``"features"``).
        title: What a person reads (e.g. ``"Extracting features"``).
        done: Items finished.
        total: Items in all (1 for a stage without counts).
        status: ``"pending"``, ``"running"`` or ``"done"``.
        elapsed_s: Seconds since the stage's first report (until its last one once done).
        eta_s: Seconds left by the measured rate, or None while there is no rate (or no counts).
        unit: What is counted (``"items"``, ``"answers"``).
        text: A caption that replaces the title (e.g. an engine's one-line status), or "".
    """

    name: str
    title: str
    done: int = 0
    total: int = 0
    status: str = "pending"
    elapsed_s: float = 0.0
    eta_s: float | None = None
    unit: str = "items"
    text: str = ""

    @property
    def counted(self) -> bool:
        """True when the stage counts several items (so it has a rate and an estimate)."""
        return self.total > 1

    @property
    def fraction(self) -> float:
        """Share of the stage done, in [0, 1]."""
        if self.status == "done":
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0

    def line(self, *, eta_scope: str = "") -> str:
        """Return e.g. ``"Extracting features: 32 of 96 items · about 40 s left"``.

        Args:
            eta_scope: Words after "left" (``" in this step"`` when other steps follow).
        """
        head = self.text or self.title
        if self.status == "done":
            return f"{head}: done" + (f" ({self.done} {self.unit})" if self.counted else "")
        if not self.counted:
            return f"{head}… {duration_text(self.elapsed_s)} so far"
        counts = f"{head}: {self.done} of {self.total} {self.unit}"
        if self.eta_s is None:
            return f"{counts} · {ESTIMATING}"
        return f"{counts} · about {duration_text(self.eta_s)} left{eta_scope}"


@dataclass(frozen=True)
class ProgressSnapshot:
    """What a progress display shows at one moment.

    Attributes:
        stages: Every known stage in order (pending ones too when the stage list was given).
        current: The stage reported last that is still running (else the last reported), or None.
        fraction: Share of the whole work done, in [0, 1] (each stage an equal slice).
        elapsed_s: Seconds since the first report.
        note: Extra words (e.g. model calls and cache hits so far), or "".
        nested: The progress of a part inside the current item (one user's build inside an evaluation).
        nested_title: What the nested part is (e.g. ``"Building the profile of u1"``).
    """

    stages: tuple[StageState, ...] = ()
    current: str | None = None
    fraction: float = 0.0
    elapsed_s: float = 0.0
    note: str = ""
    nested: ProgressSnapshot | None = None
    nested_title: str = ""

    @property
    def started(self) -> bool:
        """True once anything was reported."""
        return self.current is not None

    def stage(self, name: str) -> StageState | None:
        """Return a stage by name (None when it is not known)."""
        return next((s for s in self.stages if s.name == name), None)

    @property
    def step(self) -> tuple[int, int]:
        """``(number of the current stage, stages in all)``, 1-based; ``(0, n)`` before any report."""
        names = [s.name for s in self.stages]
        return (names.index(self.current) + 1 if self.current in names else 0), len(names)

    def line(self) -> str:
        """Return the one-line progress text, e.g. ``"Step 1 of 6 · Extracting features: 3 of 9 items · …"``."""
        if self.current is None:
            return "Starting…"
        cur = self.stage(self.current)
        assert cur is not None
        i, n = self.step
        multi = n > 1
        text = (f"Step {i} of {n} · " if multi else "") + cur.line(eta_scope=" in this step" if multi and i < n else "")
        beside = [s.title[:1].lower() + s.title[1:] for s in self.stages
                  if s.status == "running" and s.name != self.current]
        if beside:
            text += f" (also under way: {', '.join(beside)})"
        return text + self.note

    def checklist(self) -> str:
        """Return the stages as one line of marks: ``"✓ features · ▶ projection · ○ clustering"``."""
        marks = {"done": "✓", "running": "▶", "pending": "○"}
        return " · ".join(f"{marks[s.status]} {s.name}" + (f" {s.done}/{s.total}" if s.counted else "")
                          for s in self.stages)


@dataclass
class _Stage:
    name: str
    done: int = 0
    total: int = 0
    started: float | None = None
    first_done: int = 0
    last: float = 0.0
    finished: bool = False
    text: str = ""
    unit: str = ""


@dataclass
class ProgressTracker:
    """Collect stage reports from a worker thread and hand snapshots to a display (thread-safe).

    Args:
        stages: The expected stages in order (shown as pending until reported); more may be reported.
        clock: Seconds, monotonic (tests pass a fake one).
        live_note: Called at every snapshot for words after the line (e.g. model calls so far, which
            keep moving inside a stage that reports rarely); None: the text set by :meth:`note`.
    """

    stages: Sequence[str] = ()
    clock: Callable[[], float] = time.monotonic
    live_note: Callable[[], str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stages: dict[str, _Stage] = field(default_factory=dict, init=False, repr=False)
    _order: list[str] = field(default_factory=list, init=False, repr=False)
    _current: str | None = field(default=None, init=False, repr=False)
    _start: float | None = field(default=None, init=False, repr=False)
    _note: str = field(default="", init=False, repr=False)
    _nested: ProgressTracker | None = field(default=None, init=False, repr=False)
    _nested_title: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        """Register the expected stages as pending."""
        for name in self.stages:
            self._stage(name)

    def _stage(self, name: str) -> _Stage:
        st = self._stages.get(name)
        if st is None:
            st = self._stages[name] = _Stage(name)
            self._order.append(name)
        return st

    def update(self, stage: str, done: int, total: int, *, text: str | None = None, unit: str | None = None) -> None:
        """Record that ``stage`` has ``done`` of ``total`` items finished.

        A stage is done once ``done >= total > 0``; every stage listed before it is done too (a
        build that reuses stored stages reports only the later ones).

        Args:
            stage: The stage name.
            done: Items finished.
            total: Items in all (1 for a stage without counts).
            text: Replaces the stage's title in the line (None keeps the last one).
            unit: What is counted (None: the stage's usual unit).
        """
        now = self.clock()
        with self._lock:
            if self._start is None:
                self._start = now
            st = self._stage(stage)
            if st.started is None or done < st.done or total != st.total:  # a (re)start: measure afresh
                st.started, st.first_done = now, int(done)
            st.done, st.total, st.last = int(done), int(total), now
            st.finished = total > 0 and done >= total
            if text is not None:
                st.text = text
            if unit is not None:
                st.unit = unit
            if not st.finished or self._current is None or self._stages[self._current].finished:
                self._current = stage
            idx = self._order.index(stage)
            for name in self._order[:idx]:
                earlier = self._stages[name]
                if earlier.started is None:
                    earlier.finished = True

    def note(self, text: str) -> None:
        """Set the extra words after the line (e.g. ``" · 12 model calls"``)."""
        with self._lock:
            self._note = text

    def nest(self, title: str, stages: Sequence[str] = BUILD_STAGES) -> ProgressTracker:
        """Start the progress of a part inside the current item (it replaces the previous part) and return it."""
        inner = ProgressTracker(stages, clock=self.clock)
        with self._lock:
            self._nested, self._nested_title = inner, title
        return inner

    def end_nested(self) -> None:
        """The nested part finished: stop showing it."""
        with self._lock:
            self._nested, self._nested_title = None, ""

    def snapshot(self) -> ProgressSnapshot:
        """Return the progress now."""
        now = self.clock()
        with self._lock:
            states = tuple(self._state(self._stages[n], now) for n in self._order)
            nested, title = self._nested, self._nested_title
            current, start, note = self._current, self._start, self._note
        if self.live_note is not None:
            note = self.live_note()
        if nested is not None and current is not None:
            # The item in flight runs a part of its own (a build, rpm fitting its rule on 20 dev items):
            # the rate measured on earlier items says nothing about it, so the estimate waits for it.
            states = tuple(replace(s, eta_s=None) if s.name == current else s for s in states)
        fraction = sum(s.fraction for s in states) / len(states) if states else 0.0
        return ProgressSnapshot(stages=states, current=current, fraction=min(1.0, fraction),
                                elapsed_s=0.0 if start is None else now - start, note=note,
                                nested=nested.snapshot() if nested is not None else None, nested_title=title)

    @staticmethod
    def _state(st: _Stage, now: float) -> StageState:
        if st.started is None:
            status = "done" if st.finished else "pending"
            return StageState(st.name, STAGE_TITLES.get(st.name, st.name), status=status,
                              unit=st.unit or STAGE_UNITS.get(st.name, "items"), text=st.text)
        status = "done" if st.finished else "running"
        elapsed = (st.last if st.finished else now) - st.started
        eta = None
        measured = st.done - st.first_done
        if not st.finished and st.total > 1 and measured > 0 and now > st.started:
            # Items per second since the stage started, stalls included: a stalled stage's estimate grows.
            eta = (st.total - st.done) * (now - st.started) / measured
        return StageState(st.name, STAGE_TITLES.get(st.name, st.name), st.done, st.total, status, elapsed, eta,
                          st.unit or STAGE_UNITS.get(st.name, "items"), st.text)


def nested_reporter(tracker: ProgressTracker, title: Callable[[], str],
                    stage: str = "fitting rule") -> Callable[[int, int, str], None]:
    """Return a method's progress callback (:attr:`core.methods.context.AnswerContext.progress`) shown as a nested part.

    Why nested: in a job that counts answers (ablate each factor, compare, evaluation) one answer
    may hide many model calls (``rpm`` fitting its decision rule on 20 dev items); the job's own
    count stays true and the part inside the answer gets its own bar, counts and estimate. A report
    of ``done == 0`` starts a new part (the next user's rule), one of ``done >= total`` ends it.

    Args:
        tracker: The job's tracker.
        title: Returns the nested part's title at its start (e.g. ``"Answering with rpm"``).
        stage: The nested tracker's one stage (its title and unit come from :data:`STAGE_TITLES`).
    """
    state: dict[str, ProgressTracker] = {}

    def report(done: int, total: int, label: str) -> None:
        inner = state.get("inner")
        if inner is None or done == 0:
            inner = state["inner"] = tracker.nest(title(), (stage,))
        inner.update(stage, done, total, text=label or None)
        if total > 0 and done >= total:
            tracker.end_nested()
            state.clear()

    return report
