"""Model work as background jobs for the pages: one answer, ablate-each-factor, every method at once, a summary.

Each ``start_*`` function starts a :class:`~core.views.jobs.Job` whose tracker has one stage,
``answering``, counted in answers, and returns it; the page shows it with the shared progress panel
and its Cancel button. Why jobs: one answer of the local model takes one to two minutes over several
model calls, and a spinner gave no way out.

An answer can hide many model calls: ``rpm``'s first answer fits the user's decision rule on up to
20 dev items first (about four minutes on the local model). The method reports that through
:attr:`core.methods.context.AnswerContext.progress`; the one-answer job counts it as answers (the dev
items', then the query's), the jobs that count whole answers (ablate, compare; the evaluation in
:mod:`core.views.eval_view`) show it as a nested part (:func:`core.views.progress.nested_reporter`).

Cancel semantics, said on the page after a cancel: every job's client is a
:class:`~core.views.jobs.CancelGuard`, so the model call in flight finishes and the next one is refused.

* one answer: nothing is kept (:class:`JobCancelled`), the earlier answer stays on the page;
* ablate each factor / all methods: the answer in flight is dropped, every finished one is kept (a
  cancel during the ablation's full answer keeps nothing: :class:`JobCancelled`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.embed.base import Embedder
from core.llm.client import LLMClient, activity_note, stats_snapshot
from core.methods.ablation import AblationResult
from core.stages.edits import regenerate_summary
from core.stages.profile import Profile
from core.store.workspace import Workspace
from core.views.answering import AblationRecord, ablate_query, answer_all, answer_query, make_context
from core.views.jobs import CancelGuard, Job, JobCancelled
from core.views.progress import nested_reporter

__all__ = ["JobCancelled", "start_ablate_all_job", "start_answer_job", "start_compare_job",
           "start_summary_job"]


def _watch_calls(job: Job, client: Any) -> None:
    """Show the model calls made since the job began after its line (they move inside one long answer)."""
    base = stats_snapshot(client)
    job.tracker.live_note = lambda: activity_note(client, base)


def start_answer_job(ws: Workspace, profile: Profile, *, method: str, query: str, client: LLMClient,
                     embedder: Embedder,
                     k: int = 4, gold: str | None = None, disabled_factors: Iterable[str] = (),
                     disabled_items: Iterable[str] = (), use_summary: bool = True,
                     reason_first: bool = False) -> Job:
    """Answer one query with one method in a background job (see :func:`core.views.answering.answer_query`).

    The job's result is the :class:`~core.views.answering.AnswerRecord`. Cancelling refuses the next
    model call, so the job ends with :class:`JobCancelled` as its ``exception``.

    Progress counts answers: 1, or, when the method fits something first (``rpm``'s decision rule on
    n dev items), n + 1 (each dev item is answered like the query), so the bar moves item by item
    and the estimate comes from the measured rate. Why not a separate stage: the tracker gives each
    stage an equal share of the bar, and the query's one answer would fill half of it.
    """
    disabled_factors, disabled_items = list(disabled_factors), list(disabled_items)

    def work(job: Job) -> Any:
        _watch_calls(job, client)
        head = f"Running {method}"
        answers = [1]  # answers in all: 1, or the dev items' plus the query's once a fitting reports
        job.report(0, 1, head, stage="answering")

        def inside(done: int, total: int, label: str) -> None:
            answers[0] = total + 1
            text = (f"{head} · {label} on {total} dev items, then the query" if done < total
                    else f"{head} · answering the query")
            job.report(done, total + 1, text, stage="answering")

        record = answer_query(ws, profile, method=method, query=query, client=CancelGuard(client, job.cancelled),
                              embedder=embedder, k=k, gold=gold, disabled_factors=disabled_factors,
                              disabled_items=disabled_items, use_summary=use_summary, reason_first=reason_first,
                              method_progress=inside)
        job.report(answers[0], answers[0], head, stage="answering")
        return record

    return Job(work, f"answer-{method}", ("answering",)).start()


def start_ablate_all_job(ws: Workspace, profile: Profile, *, method: str, query: str, client: LLMClient,
                         embedder: Embedder, k: int = 4, disabled_items: Iterable[str] = (),
                         reason_first: bool = False, answer_run_id: str | None = None) -> Job:
    """Ablate each active factor in turn in a background job (see :func:`core.views.answering.ablate_query`).

    Recorded as an ``ablation`` run (its parent the answer run ablated), as every ablation is.
    Progress counts answers (the full one, then one per factor); ``rpm`` fitting its rule inside the
    full answer shows as a nested part. Cancel refuses the next model call, drops the factor in
    flight and keeps the factors finished (the run ends ``cancelled``); the result is the
    :class:`~core.views.answering.AblationRecord` (``planned``, ``cancelled``). A cancel during the
    full answer keeps nothing: the job ends with :class:`JobCancelled`.
    """
    held_out = list(disabled_items)

    def work(job: Job) -> AblationRecord:
        _watch_calls(job, client)
        label = f"Re-running {method} once per factor"
        # the bar's count from the start, before the full answer's first report (a context is a cheap record)
        factors = make_context(profile, client=client, embedder=embedder, k=k, disabled_items=held_out).active_factors()
        job.report(0, len(factors) + 1, label, stage="answering")
        return ablate_query(ws, profile, method=method, query=query, client=CancelGuard(client, job.cancelled),
                            embedder=embedder, k=k, all_factors=True, disabled_items=held_out,
                            reason_first=reason_first, answer_run_id=answer_run_id, cancel=job.cancelled,
                            progress=lambda d, t: job.report(d, t, label, stage="answering"),
                            method_progress=nested_reporter(job.tracker, lambda: f"The full {method} answer"))

    return Job(work, f"ablate-{method}", ("answering",)).start()


def start_compare_job(ws: Workspace, profile: Profile, methods: Iterable[str], *, query: str, client: LLMClient,
                      embedder: Embedder, k: int = 4, gold: str | None = None, disabled_items: Iterable[str] = (),
                      ported: Any = None) -> Job:
    """Answer one query with every chosen method in a background job (see :func:`core.views.answering.answer_all`).

    Args:
        ws: The workspace.
        profile: The user's profile.
        methods: Method names.
        query: The query.
        client: The LLM client.
        embedder: The embedder.
        k: Items retrieved.
        gold: The true response.
        disabled_items: Left out of every method's retrieval.
        ported: ``ported(profile) -> (label, answer or error, info)``, run last unless cancelled
            (the portability answer), or None.

    Returns:
        The job; its result is ``(records, port info)``: ``{method: AnswerRecord or error}`` in order, with
        the methods answered before a cancel only (the one in flight stops at its next model call and
        is dropped). ``rpm`` fitting its rule shows as a nested part.
    """
    chosen, held_out = list(methods), list(disabled_items)

    def work(job: Job) -> tuple[dict[str, Any], Any]:
        _watch_calls(job, client)
        n = len(chosen) + (1 if ported is not None else 0)
        current = [""]

        def step(name: str, done: int, _total: int) -> None:
            current[0] = name
            job.report(done, n, "Answering" if name == "done" else f"Answering with {name}", stage="answering")

        inside = nested_reporter(job.tracker, lambda: f"Answering with {current[0]}")
        guarded = CancelGuard(client, job.cancelled)
        out: dict[str, Any] = dict(answer_all(ws, profile, chosen, query=query, client=guarded, embedder=embedder,
                                              k=k, gold=gold, disabled_items=held_out, progress=step,
                                              cancel=job.cancelled, method_progress=inside))
        info = None
        if ported is not None and not job.cancelled():
            job.report(len(chosen), n, "Answering with the ported summary", stage="answering")
            label, answer, info = ported(profile)
            out[label] = answer
            job.report(n, n, "Answering", stage="answering")
        return out, info

    return Job(work, "compare", ("answering",)).start()



def start_summary_job(ws: Workspace, profile: Profile, *, client: LLMClient | None) -> Job:
    """Write a new summary version from the profile's current factors in a background job.

    See :func:`core.stages.edits.regenerate_summary`. The job's result is the profile carrying the new
    version. Cancel drops the summary being written (the model call in flight finishes, its text is
    not stored) and ends the summary run ``cancelled``; the job's ``exception`` is :class:`JobCancelled`.
    """

    def work(job: Job) -> Profile:
        guarded = None if client is None else CancelGuard(client, job.cancelled)
        if client is not None:
            _watch_calls(job, client)
        job.report(0, 1, "Writing the summary", stage="summary")
        out = regenerate_summary(ws, profile, client=guarded)
        job.report(1, 1, "Writing the summary", stage="summary")
        return out

    return Job(work, "summary", ("summary",)).start()


def ablate_all_rows(results: Iterable[AblationResult]) -> list[dict[str, Any]]:
    """Return the ablate-each-factor table: one row per factor, as the Reasoning page shows it."""
    return [{"removed": r.removed, "original": r.original.text, "ablated": r.ablated.text, "changed": r.changed,
             "shift": r.shift, "flipped": r.flipped, "effect": round(r.effect, 3)} for r in results]


def cancelled_answer_note(kind: str, *, cached: bool, dropped: bool = False) -> str:
    """Say what a cancelled answer, re-run or ablation kept.

    Args:
        kind: ``"answer"``, ``"rerun"`` or ``"ablate_all"`` (cancelled during its full answer).
        cached: Whether the client caches model calls.
        dropped: True when a model call finished after the Cancel and its result was thrown away
            (:attr:`core.views.jobs.JobCancelled.dropped`); False when the next call was never sent.
    """
    what = {"answer": "the answer", "ablate_all": "the ablation's full answer"}.get(kind, "the re-run")
    how = (f"{what} was stopped; the model call in flight finished after the Cancel and its result was dropped"
           if dropped else f"{what} was stopped before its next model call")
    nothing = "no factor was re-run" if kind == "ablate_all" else "no answer was stored"
    kept = (" The model calls it had made are in the cache, so running it again repeats them at no cost."
            if cached else "")
    return f"Cancelled: {how}; {nothing}.{kept}"
