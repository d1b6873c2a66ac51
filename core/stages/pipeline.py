"""The pipeline that builds a user's profile, and reopening a built one.

:func:`build_profile` runs (or reuses) stages 1-4 for one user:

``features`` -> ``projection`` (embed + UMAP, cached) -> ``clustering`` (HDBSCAN) -> ``factors``
(names, statistics) -> curation edits replayed -> ``summary`` (a version) and ``paths``.

Like BERTopic's constructor, it takes its stage objects (extractor, projector, clusterer, namer,
summarizer, path writer) as arguments; each one left out is made from the
:class:`~core.stages.profile.PipelineSettings` (:class:`FactorStages` for the ones after the
projection).

Every stage result is a workspace run with its parameters and parent runs, reused when both match,
so rebuilding after a crash, or re-clustering with other HDBSCAN parameters (:func:`recluster`),
redoes only what changed. A final ``profile`` run records which runs and settings a build used;
:func:`load_profile` reopens the newest one with the current edits and the newest summary version,
without writing to the workspace.
"""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core.data.model import Item, Task
from core.embed.base import Embedder
from core.embed.cached import CachedEmbedder
from core.errors import InputError, Problem
from core.llm.client import LLMClient
from core.stages.cluster import HDBSCANClusterer, run_clustering
from core.stages.curation import apply_edits
from core.stages.factors import load_factors, order_factors, run_factors, set_centroids
from core.stages.features import (
    FeatureExtractor,
    LLMFeatureExtractor,
    choose_extractor,
    is_capable,
    items_digest,
    load_features,
    run_features,
    task_with_labels,
)
from core.stages.naming import KeywordNamer, LLMNamer
from core.stages.paths import (
    LLMPathWriter,
    PathWriter,
    TemplatePathWriter,
    load_paths,
    refresh_paths,
    run_paths,
)
from core.stages.profile import PipelineSettings, Profile
from core.stages.project import Projection, UMAPProjector, load_projection, run_projection
from core.stages.reduce import FactorReducer
from core.stages.stats import with_stats
from core.stages.summary import LLMSummarizer, Summarizer, TemplateSummarizer, factors_digest, run_summary
from core.stages.types import Clusterer, Factor, Feature, Namer, Projector, ReasoningPath, StageProgress
from core.store.workspace import Workspace, text_hash

STAGES = ("features", "projection", "clustering", "factors", "summary", "paths")


# -- stage implementations from settings ---------------------------------------------------------------
def _pick(choice: str, client: LLMClient | None, what: str) -> bool:
    """Return True for the LLM implementation of a stage."""
    c = (choice or "auto").lower()
    if c == "auto":
        return is_capable(client)
    if c == "llm":
        if client is None:
            raise InputError(Problem("settings", None, what, f"the LLM {what} needs a model backend"))
        return True
    if c in ("keywords", "template", "lexicon"):
        return False
    raise InputError(Problem("settings", None, what, f"unknown {what} {choice!r}; use auto, llm or template"))


def make_extractor(settings: PipelineSettings, client: LLMClient | None) -> FeatureExtractor:
    """Return the feature extractor the settings ask for (an LLM one skips failed items)."""
    extractor = choose_extractor(client, settings.extractor)
    if isinstance(extractor, LLMFeatureExtractor):
        extractor.skip_failures = True  # a failed item is recorded (run_features) and retried by the next build
    return extractor


def make_clusterer(settings: PipelineSettings) -> Clusterer:
    """Return the HDBSCAN clusterer the settings ask for."""
    return HDBSCANClusterer(settings.hdbscan_min_cluster_size, settings.hdbscan_min_samples)


def make_namer(settings: PipelineSettings, client: LLMClient | None) -> Namer:
    """Return the factor namer the settings ask for."""
    return LLMNamer(client) if _pick(settings.namer, client, "namer") else KeywordNamer()


def make_summarizer(settings: PipelineSettings, client: LLMClient | None) -> Summarizer:
    """Return the summarizer the settings ask for."""
    return LLMSummarizer(client) if _pick(settings.summarizer, client, "summarizer") else TemplateSummarizer()


def make_path_writer(settings: PipelineSettings, client: LLMClient | None) -> PathWriter:
    """Return the path writer the settings ask for."""
    return LLMPathWriter(client) if _pick(settings.paths, client, "paths") else TemplatePathWriter()


@dataclass
class FactorStages:
    """The stage objects that turn a projection into a profile (a re-cluster reuses all before them).

    Attributes:
        clusterer: Clusters the n-D projection.
        namer: Names the factors.
        summarizer: Writes the preference summary.
        path_writer: Writes the reasoning paths.
    """

    clusterer: Clusterer
    namer: Namer
    summarizer: Summarizer
    path_writer: PathWriter

    @classmethod
    def from_settings(cls, settings: PipelineSettings, client: LLMClient | None, *,
                      clusterer: Clusterer | None = None, namer: Namer | None = None,
                      summarizer: Summarizer | None = None, path_writer: PathWriter | None = None) -> FactorStages:
        """Return the given stage objects, with the missing ones made from the settings."""
        return cls(clusterer=clusterer or make_clusterer(settings),
                   namer=namer or make_namer(settings, client),
                   summarizer=summarizer or make_summarizer(settings, client),
                   path_writer=path_writer or make_path_writer(settings, client))


@dataclass
class _UserHistory:
    """One user's data a build works on: the task, the history items and their features."""

    dataset_id: str
    user_id: str
    task: Task
    items: list[Item]
    features: dict[str, list[Feature]]

    def all_features(self) -> list[Feature]:
        return [f for it in self.items for f in self.features.get(it.id, [])]


def _cached(embedder: Embedder, ws: Workspace) -> CachedEmbedder:
    return embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder, ws)


_VECTOR_CACHE: OrderedDict[tuple[str, str, str], dict[str, np.ndarray]] = OrderedDict()
_VECTOR_CACHE_SIZE = 4


def _vectors(features: list[Feature], embedder: Embedder,
             key: tuple[str, str, str] | None = None) -> dict[str, np.ndarray]:
    """Embeddings by feature id (from the workspace cache), kept in memory for the last few feature runs.

    ``key`` is ``(workspace path, features run id, embedder name)``; re-clustering the same user
    then needs no embedding lookup at all.
    """
    if key is not None and key in _VECTOR_CACHE and key[0] != ":memory:":
        _VECTOR_CACHE.move_to_end(key)
        return _VECTOR_CACHE[key]
    if not features:
        return {}
    mat = embedder.embed([f.text for f in features])
    out = {f.id: mat[i] for i, f in enumerate(features)}
    if key is not None and key[0] != ":memory:":
        _VECTOR_CACHE[key] = out
        while len(_VECTOR_CACHE) > _VECTOR_CACHE_SIZE:
            _VECTOR_CACHE.popitem(last=False)
    return out


def stored_vectors(ws: Workspace, embedder_name: str, features: list[Feature]) -> dict[str, np.ndarray]:
    """Return the cached embeddings of features (no embedding call; missing ones are absent)."""
    hashes = {f.id: text_hash(f.text) for f in features}
    found = ws.embeddings_get(embedder_name, sorted(set(hashes.values())))
    return {fid: found[h] for fid, h in hashes.items() if h in found}


def _task_items(ws: Workspace, dataset_id: str, user_id: str) -> tuple[Task, list[Item]]:
    try:
        task = ws.get_dataset(dataset_id, user_ids=[]).task
    except KeyError as exc:
        raise InputError(Problem(ws.path, None, "dataset", f"no dataset {dataset_id!r} in the workspace")) from exc
    items = ws.get_items(dataset_id, user_id)
    if not items:
        raise InputError(Problem(dataset_id, None, "user", f"user {user_id!r} has no history items"))
    return task, items


def curate(ws: Workspace, dataset_id: str, user_id: str, base: list[Factor], assign: dict[str, str],
           by_id: dict[str, Feature], items: list[Item], task: Task,
           vectors: dict[str, np.ndarray] | None) -> tuple[list[Factor], dict[str, str], list[dict[str, Any]]]:
    """Replay the user's active curation edits over the built factors and recompute their statistics.

    Returns:
        The curated factors (ordered), the assignments and one log entry per replayed edit.
    """
    log: list[dict[str, Any]] = []
    edits = ws.list_edits(dataset_id, user_id)
    factors, assignments = apply_edits(base, assign, edits, features=by_id, log=log)
    with_stats(factors, by_id, items, task)
    if edits and vectors:
        set_centroids(factors, vectors)
    return order_factors(factors), assignments, log


def latest_summary(ws: Workspace, dataset_id: str, user_id: str,
                   fallback: tuple[str, int | None]) -> tuple[str, int | None]:
    """Return the newest summary version's ``(text, version)``, else ``fallback``."""
    latest = ws.latest_summary(dataset_id, user_id)
    return (latest["text"], latest["version"]) if latest else fallback


def current_paths(ws: Workspace, profile: Profile, factors: list[Factor],
                  assignments: dict[str, str]) -> dict[str, ReasoningPath]:
    """Paths matching the curated factors, derived without writing to the workspace.

    The stored paths when they were written for these factors; model-written paths re-pointed to
    the curated factors (:func:`~core.stages.paths.refresh_paths`); else template paths, written in
    memory (they are pure: the same factors always give the same paths).
    """
    run_id = profile.run_ids.get("paths")
    if run_id is not None:
        run = ws.get_run(run_id)
        if run.params.get("factors") == factors_digest(factors):
            return load_paths(ws, run_id)
        if profile.settings.get("paths_kind", "template") == "llm":
            return refresh_paths(load_paths(ws, run_id), profile.items, factors, assignments, profile.task)
    return TemplatePathWriter().write(profile.items, profile.features, factors, assignments, profile.task)


# -- building ------------------------------------------------------------------------------------------
def build_profile(ws: Workspace, dataset_id: str, user_id: str, *, client: LLMClient | None, embedder: Embedder,
                  settings: PipelineSettings | None = None, progress: StageProgress | None = None,
                  extractor: FeatureExtractor | None = None, projector: Projector | None = None,
                  clusterer: Clusterer | None = None, namer: Namer | None = None,
                  summarizer: Summarizer | None = None, path_writer: PathWriter | None = None) -> Profile:
    """Run (or reuse) stages 1-4 for one user and return the profile.

    Args:
        ws: The workspace holding the dataset.
        dataset_id: Stored dataset id.
        user_id: The user.
        client: The LLM client, or None for a fully offline build.
        embedder: The embedder (wrapped in a workspace :class:`~core.embed.cached.CachedEmbedder`).
        settings: Pipeline settings; they also make each stage object not given.
        progress: ``progress(stage, done, total)`` callback.
        extractor: Extracts the features (default: :func:`make_extractor`).
        projector: Projects the embeddings (default: :class:`~core.stages.project.UMAPProjector`).
        clusterer: Clusters the projection (default: HDBSCAN with the settings' parameters).
        namer: Names the factors (default: :func:`make_namer`).
        summarizer: Writes the summary (default: :func:`make_summarizer`).
        path_writer: Writes the reasoning paths (default: :func:`make_path_writer`).

    Each stage's run is keyed by its object's identity, so a build with other stage objects makes
    new runs and a build with the same ones reuses them. ``settings`` is recorded as given, and
    :func:`recluster` makes its clusterer from it.

    Raises:
        InputError: Unknown dataset, a user without items, or settings that need a missing backend.
        core.errors.BackendError: The LLM extractor's backend failed.
    """
    settings = settings or PipelineSettings()
    task, items = _task_items(ws, dataset_id, user_id)
    emb = _cached(embedder, ws)  # every embedding goes through the workspace cache
    extractor = extractor or make_extractor(settings, client)
    stages = FactorStages.from_settings(settings, client, clusterer=clusterer, namer=namer, summarizer=summarizer,
                                        path_writer=path_writer)
    step = _stepper(progress)

    # 1. Features of every history item (resumed item by item after a crash).
    fr_id, feats = run_features(ws, dataset_id, user_id, extractor, progress=lambda d, t: step("features", d, t))
    history = _UserHistory(dataset_id, user_id, task, items, feats)
    # 2. Embed and project them (2-D for display, n-D for clustering); cached per embedder and parameters.
    step("projection", 0)
    proj = run_projection(ws, fr_id, history.all_features(), emb, params=settings.projection_params(),
                          projector=projector or UMAPProjector(), dataset_id=dataset_id, user_id=user_id)
    step("projection", 1)
    # 3-6. Cluster, name the factors, replay the curation edits, write the summary and the paths.
    return _from_projection(ws, history, fr_id, proj, emb=emb, stages=stages, settings=settings,
                            extractor_kind=extractor.name, step=step)


def _stepper(progress: StageProgress | None) -> StageProgress:
    def step(stage: str, done: int, total: int = 1) -> None:
        if progress:
            progress(stage, done, total)

    return step


def _from_projection(ws: Workspace, history: _UserHistory, fr_id: str, proj: Projection, *, emb: Embedder,
                     stages: FactorStages, settings: PipelineSettings, extractor_kind: str,
                     step: StageProgress) -> Profile:
    """Stages 3-6 on a stored projection: cluster, name, curate, summarize, write paths; record the build."""
    dataset_id, user_id, task, items, feats = (history.dataset_id, history.user_id, history.task, history.items,
                                               history.features)
    all_feats = history.all_features()
    by_id = {f.id: f for f in all_feats}
    # 3. Cluster the n-D projection.
    step("clustering", 0)
    cl_id, labels = run_clustering(ws, proj.run_id, proj.feature_ids, proj.coordsnd, stages.clusterer,
                                   dataset_id=dataset_id, user_id=user_id)
    step("clustering", 1)
    # 4. Name the factors (merged to at most n_factors), then replay the analyst's edits over them.
    step("factors", 0)
    vectors = _vectors(all_feats, emb, (ws.path, fr_id, emb.name))
    fac_id, base, assign = run_factors(ws, cl_id, all_feats, labels, items, task, namer=stages.namer,
                                       vectors=vectors, dataset_id=dataset_id, user_id=user_id,
                                       split_min_size=settings.hdbscan_min_cluster_size if settings.split_directions
                                       else None,
                                       reducer=FactorReducer(settings.n_factors, settings.max_unclustered)
                                       if settings.n_factors else None)
    factors, assignments, log = curate(ws, dataset_id, user_id, base, assign, by_id, items, task, vectors)
    step("factors", 1)
    # 5-6. The summary and the paths both read only the factors: the summary's one call runs beside the
    # paths' calls (started once they are under way), so the endpoint never waits on it alone.
    step("summary", 0)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="summary") as beside:
        summary: list[Any] = []

        def start_summary() -> None:
            if not summary:
                summary.append(beside.submit(run_summary, ws, fac_id, factors, items, task, stages.summarizer,
                                             dataset_id=dataset_id, user_id=user_id))

        def finish_summary() -> tuple[str, str, int]:
            start_summary()
            if len(summary) == 1:
                summary.append(summary[0].result())
                step("summary", 1)
            return summary[1]

        def path_progress(done: int, total: int) -> None:
            start_summary()
            if done >= total:  # stages are reported in order: the summary is done before the last path
                finish_summary()
            step("paths", done, total)

        writer = stages.path_writer
        pa_id, paths = run_paths(ws, fac_id, items, feats, factors, assignments, task, writer, dataset_id=dataset_id,
                                 user_id=user_id, progress=path_progress)
        sm_id, text, version = finish_summary()
    text, version = latest_summary(ws, dataset_id, user_id, (text, version))
    # Record the build: which runs and settings it used (load_profile reopens the newest).
    run_ids = {"features": fr_id, "projection": proj.run_id, "clustering": cl_id, "factors": fac_id,
               "summary": sm_id, "paths": pa_id}
    full_settings = {**settings.to_dict(), "extractor_kind": extractor_kind, "embedder_name": emb.name,
                     "paths_kind": writer.name}
    with ws.run("profile", full_settings, dataset_id=dataset_id, user_id=user_id,
                parents=[run_ids[s] for s in STAGES]) as prof:
        ws.put_artifact(prof.id, "run_ids", run_ids)
    run_ids["profile"] = prof.id
    coords = {fid: (float(x), float(y)) for fid, (x, y) in zip(proj.feature_ids, proj.coords2d.tolist(), strict=True)}
    return Profile(dataset_id=dataset_id, user_id=user_id, task=task, items=items, features=feats, factors=factors,
                   assignments=assignments, coords2d=coords, summary=text, summary_version=version, paths=paths,
                   run_ids=run_ids, settings=full_settings, edit_log=log)


def recluster(ws: Workspace, profile: Profile, *, min_cluster_size: int, min_samples: int | None = None,
              embedder: Embedder, client: LLMClient | None = None, n_factors: int | None = None) -> Profile:
    """Re-cluster a profile's cached projection with other HDBSCAN parameters (or another factor count).

    Features, embeddings and projections are reused (no embedding call: vectors come from the
    workspace cache); factors, summary and paths are rebuilt (or reused when seen before).
    ``n_factors`` None keeps the profile's factor count.
    """
    settings = replace(PipelineSettings.from_dict(profile.settings), hdbscan_min_cluster_size=int(min_cluster_size),
                       hdbscan_min_samples=None if min_samples is None else int(min_samples))
    if n_factors is not None:
        settings = replace(settings, n_factors=int(n_factors))
    proj = load_projection(ws, profile.run_ids["projection"])
    history = _UserHistory(profile.dataset_id, profile.user_id, profile.task, profile.items, profile.features)
    return _from_projection(ws, history, profile.run_ids["features"], proj, emb=_cached(embedder, ws),
                            stages=FactorStages.from_settings(settings, client), settings=settings,
                            extractor_kind=profile.settings.get("extractor_kind", "lexicon"), step=_stepper(None))


# -- reopening -------------------------------------------------------------------------------------------
def load_profile(ws: Workspace, dataset_id: str, user_id: str) -> Profile | None:
    """Reopen the newest built profile of a user with the current edits and newest summary version.

    Only reads the workspace: paths that no longer match the curated factors are re-derived in
    memory (see :func:`rederive`).

    Returns:
        The profile, or None when the user has never been built, the dataset is gone, or its items
        changed since the build (rebuild then).
    """
    runs = [r for r in ws.list_runs("profile", dataset_id=dataset_id, user_id=user_id) if r.status == "done"]
    if not runs or not ws.has_dataset(dataset_id):
        return None
    prof_run = runs[0]
    run_ids = dict(ws.get_artifact(prof_run.id, "run_ids", {}))
    run_ids["profile"] = prof_run.id
    settings = dict(prof_run.params)
    task = ws.get_dataset(dataset_id, user_ids=[]).task
    items = ws.get_items(dataset_id, user_id)
    if ws.get_run(run_ids["features"]).params.get("data") != items_digest(items, task_with_labels(task, items)):
        return None  # the dataset was replaced since this build: its features no longer match the items
    stored = load_features(ws, run_ids["features"])
    feats = {it.id: stored.get(it.id, []) for it in items}
    proj = load_projection(ws, run_ids["projection"])
    prof = Profile(dataset_id=dataset_id, user_id=user_id, task=task, items=items, features=feats, factors=[],
                   assignments={}, coords2d={fid: (float(x), float(y)) for fid, (x, y)
                                             in zip(proj.feature_ids, proj.coords2d.tolist(), strict=True)},
                   summary="", summary_version=None, paths={}, run_ids=run_ids, settings=settings)
    return rederive(ws, prof)


def rederive(ws: Workspace, profile: Profile) -> Profile:
    """Replay the current edits over the profile's stored factors; refresh stats, paths and summary.

    Reads the workspace only. ``run_ids["paths"]`` keeps naming the stored paths run the build
    wrote; when the edits changed the factors, the paths returned are derived from it (or from the
    template) in memory.
    """
    base, assign = load_factors(ws, profile.run_ids["factors"])
    all_feats = profile.all_features()
    by_id = {f.id: f for f in all_feats}
    vectors = stored_vectors(ws, profile.settings.get("embedder_name", ""), all_feats)
    factors, assignments, log = curate(ws, profile.dataset_id, profile.user_id, base, assign, by_id, profile.items,
                                       profile.task, vectors)
    paths = current_paths(ws, profile, factors, assignments)
    text, version = latest_summary(ws, profile.dataset_id, profile.user_id, (profile.summary, profile.summary_version))
    return replace(profile, factors=factors, assignments=assignments, paths=paths, summary=text,
                   summary_version=version, edit_log=log)
