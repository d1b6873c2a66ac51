"""Profile builds for the pages: a cancellable background build with stage progress, and the auto-build rule.

:func:`start_build_job` runs :func:`core.stages.pipeline.build_profile` in a :class:`~core.views.jobs.Job`
thread. The build's progress hook reports to the job and raises :class:`BuildCancelled` once the
job is cancelled, so a cancel stops the build at the next progress report (between feature items,
LLM calls or stages). What was finished stays stored: feature extraction stores each item as its
chunk returns and a later build resumes the unfinished run (see :func:`core.stages.features.run_features`),
and every finished stage run is reused.

A fresh machine opens on the sample data; :func:`auto_build_allowed` says when a page may build
the active sample user's profile without being asked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from core.embed.base import Embedder
from core.errors import Cancelled
from core.llm.client import LLMClient, activity_note, stats_snapshot
from core.stages.failures import profile_failures
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings, Profile
from core.store.workspace import Workspace
from core.ui_state import sample_choices
from core.views.jobs import Job
from core.views.progress import BUILD_STAGES, STAGE_TITLES

AUTO_BUILD_ENV = "INFLOW_AUTO_BUILD"


class BuildCancelled(Cancelled):
    """Raised from a build's progress hook when the user cancelled it.

    Finished work stays stored; the run it stopped ends ``cancelled``.
    """


def build_cancellable(ws: Workspace, dataset_id: str, user_id: str, *, client: LLMClient | None, embedder: Embedder,
                      settings: PipelineSettings | None = None,
                      progress: Callable[[str, int, int], None] | None = None,
                      cancelled: Callable[[], bool] | None = None) -> Profile:
    """Build (or reuse) a user's profile, reporting progress and stopping when ``cancelled()`` turns true.

    Args:
        ws: The workspace.
        dataset_id: The dataset.
        user_id: The user.
        client: The LLM client (None for a fully offline build).
        embedder: The embedder.
        settings: Pipeline settings.
        progress: ``progress(stage, done, total)`` at every stage report.
        cancelled: Checked at every stage report.

    Raises:
        BuildCancelled: ``cancelled()`` became true (features of finished chunks stay stored).
        core.errors.InputError: See :func:`core.stages.pipeline.build_profile`.
    """
    def hook(stage: str, done: int, total: int) -> None:
        if cancelled is not None and cancelled():
            raise BuildCancelled(f"cancelled during {STAGE_TITLES.get(stage, stage).lower()}")
        if progress is not None:
            progress(stage, done, total)

    return build_profile(ws, dataset_id, user_id, client=client, embedder=embedder, settings=settings, progress=hook)


def start_build_job(ws: Workspace, dataset_id: str, user_id: str, *, client: LLMClient | None, embedder: Embedder,
                    settings: PipelineSettings | None = None) -> Job:
    """Start :func:`build_cancellable` in a background job and return it.

    The job's tracker gets every stage report (its note: the model calls and cache hits so far);
    its ``target`` attribute is ``(workspace path, dataset id, user id)``; its result is the profile.
    Cancelling it makes the build raise :class:`BuildCancelled` (the job's ``exception``).
    """

    def work(job: Job) -> Any:
        base = stats_snapshot(client)
        job.tracker.live_note = lambda: activity_note(client, base)
        return build_cancellable(ws, dataset_id, user_id, client=client, embedder=embedder, settings=settings,
                                 progress=lambda stage, done, total: job.report(done, total, stage=stage),
                                 cancelled=job.cancelled)

    job = Job(work, f"build-{user_id}", BUILD_STAGES)
    job.target = (ws.path, dataset_id, user_id)  # type: ignore[attr-defined]
    return job.start()


def stored_feature_items(ws: Workspace, dataset_id: str, user_id: str) -> tuple[int, int]:
    """Return ``(items whose features are stored in the newest features run, items of the user)``.

    After a cancelled build this says how much a rebuild will not have to redo.
    """
    total = len(ws.get_items(dataset_id, user_id))
    runs = ws.list_runs("features", dataset_id=dataset_id, user_id=user_id)
    if not runs:
        return 0, total
    return len(ws.get_artifacts(runs[0].id, "item:")), total


def cancelled_note(ws: Workspace, dataset_id: str, user_id: str) -> str:
    """Return the message shown after a cancelled build (what was kept and how to resume)."""
    done, total = stored_feature_items(ws, dataset_id, user_id)
    kept = (f"the features of {done} of {total} items are stored" if done < total
            else "the features of all items are stored")
    return f"Build cancelled: {kept}, so **Build profile** resumes where it stopped."


def is_sample_dataset(info: Mapping[str, Any], samples: Mapping[str, list[Any]] | None = None) -> bool:
    """True when a ``ws.list_datasets()`` row is one of the shipped sample datasets, loaded unchanged.

    A sample dataset keeps the sample's name as its id and its file names as its source
    (:func:`core.ui_state.ensure_sample_data` and the Upload page's "Load sample" store it so).
    """
    samples = sample_choices() if samples is None else samples
    files = samples.get(str(info.get("id")))
    if not files:
        return False
    return (info.get("source") or "") == ", ".join(getattr(p, "name", str(p)) for p in files)


def auto_build_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False when ``$INFLOW_AUTO_BUILD`` is ``0``/``false``/``no``/``off`` (tests opt out so), else True."""
    env = os.environ if environ is None else environ
    return env.get(AUTO_BUILD_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def auto_build_allowed(ws: Workspace, dataset_id: str | None, user_id: str | None, *,
                       environ: Mapping[str, str] | None = None) -> bool:
    """True when a page may build this user's profile unasked: auto-build is on and the dataset is a sample.

    The caller checks that no profile exists and that it has not tried (or been cancelled) already.
    """
    if not dataset_id or not user_id or not auto_build_enabled(environ):
        return False
    info = next((d for d in ws.list_datasets() if d["id"] == dataset_id), None)
    return info is not None and is_sample_dataset(info) and user_id in ws.list_users(dataset_id)


def failure_report(ws: Workspace, profile: Profile, *, limit: int = 50) -> tuple[str, list[str]]:
    """Return what a profile's build could not do with the model: a heading and one line per failure.

    Read from the workspace (each stage run's ``failures``, see :mod:`core.stages.failures`), so
    the CLI right after a build and a page opened later say the same. ``("", [])`` when nothing
    failed or fell back.

    Args:
        ws: The workspace.
        profile: The built or loaded profile (its ``run_ids`` name the stage runs).
        limit: Most lines returned (a last line says how many more there are).
    """
    failures = profile_failures(ws, profile.run_ids)
    if not failures:
        return "", []
    n_failed = sum(f.outcome == "failed" for f in failures)
    heading = (f"{len(failures)} model call{'s' if len(failures) != 1 else ''} failed ({n_failed} left an item "
               f"without features, {len(failures) - n_failed} fell back to a deterministic stand-in); "
               "building again retries exactly these")
    lines = [f.line() for f in failures[:limit]]
    if len(failures) > limit:
        lines.append(f"… and {len(failures) - limit} more")
    return heading, lines
