"""A user's built profile and the settings of its build: the model methods, pages and the CLI read.

:class:`Profile` is what :func:`core.stages.pipeline.build_profile` returns and
:func:`core.stages.pipeline.load_profile` reopens; :mod:`core.stages.edits` re-derives it after each
curation edit. :func:`profile_to_json` is its export.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from core.data.model import Item, Task
from core.stages.reduce import DEFAULT_MAX_UNCLUSTERED, DEFAULT_N_FACTORS
from core.stages.types import Factor, Feature, ProjectionParams, ReasoningPath


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
