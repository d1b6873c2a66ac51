"""A user's built profile and the pipeline that builds it: the API for methods, pages and the CLI.

:func:`build_profile` runs (or reuses) stages 1-4 for one user:

``features`` -> ``projection`` (embed + UMAP, cached) -> ``clustering`` (HDBSCAN) -> ``factors``
(names, statistics) -> curation edits replayed -> ``summary`` (a version) and ``paths``.

Every stage result is a workspace run with its parameters and parent runs, reused when both match,
so rebuilding after a crash, or re-clustering with other HDBSCAN parameters (:func:`recluster`),
redoes only what changed. A final ``profile`` run records which runs and settings a build used;
:func:`load_profile` reopens the newest one with the current edits and the newest summary version.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from core.data.model import Item, Task
from core.embed.cached import CachedEmbedder
from core.errors import InputError, Problem
from core.stages.cluster import HDBSCANClusterer, run_clustering
from core.stages.curation import OPS, apply_edits, factor_ref, kmeans_split, reapply_actions
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
from core.stages.paths import LLMPathWriter, TemplatePathWriter, load_paths, refresh_paths, run_paths
from core.stages.project import Projection, ProjectionParams, load_projection, run_projection
from core.stages.reduce import DEFAULT_MAX_UNCLUSTERED, DEFAULT_N_FACTORS, FactorReducer
from core.stages.stats import with_stats
from core.stages.summary import LLMSummarizer, TemplateSummarizer, factors_digest, run_summary
from core.stages.types import Factor, Feature, ReasoningPath
from core.store.workspace import Workspace, text_hash

StageProgress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``."""

STAGES = ("features", "projection", "clustering", "factors", "summary", "paths")


@dataclass
class PipelineSettings:
    """Settings of a build.

    Attributes:
        extractor: ``auto`` (LLM when the backend is capable), ``llm`` or ``lexicon``.
        embedder: ``hash``, ``minilm`` or ``openai`` (recorded; the caller passes the embedder).
        umap_neighbors: UMAP neighbourhood size.
        umap_components: Dimensions of the clustering projection.
        umap_min_dist: UMAP ``min_dist`` of the clustering projection.
        hdbscan_min_cluster_size: HDBSCAN smallest cluster.
        hdbscan_min_samples: HDBSCAN density smoothing (None = min cluster size).
        namer: ``auto``, ``llm`` or ``keywords``.
        summarizer: ``auto``, ``llm`` or ``template``.
        paths: ``auto``, ``llm`` or ``template``.
        split_directions: Score tasks: split a cluster that mixes features which raised and lowered
            the score into one factor per direction (each side at least the smallest cluster size).
        n_factors: Most factors: finer clusters are merged into this many and Unclustered features
            join their nearest factor (see :mod:`core.stages.reduce`); 0 = one factor per cluster.
        max_unclustered: Largest share of features left Unclustered (1.0 = only close ones join a factor).
        seed: Random seed.
    """

    extractor: str = "auto"
    embedder: str = "hash"
    umap_neighbors: int = 15
    umap_components: int = 5
    umap_min_dist: float = 0.0
    hdbscan_min_cluster_size: int = 5
    hdbscan_min_samples: int | None = None
    namer: str = "auto"
    summarizer: str = "auto"
    paths: str = "auto"
    split_directions: bool = True
    n_factors: int = DEFAULT_N_FACTORS
    max_unclustered: float = DEFAULT_MAX_UNCLUSTERED
    seed: int = 42

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PipelineSettings:
        """Build from :meth:`to_dict` output (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def projection_params(self) -> ProjectionParams:
        """Return the projection parameters."""
        return ProjectionParams(n_neighbors=self.umap_neighbors, n_components=self.umap_components,
                                min_dist=self.umap_min_dist, seed=self.seed)


@dataclass
class Profile:
    """Everything built for one user.

    Attributes:
        dataset_id: The dataset.
        user_id: The user.
        task: The dataset's task.
        items: The user's history items.
        features: Features by item id.
        factors: Curated factors with statistics (pinned and strongest first, Unclustered last).
        assignments: ``{feature_id: factor_id}``.
        coords2d: ``{feature_id: (x, y)}`` display coordinates.
        summary: The newest summary version's text.
        summary_version: Its version number.
        paths: Reasoning paths by item id.
        run_ids: Run id per stage (``features``, ``projection``, ``clustering``, ``factors``, ``summary``,
            ``paths``, ``profile``).
        settings: The :class:`PipelineSettings` dict plus ``extractor_kind`` and ``embedder_name``.
        edit_log: One ``{id, op, applied, reason}`` per replayed curation edit.
    """

    dataset_id: str
    user_id: str
    task: Task
    items: list[Item]
    features: dict[str, list[Feature]]
    factors: list[Factor]
    assignments: dict[str, str]
    coords2d: dict[str, tuple[float, float]]
    summary: str
    summary_version: int | None
    paths: dict[str, ReasoningPath]
    run_ids: dict[str, str]
    settings: dict[str, Any]
    edit_log: list[dict[str, Any]] = field(default_factory=list)

    def all_features(self) -> list[Feature]:
        """Return all features in item order."""
        return [f for it in self.items for f in self.features.get(it.id, [])]

    def feature(self, feature_id: str) -> Feature:
        """Return a feature by id.

        Raises:
            KeyError: No such feature.
        """
        item_id = feature_id.rsplit("#", 1)[0]
        for f in self.features.get(item_id, []):
            if f.id == feature_id:
                return f
        raise KeyError(f"no feature {feature_id!r}")

    def factor(self, factor_id: str) -> Factor:
        """Return a factor by id.

        Raises:
            KeyError: No such factor.
        """
        for f in self.factors:
            if f.id == factor_id:
                return f
        raise KeyError(f"no factor {factor_id!r} for user {self.user_id!r}")

    def item(self, item_id: str) -> Item:
        """Return a history item by id.

        Raises:
            KeyError: No such item.
        """
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(f"no item {item_id!r} for user {self.user_id!r}")


# -- stage implementations from settings ---------------------------------------------------------------
def _pick(choice: str, client: Any | None, what: str) -> bool:
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


def make_namer(settings: PipelineSettings, client: Any | None) -> Any:
    """Return the factor namer the settings ask for."""
    return LLMNamer(client) if _pick(settings.namer, client, "namer") else KeywordNamer()


def make_summarizer(settings: PipelineSettings, client: Any | None) -> Any:
    """Return the summarizer the settings ask for."""
    return LLMSummarizer(client) if _pick(settings.summarizer, client, "summarizer") else TemplateSummarizer()


def make_path_writer(settings: PipelineSettings, client: Any | None) -> Any:
    """Return the path writer the settings ask for."""
    return LLMPathWriter(client) if _pick(settings.paths, client, "paths") else TemplatePathWriter()


def profile_extractor(profile: Profile, client: Any | None) -> FeatureExtractor:
    """Return an extractor of the kind that built the profile (for extracting a query's features)."""
    kind = profile.settings.get("extractor_kind", "lexicon")
    return choose_extractor(client if kind == "llm" else None, kind)


def profile_retriever(profile: Profile, *, client: Any | None, embedder: Any, ws: Workspace | None = None) -> Any:
    """Return a :class:`core.stages.retrieval.FeatureRetriever` over the profile (cached embedder when ``ws``)."""
    from core.stages.retrieval import FeatureRetriever

    emb = _cached(embedder, ws) if ws is not None else embedder
    return FeatureRetriever(profile, profile_extractor(profile, client), emb)


def _cached(embedder: Any, ws: Workspace) -> Any:
    return embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder, ws)


_VECTOR_CACHE: OrderedDict[tuple[str, str, str], dict[str, np.ndarray]] = OrderedDict()
_VECTOR_CACHE_SIZE = 4


def _vectors(features: list[Feature], embedder: Any, key: tuple[str, str, str] | None = None) -> dict[str, np.ndarray]:
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


def _curate(ws: Workspace, dataset_id: str, user_id: str, base: list[Factor], assign: dict[str, str],
            by_id: dict[str, Feature], items: list[Item], task: Task,
            vectors: dict[str, np.ndarray] | None) -> tuple[list[Factor], dict[str, str], list[dict[str, Any]]]:
    log: list[dict[str, Any]] = []
    edits = ws.list_edits(dataset_id, user_id)
    factors, assignments = apply_edits(base, assign, edits, features=by_id, log=log)
    with_stats(factors, by_id, items, task)
    if edits and vectors:
        set_centroids(factors, vectors)
    return order_factors(factors), assignments, log


def _latest_summary(ws: Workspace, dataset_id: str, user_id: str,
                    fallback: tuple[str, int | None]) -> tuple[str, int | None]:
    latest = ws.latest_summary(dataset_id, user_id)
    return (latest["text"], latest["version"]) if latest else fallback


def _paths_for(ws: Workspace, run_id: str | None, items: list[Item], features: dict[str, list[Feature]],
               factors: list[Factor], assignments: dict[str, str], task: Task, writer_kind: str, *,
               dataset_id: str, user_id: str, factors_run_id: str) -> tuple[str | None, dict[str, ReasoningPath]]:
    """Paths matching the curated factors: stored ones when current, else templated (stored) or refreshed."""
    if run_id is not None:
        run = ws.get_run(run_id)
        if run.params.get("factors") == factors_digest(factors):
            return run_id, load_paths(ws, run_id)
        if writer_kind == "llm":
            return run_id, refresh_paths(load_paths(ws, run_id), items, factors, assignments, task)
    return run_paths(ws, factors_run_id, items, features, factors, assignments, task, TemplatePathWriter(),
                     dataset_id=dataset_id, user_id=user_id)


# -- building ------------------------------------------------------------------------------------------
def build_profile(ws: Workspace, dataset_id: str, user_id: str, *, client: Any | None, embedder: Any,
                  settings: PipelineSettings | None = None, progress: StageProgress | None = None) -> Profile:
    """Run (or reuse) stages 1-4 for one user and return the profile.

    Args:
        ws: The workspace holding the dataset.
        dataset_id: Stored dataset id.
        user_id: The user.
        client: An :class:`core.llm.client.LLMClient`, or None for a fully offline build.
        embedder: The embedder (wrapped in a workspace :class:`~core.embed.cached.CachedEmbedder`).
        settings: Pipeline settings.
        progress: ``progress(stage, done, total)`` callback.

    Raises:
        InputError: Unknown dataset, a user without items, or settings that need a missing backend.
        core.errors.BackendError: The LLM extractor's backend failed.
    """
    settings = settings or PipelineSettings()
    task, items = _task_items(ws, dataset_id, user_id)
    emb = _cached(embedder, ws)
    extractor = choose_extractor(client, settings.extractor)
    if isinstance(extractor, LLMFeatureExtractor):
        extractor.skip_failures = True  # a failed item is recorded (run_features) and retried by the next build

    def feat_progress(done: int, total: int) -> None:
        if progress:
            progress("features", done, total)

    fr_id, feats = run_features(ws, dataset_id, user_id, extractor, progress=feat_progress)
    all_feats = [f for it in items for f in feats.get(it.id, [])]
    if progress:
        progress("projection", 0, 1)
    proj = run_projection(ws, fr_id, all_feats, emb, params=settings.projection_params(), dataset_id=dataset_id,
                          user_id=user_id)
    if progress:
        progress("projection", 1, 1)
    return _from_projection(ws, dataset_id, user_id, task, items, feats, fr_id, proj, emb, client, settings,
                            extractor.name, progress)


def _from_projection(ws: Workspace, dataset_id: str, user_id: str, task: Task, items: list[Item],
                     feats: dict[str, list[Feature]], fr_id: str, proj: Projection, emb: Any, client: Any | None,
                     settings: PipelineSettings, extractor_kind: str, progress: StageProgress | None) -> Profile:
    def step(stage: str, done: int, total: int = 1) -> None:
        if progress:
            progress(stage, done, total)

    all_feats = [f for it in items for f in feats.get(it.id, [])]
    by_id = {f.id: f for f in all_feats}
    step("clustering", 0)
    clusterer = HDBSCANClusterer(settings.hdbscan_min_cluster_size, settings.hdbscan_min_samples)
    cl_id, labels = run_clustering(ws, proj.run_id, proj.feature_ids, proj.coordsnd, clusterer,
                                   dataset_id=dataset_id, user_id=user_id)
    step("clustering", 1)
    step("factors", 0)
    vectors = _vectors(all_feats, emb, (ws.path, fr_id, emb.name))
    fac_id, base, assign = run_factors(ws, cl_id, all_feats, labels, items, task, namer=make_namer(settings, client),
                                       vectors=vectors, dataset_id=dataset_id, user_id=user_id,
                                       split_min_size=settings.hdbscan_min_cluster_size if settings.split_directions
                                       else None,
                                       reducer=FactorReducer(settings.n_factors, settings.max_unclustered)
                                       if settings.n_factors else None)
    factors, assignments, log = _curate(ws, dataset_id, user_id, base, assign, by_id, items, task, vectors)
    step("factors", 1)
    step("summary", 0)
    # The summary and the paths both read only the factors: the summary's one call runs beside the paths'
    # calls (started once they are under way), so the endpoint never waits on it alone.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="summary") as beside:
        summary: list[Any] = []

        def start_summary() -> None:
            if not summary:
                summary.append(beside.submit(run_summary, ws, fac_id, factors, items, task,
                                             make_summarizer(settings, client), dataset_id=dataset_id,
                                             user_id=user_id))

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

        writer = make_path_writer(settings, client)
        pa_id, paths = run_paths(ws, fac_id, items, feats, factors, assignments, task, writer, dataset_id=dataset_id,
                                 user_id=user_id, progress=path_progress)
        sm_id, text, version = finish_summary()
    text, version = _latest_summary(ws, dataset_id, user_id, (text, version))
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
              embedder: Any, client: Any | None = None, n_factors: int | None = None) -> Profile:
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
    return _from_projection(ws, profile.dataset_id, profile.user_id, profile.task, profile.items, profile.features,
                            profile.run_ids["features"], proj, _cached(embedder, ws), client, settings,
                            profile.settings.get("extractor_kind", "lexicon"), None)


# -- loading and curation --------------------------------------------------------------------------------
def load_profile(ws: Workspace, dataset_id: str, user_id: str) -> Profile | None:
    """Reopen the newest built profile of a user with the current edits and newest summary version.

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
    return _rederive(ws, prof)


def _rederive(ws: Workspace, profile: Profile) -> Profile:
    """Replay the current edits over the profile's stored factors; refresh stats, paths and summary."""
    base, assign = load_factors(ws, profile.run_ids["factors"])
    all_feats = profile.all_features()
    by_id = {f.id: f for f in all_feats}
    vectors = stored_vectors(ws, profile.settings.get("embedder_name", ""), all_feats)
    factors, assignments, log = _curate(ws, profile.dataset_id, profile.user_id, base, assign, by_id, profile.items,
                                        profile.task, vectors)
    pa_id, paths = _paths_for(ws, profile.run_ids.get("paths"), profile.items, profile.features, factors, assignments,
                              profile.task, profile.settings.get("paths_kind", "template"),
                              dataset_id=profile.dataset_id, user_id=profile.user_id,
                              factors_run_id=profile.run_ids["factors"])
    text, version = _latest_summary(ws, profile.dataset_id, profile.user_id, (profile.summary, profile.summary_version))
    run_ids = dict(profile.run_ids)
    if pa_id:
        run_ids["paths"] = pa_id
    return replace(profile, factors=factors, assignments=assignments, paths=paths, summary=text,
                   summary_version=version, run_ids=run_ids, edit_log=log)


def _ref(profile: Profile, value: Any) -> Any:
    """Turn a factor id (or a ref) into a rebuild-proof reference."""
    if isinstance(value, dict):
        return value
    if value is None:
        return None
    try:
        return factor_ref(profile.factor(str(value)))
    except KeyError as exc:
        raise InputError(Problem("edit", None, "factor", f"no factor {value!r}")) from exc


def normalise_edit(ws: Workspace, profile: Profile, op: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Validate an edit and turn factor ids into references (and automatic splits into explicit ones).

    Raises:
        InputError: Unknown operation, factor or missing field.
    """
    if op not in OPS:
        raise InputError(Problem("edit", None, "op", f"unknown curation operation {op!r}; use one of {', '.join(OPS)}"))
    p = dict(payload)
    if "factor" in p:
        p["factor"] = _ref(profile, p["factor"])
    if op == "merge":
        p["factors"] = [_ref(profile, f) for f in p.get("factors") or []]
        if len(p["factors"]) < 2:
            raise InputError(Problem("edit", None, "factors", "merge needs at least two factors"))
    if op == "move":
        p["target"] = _ref(profile, p.get("target"))
        if not p.get("feature_ids"):
            raise InputError(Problem("edit", None, "feature_ids", "move needs feature ids"))
    if op in ("rename", "describe", "split", "delete", "pin") and "factor" not in p:
        raise InputError(Problem("edit", None, "factor", f"{op} needs a factor"))
    if op == "split" and not p.get("feature_ids"):
        members = p["factor"].get("members") or []
        feats = [profile.feature(fid) for fid in members]
        vectors = stored_vectors(ws, profile.settings.get("embedder_name", ""), feats)
        try:
            p["feature_ids"] = kmeans_split(members, vectors, seed=int(profile.settings.get("seed", 42)))
        except ValueError as exc:
            raise InputError(Problem("edit", None, "factor", str(exc))) from exc
        p["method"] = "kmeans"
    return p


def apply_edit(ws: Workspace, profile: Profile, op: str, payload: dict[str, Any]) -> Profile:
    """Record one curation edit and return the re-derived profile.

    Factor fields (``factor``, ``factors``, ``target``) may be given as factor ids; they are stored as
    rebuild-proof references (see :mod:`core.stages.curation`). A ``split`` without ``feature_ids``
    is computed with KMeans on the factor's embeddings and stored explicitly.
    """
    p = normalise_edit(ws, profile, op, payload)
    ws.add_edit(profile.dataset_id, profile.user_id, op, p)
    return _rederive(ws, profile)


def undo_edit(ws: Workspace, profile: Profile, edit_id: int) -> Profile:
    """Mark an edit undone (it stays in the audit list) and return the re-derived profile."""
    ws.set_edit_undone(edit_id, True)
    return _rederive(ws, profile)


def redo_edit(ws: Workspace, profile: Profile, edit_id: int) -> Profile:
    """Re-activate an undone edit and return the re-derived profile."""
    ws.set_edit_undone(edit_id, False)
    return _rederive(ws, profile)


def reapply_edit(ws: Workspace, profile: Profile, edit_id: int) -> Profile:
    """Re-apply an edit a rebuild could not replay to the features it was anchored to, then re-derive.

    Records :func:`core.stages.curation.reapply_actions` as new edits and marks the original undone
    (it stays in the audit list).

    Raises:
        InputError: No such active edit, or none of its features exists any more (drop it instead).
    """
    edit = next((e for e in ws.list_edits(profile.dataset_id, profile.user_id) if e["id"] == edit_id), None)
    if edit is None:
        raise InputError(Problem("edit", None, "id", f"no active edit #{edit_id}"))
    actions = reapply_actions(edit, {f.id for f in profile.all_features()})
    if not actions:
        raise InputError(Problem("edit", None, "id", f"edit #{edit_id} acted on features that no longer exist; "
                                                     "drop it"))
    for op, payload in actions:
        ws.add_edit(profile.dataset_id, profile.user_id, op, normalise_edit(ws, profile, op, payload))
    ws.set_edit_undone(edit_id, True)
    return _rederive(ws, profile)


def regenerate_summary(ws: Workspace, profile: Profile, *, client: Any | None = None) -> Profile:
    """Write a new summary version from the current (curated) factors."""
    settings = PipelineSettings.from_dict(profile.settings)
    sm_id, text, version = run_summary(ws, profile.run_ids["factors"], profile.factors, profile.items, profile.task,
                                       make_summarizer(settings, client), dataset_id=profile.dataset_id,
                                       user_id=profile.user_id)
    latest = ws.latest_summary(profile.dataset_id, profile.user_id)
    if latest and latest["version"] != version:  # reused an older generated run: make it the newest again
        version = ws.add_summary_version(profile.dataset_id, profile.user_id, text, source="generated", run_id=sm_id,
                                         note="regenerated")
    return replace(profile, summary=text, summary_version=version, run_ids={**profile.run_ids, "summary": sm_id})


def profile_to_json(profile: Profile) -> dict[str, Any]:
    """Export a profile: task, settings, factors, summary, paths and features (with factor and 2-D position)."""
    feats = []
    for f in profile.all_features():
        xy = profile.coords2d.get(f.id)
        feats.append({**f.to_dict(), "factor_id": profile.assignments.get(f.id),
                      "x": xy[0] if xy else None, "y": xy[1] if xy else None})
    factors = []
    for fa in profile.factors:
        d = fa.to_dict()
        d.pop("centroid", None)
        factors.append(d)
    return {"dataset_id": profile.dataset_id, "user_id": profile.user_id, "task": profile.task.to_dict(),
            "settings": dict(profile.settings), "run_ids": dict(profile.run_ids),
            "summary": {"text": profile.summary, "version": profile.summary_version},
            "factors": factors, "paths": {k: v.to_dict() for k, v in profile.paths.items()}, "features": feats,
            "edits": list(profile.edit_log)}
