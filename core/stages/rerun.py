"""Re-run one stage of a stored run with the same parameters and parents (``python -m core stage``).

A stage run stores what identifies its inputs and its implementation: its parents (the runs whose
outputs it read) and its parameters (the extractor / embedder / clusterer / namer / summarizer /
writer identity). :func:`rerun_stage` rebuilds the stage object from that identity, reloads the
parents' outputs and runs the stage again as a new run, never reusing a stored one.

Model-backed implementations need a client for the stored backend and model, and the projection
an embedder by its stored name: the caller passes factories for both, so this module stays free
of backend settings. A rebuilt object whose identity differs from the stored one (another model,
an embedder that fell back to hashing) is an error, not a silent substitute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.data.model import Item, Task
from core.embed.cached import CachedEmbedder
from core.errors import InputError, Problem
from core.stages.cluster import HDBSCANClusterer, clusterer_identity, run_clustering
from core.stages.curation import apply_edits
from core.stages.factors import load_factors, order_factors, run_factors, set_centroids
from core.stages.features import LLMFeatureExtractor, load_features, run_features, task_with_labels
from core.stages.lexicon import LexiconFeatureExtractor
from core.stages.naming import KeywordNamer, LLMNamer
from core.stages.paths import LLMPathWriter, TemplatePathWriter, run_paths
from core.stages.project import ProjectionParams, UMAPProjector, load_projection, projection_params, run_projection
from core.stages.reduce import FactorReducer
from core.stages.stats import with_stats
from core.stages.summary import LLMSummarizer, TemplateSummarizer, run_summary
from core.stages.types import Factor, Feature
from core.store.workspace import Workspace

RERUN_STAGES = ("features", "projection", "clustering", "factors", "summary", "paths")
"""The stages ``python -m core stage`` can re-run."""

ClientFor = Callable[[str, str], Any]
"""``client_for(backend, model)``: an LLM client for a stored model identity."""
EmbedderFor = Callable[[str], Any]
"""``embedder_for(name)``: an embedder whose ``name`` is the stored one."""


@dataclass
class Rerun:
    """A finished re-run.

    Attributes:
        stage: The stage.
        source: The run it repeated.
        run_id: The new run's id.
        label: The new run's readable label.
        status: The new run's status (``done`` or ``partial``).
        changed: Parameters whose value differs from the source run's: data digests (``data``,
            ``factors``) move when the user's items or curation edits changed since.
    """

    stage: str
    source: dict[str, Any]
    run_id: str
    label: str
    status: str
    changed: list[str]


def rerun_stage(ws: Workspace, stage: str, ref: str, *, client_for: ClientFor, embedder_for: EmbedderFor,
                dataset_id: str | None = None, user_id: str | None = None) -> Rerun:
    """Run one stage again with the parameters and parents of the run ``ref`` (an id or a label).

    Args:
        ws: The workspace.
        stage: One of :data:`RERUN_STAGES`; must be the stage of the named run.
        ref: Run id or readable label (``factors-002``).
        client_for: Makes the LLM client of a stored ``(backend, model)``.
        embedder_for: Makes the embedder of a stored embedder name.
        dataset_id: Narrows a label shared by several datasets.
        user_id: Narrows a label shared by several users.

    Returns:
        The new run.

    Raises:
        InputError: Unknown stage or run, a stage mismatch, a parent run that is gone, or an
            implementation this installation cannot rebuild as it was (field named).
        core.errors.BackendError: The model backend failed (the new run is then ``failed``).
    """
    if stage not in RERUN_STAGES:
        raise InputError(Problem("arguments", None, "stage",
                                 f"unknown stage {stage!r}; one of {', '.join(RERUN_STAGES)}"))
    try:
        run = ws.resolve_run(ref, dataset_id=dataset_id, user_id=user_id)
    except KeyError as exc:
        raise InputError(Problem(ws.path, None, "run", str(exc.args[0]))) from exc
    if run.stage != stage:
        raise InputError(Problem(ws.path, None, "run", f"run {run.label} ({run.id}) is a {run.stage} run, "
                                                       f"not a {stage} run: use `stage {run.stage}`"))
    if stage != "features" and not run.parents:
        raise InputError(Problem(ws.path, None, "run", f"run {run.label} records no parent run to read from"))
    did, uid = run.dataset_id, run.user_id
    if did is None or uid is None or not ws.has_dataset(did):
        raise InputError(Problem(ws.path, None, "dataset", f"run {run.label}'s dataset {did!r} is not stored"))
    rerun = _RERUNS[stage]
    new_id = rerun(_Inputs(ws, run, did, uid, client_for, embedder_for))
    new = ws.get_run(new_id)
    changed = sorted(k for k in set(run.params) | set(new.params) if run.params.get(k) != new.params.get(k))
    return Rerun(stage=stage, source=run, run_id=new_id, label=new.label, status=new.status, changed=changed)


@dataclass
class _Inputs:
    ws: Workspace
    run: dict[str, Any]
    dataset_id: str
    user_id: str
    client_for: ClientFor
    embedder_for: EmbedderFor

    @property
    def params(self) -> dict[str, Any]:
        return self.run.params

    @property
    def parent(self) -> str:
        return str(self.run.parents[0])

    def task_items(self) -> tuple[Task, list[Item]]:
        items = self.ws.get_items(self.dataset_id, self.user_id)
        return task_with_labels(self.ws.get_dataset(self.dataset_id, user_ids=[]).task, items), items

    def client(self, ident: dict[str, Any], field: str) -> Any:
        backend, model = ident.get("backend"), ident.get("model")
        if not backend or not model:
            raise InputError(Problem(self.ws.path, None, field, f"run {self.run.label} names no model backend"))
        return self.client_for(str(backend), str(model))

    def parent_run(self, run_id: str, stage: str) -> dict[str, Any]:
        try:
            found = self.ws.get_run(run_id)
        except KeyError as exc:
            raise InputError(Problem(self.ws.path, None, "run", f"parent run {run_id} of {self.run.label} is "
                                                                "gone")) from exc
        if found.stage != stage:  # a run's parent is fixed by the pipeline; anything else is a broken file
            raise InputError(Problem(self.ws.path, None, "run", f"parent {run_id} of {self.run.label} is a "
                                                                f"{found.stage} run, not {stage}"))
        return found

    def features(self, features_run_id: str) -> tuple[dict[str, list[Feature]], list[Feature]]:
        """The features of a features run, by item and in the pipeline's order (item by item)."""
        _, items = self.task_items()
        stored = load_features(self.ws, features_run_id)
        by_item = {it.id: stored.get(it.id, []) for it in items}
        return by_item, [f for it in items for f in by_item[it.id]]

    def lineage(self, factors_run: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The clustering, projection and features runs above a factors run."""
        clustering = self.parent_run(factors_run.parents[0], "clustering")
        projection = self.parent_run(clustering.parents[0], "projection")
        features = self.parent_run(projection.parents[0], "features")
        return clustering, projection, features

    def embedder(self, projection_run: dict[str, Any]) -> Any:
        name = str(projection_run.params.get("embedder", ""))
        emb = self.embedder_for(name)
        _same(self, "embedder", name, emb.name)
        return emb if isinstance(emb, CachedEmbedder) else CachedEmbedder(emb, self.ws)

    def curated(self, factors_run_id: str) -> tuple[list[Factor], dict[str, str], dict[str, list[Feature]]]:
        """The factors run's factors with the user's current curation edits, as a build curates them."""
        _, projection, features_run = self.lineage(self.parent_run(factors_run_id, "factors"))
        task, items = self.task_items()
        by_item, feats = self.features(features_run.id)
        by_id = {f.id: f for f in feats}
        base, assign = load_factors(self.ws, factors_run_id)
        edits = self.ws.list_edits(self.dataset_id, self.user_id)
        factors, assignments = apply_edits(base, assign, edits, features=by_id, log=[])
        with_stats(factors, by_id, items, task)
        if edits:
            set_centroids(factors, _vectors(self.embedder(projection), feats))
        return order_factors(factors), assignments, by_item


def _same(inp: _Inputs, what: str, stored: Any, rebuilt: Any) -> None:
    if stored != rebuilt:
        raise InputError(Problem(inp.ws.path, None, what, f"run {inp.run.label} used {what} {stored!r}; this "
                                                          f"installation builds {rebuilt!r}"))


def _vectors(embedder: Any, feats: list[Feature]) -> dict[str, np.ndarray]:
    if not feats:
        return {}
    mat = embedder.embed([f.text for f in feats])
    return {f.id: mat[i] for i, f in enumerate(feats)}


def _features(inp: _Inputs) -> str:
    ident = dict(inp.params.get("extractor") or {})
    if ident.get("kind") == "lexicon":
        extractor: Any = LexiconFeatureExtractor(max_features=int(ident.get("max_features", 5)))
    elif ident.get("kind") == "llm":
        extractor = LLMFeatureExtractor(inp.client(ident, "extractor"), max_features=int(ident["max_features"]),
                                        skip_failures=True)  # as a build: failed items are listed, the run partial
    else:
        raise InputError(Problem(inp.ws.path, None, "extractor", f"cannot rebuild extractor {ident!r}"))
    _same(inp, "extractor", ident, extractor.identity())
    run_id, _ = run_features(inp.ws, inp.dataset_id, inp.user_id, extractor, reuse=False)
    return run_id


def _projection(inp: _Inputs) -> str:
    features_run = inp.parent_run(inp.parent, "features")
    _, feats = inp.features(features_run.id)
    emb = inp.embedder(inp.run)
    known = set(ProjectionParams.__dataclass_fields__)
    params = ProjectionParams(**{k: v for k, v in inp.params.items() if k in known})
    projector = UMAPProjector()
    _same(inp, "projection parameters", inp.params, projection_params(emb, projector, params))
    proj = run_projection(inp.ws, features_run.id, feats, emb, params=params, projector=projector,
                          dataset_id=inp.dataset_id, user_id=inp.user_id, reuse=False)
    return proj.run_id


def _clustering(inp: _Inputs) -> str:
    ident = dict(inp.params)
    if ident.get("kind") != "hdbscan":
        raise InputError(Problem(inp.ws.path, None, "clusterer", f"cannot rebuild clusterer {ident!r}"))
    clusterer = HDBSCANClusterer(int(ident["min_cluster_size"]), ident.get("min_samples"))
    _same(inp, "clusterer", ident, clusterer_identity(clusterer))
    proj = load_projection(inp.ws, inp.parent_run(inp.parent, "projection").id)
    run_id, _ = run_clustering(inp.ws, proj.run_id, proj.feature_ids, proj.coordsnd, clusterer,
                               dataset_id=inp.dataset_id, user_id=inp.user_id, reuse=False)
    return run_id


def _factors(inp: _Inputs) -> str:
    clustering, projection, features_run = inp.lineage(inp.run)
    ident = dict(inp.params.get("namer") or {})
    if ident.get("kind") == "keywords":
        namer: Any = KeywordNamer()
    elif ident.get("kind") == "llm":
        namer = LLMNamer(inp.client(ident, "namer"), n_representatives=int(ident["n"]))
    else:
        raise InputError(Problem(inp.ws.path, None, "namer", f"cannot rebuild namer {ident!r}"))
    _same(inp, "namer", ident, namer.identity())
    reducer = None
    if "reducer" in inp.params:
        r = dict(inp.params["reducer"])
        reducer = FactorReducer(int(r["n_factors"]), float(r["max_unclustered"]), float(r["outlier_similarity"]),
                                float(r["direction_weight"]), float(r["effect_weight"]))
        _same(inp, "reducer", r, reducer.identity())
    task, items = inp.task_items()
    _, feats = inp.features(features_run.id)
    labels = {k: int(v) for k, v in (inp.ws.get_artifact(clustering.id, "labels", {}) or {}).items()}
    split = inp.params.get("split_directions")
    run_id, _, _ = run_factors(inp.ws, clustering.id, feats, labels, items, task, namer=namer,
                               vectors=_vectors(inp.embedder(projection), feats), dataset_id=inp.dataset_id,
                               user_id=inp.user_id, split_min_size=None if split is None else int(split),
                               reducer=reducer, reuse=False)
    return run_id


def _summary(inp: _Inputs) -> str:
    ident = dict(inp.params.get("summarizer") or {})
    if ident.get("kind") == "template":
        summarizer: Any = TemplateSummarizer(max_factors=int(ident["max_factors"]))
    elif ident.get("kind") == "llm":
        summarizer = LLMSummarizer(inp.client(ident, "summarizer"), max_words=int(ident["words"]))
    else:
        raise InputError(Problem(inp.ws.path, None, "summarizer", f"cannot rebuild summarizer {ident!r}"))
    _same(inp, "summarizer", ident, summarizer.identity())
    factors, _, _ = inp.curated(inp.parent)
    task, items = inp.task_items()
    run_id, _, _ = run_summary(inp.ws, inp.parent, factors, items, task, summarizer, dataset_id=inp.dataset_id,
                               user_id=inp.user_id, reuse=False)
    return run_id


def _paths(inp: _Inputs) -> str:
    ident = dict(inp.params.get("writer") or {})
    if ident.get("kind") == "template":
        writer: Any = TemplatePathWriter()
    elif ident.get("kind") == "llm":
        writer = LLMPathWriter(inp.client(ident, "writer"))
    else:
        raise InputError(Problem(inp.ws.path, None, "writer", f"cannot rebuild path writer {ident!r}"))
    _same(inp, "writer", ident, writer.identity())
    factors, assignments, by_item = inp.curated(inp.parent)
    task, items = inp.task_items()
    run_id, _ = run_paths(inp.ws, inp.parent, items, by_item, factors, assignments, task, writer,
                          dataset_id=inp.dataset_id, user_id=inp.user_id, reuse=False)
    return run_id


_RERUNS: dict[str, Callable[[_Inputs], str]] = {"features": _features, "projection": _projection,
                                                 "clustering": _clustering, "factors": _factors,
                                                 "summary": _summary, "paths": _paths}
