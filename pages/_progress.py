"""The one progress-and-Cancel panel of every long action (build, answer, ablation, compare, evaluation).

It renders a job's :class:`core.views.progress.ProgressSnapshot`: the bar with the step, counts and
estimate, the stages as a checklist, a nested part's bar (one user's build inside an evaluation)
and a Cancel button; it refreshes itself and reruns the page once the job is done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.views.jobs import Job
from pages._shared import safe


def progress_panel(get_job: Callable[[], Job | None], *, key: str, cancelling: str, help: str | None = None,
                   every: float = 1.0) -> None:
    """Show a running job's progress with a Cancel button, refreshed every ``every`` seconds.

    Args:
        get_job: Returns the job (None once the page dropped it).
        key: The Cancel button's widget key.
        cancelling: The note shown once Cancel was pressed (what stops when, and what is kept).
        help: The Cancel button's tooltip.
        every: Refresh interval in seconds.
    """

    @st.fragment(run_every=every)
    def panel() -> None:
        job = get_job()
        if job is None:
            return
        if job.done:
            st.rerun(scope="app")
        snap = job.snapshot()
        bar, cancel = st.columns([5, 1], vertical_alignment="bottom")
        # Lines carry user ids and method names from the data: escaped, never markup.
        bar.progress(snap.fraction, text=safe(snap.line()))
        if cancel.button("Cancel", key=key, disabled=job.cancelled(), width="stretch", help=help):
            job.cancel()
        if snap.step[1] > 1:
            st.caption(safe(snap.checklist()))
        if snap.nested is not None:
            st.progress(snap.nested.fraction, text=safe(f"{snap.nested_title} · {snap.nested.line()}"))
            if snap.nested.step[1] > 1:  # one stage (rpm fitting its rule): its bar says it all
                st.caption(safe(snap.nested.checklist()))
        if job.cancelled():
            st.caption(cancelling)

    panel()


def job_slot(key: str) -> tuple[dict[str, Any], dict[str, Any] | None, bool]:
    """Return a page's job slot, what it held at the start of this run, and whether that job still runs.

    The slot is a plain dict kept in the session under ``key`` (``{"job": Job, ...}``, ``{}`` when
    idle), taken once per run: any session-state access may end a run when a rerun is pending, so a
    job stored into this dict right after it starts is never lost before it is registered. A finished
    job is taken out of the slot here; the page shows its outcome from the returned copy.
    """
    slot: dict[str, Any] = st.session_state.setdefault(key, {})
    held = dict(slot) or None
    running = held is not None and not held["job"].done
    if held is not None and not running:
        slot.clear()
    return slot, held, running
