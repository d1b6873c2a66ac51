"""Records and interfaces shared by the pipeline stages, the methods, the workspace and the pages.

* Records: features, factors with statistics, reasoning paths, retrieved documents, projection
  parameters. All are plain dataclasses with ``to_dict`` / ``from_dict`` where they are stored as
  workspace artifacts and exported as JSON.
* Progress callbacks of the stages and of a whole build.
* The swappable stage objects' protocols (:class:`Projector`, :class:`Clusterer`, :class:`Namer`),
  the way BERTopic takes any reducer or clusterer with the right methods.

This module imports nothing from the project: everything above it may use it, so a type shared by
two stages (or by a stage and a method) lives here instead of in one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

NOISE_ID = "noise"  # the explicit "Unclustered" group's factor id

FeatureProgress = Callable[[int, int], None]
"""``progress(done, total)`` over the items of the features stage."""

PathProgress = Callable[[int, int], None]
"""``progress(done, total)`` over the items of the paths stage."""

StageProgress = Callable[[str, int, int], None]
"""``progress(stage, done, total)`` over a whole build."""


@dataclass
class Feature:
    """A response-influential feature of one history item (or of a query).

    Attributes:
        id: Unique within the user, ``"<item_id>#<k>"``.
        item_id: The item (or query) it was extracted from.
        phrase: Short feature phrase, e.g. "battery died after a week".
        aspect: The aspect it belongs to, e.g. "durability".
        direction: ``"raised"``, ``"lowered"`` or ``"neutral"`` for scores; the label it pointed to
            for label tasks; ``"neutral"`` for text tasks.
        strength: 0..1, how strongly it drove the response.
        evidence: A span quoted from the item's input.
        extracted_direction: The extractor's direction when it disagreed with the item's response
            relative to the user's usual one (see :mod:`core.stages.directions`), else empty.
    """

    id: str
    item_id: str
    phrase: str
    aspect: str
    direction: str
    strength: float
    evidence: str
    extracted_direction: str = ""

    @property
    def text(self) -> str:
        """The text embedded for clustering and retrieval."""
        return f"{self.aspect}: {self.phrase}"

    @property
    def sign(self) -> float:
        """+1 for raised, -1 for lowered, 0 otherwise."""
        return {"raised": 1.0, "lowered": -1.0}.get(self.direction, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Feature:
        """Build from :meth:`to_dict` output."""
        return cls(**{k: d[k] for k in ("id", "item_id", "phrase", "aspect", "direction", "strength", "evidence")},
                   extracted_direction=str(d.get("extracted_direction") or ""))


@dataclass
class FactorStats:
    """Statistics of a factor, computed from the data (never asked of a model).

    Attributes:
        n_features: Features in the factor.
        n_items: Distinct items touching the factor.
        coverage: Share of the user's items that touch it.
        influence: Score tasks: mean score of items with the factor minus mean of items without.
        ci_low: Lower bound of a 95% confidence interval of ``influence``.
        ci_high: Upper bound of that interval.
        mean_with: Mean score of items with the factor.
        mean_without: Mean score of items without it.
        lift: Label tasks: P(label | factor) / P(label) per label.
        mutual_info: Label tasks: mutual information (nats) between factor presence and label.
        top_label: Label tasks: the label with the highest lift.
        polarity: Mean feature direction in [-1, 1] (raised = +1, lowered = -1).
        consistency: Share of directed features that agree with the majority direction.
    """

    n_features: int = 0
    n_items: int = 0
    coverage: float = 0.0
    influence: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    mean_with: float | None = None
    mean_without: float | None = None
    lift: dict[str, float] = field(default_factory=dict)
    mutual_info: float | None = None
    top_label: str | None = None
    polarity: float = 0.0
    consistency: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FactorStats:
        """Build from :meth:`to_dict` output."""
        return cls(**d)


@dataclass
class Factor:
    """A cluster of a user's features: a reason this user responds the way they do.

    Attributes:
        id: ``"F<n>"``, or :data:`NOISE_ID` for the Unclustered group.
        name: Short name (LLM-written, c-TF-IDF keywords offline, or curated).
        description: One line.
        feature_ids: Member features.
        keywords: Distinctive terms (c-TF-IDF).
        stats: Statistics computed from the data.
        pinned: Kept by the analyst across rebuilds and always shown to methods.
        centroid: Mean unit embedding of its features (for retrieval weighting), may be empty.
        subfactors: The finer level this factor was merged from (see :mod:`core.stages.reduce`): one
            ``{"id", "name", "keywords", "feature_ids", "joined"}`` per fine cluster, ``joined`` True
            for the Unclustered features that joined it as nearest; empty when it has no finer level.
    """

    id: str
    name: str
    description: str = ""
    feature_ids: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    stats: FactorStats = field(default_factory=FactorStats)
    pinned: bool = False
    centroid: list[float] = field(default_factory=list)
    subfactors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_noise(self) -> bool:
        """True for the Unclustered group."""
        return self.id == NOISE_ID

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = asdict(self)
        d["stats"] = self.stats.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Factor:
        """Build from :meth:`to_dict` output."""
        d = dict(d)
        d["stats"] = FactorStats.from_dict(d.get("stats") or {})
        return cls(**d)


@dataclass
class ReasoningPath:
    """A short path from an item's features through the user's factors to the known response.

    Attributes:
        item_id: The history item.
        steps: Ordered hops, each ``{"feature": phrase, "factor_id": id, "factor": name, "influence": x}``.
        response: The known response.
        text: The rendered path, e.g. "battery died -> Durability (influence -1.4) -> rated 2".
        consistent: Whether the path's direction agrees with the factor statistics and the response.
    """

    item_id: str
    steps: list[dict[str, Any]]
    response: str
    text: str
    consistent: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReasoningPath:
        """Build from :meth:`to_dict` output."""
        return cls(**d)


@dataclass
class RetrievedDoc:
    """A history item retrieved for a query.

    Attributes:
        id: Item id.
        text: Item input (possibly truncated for display).
        output: The user's known response to it.
        score: Retrieval score (higher is closer).
        matched: Matched feature pairs ``{"query": phrase, "item": phrase, "similarity": s, "factor": name}``
            (feature-level retrieval); empty for raw-text retrieval.
        path: The item's reasoning path text, when used.
    """

    id: str
    text: str
    output: str
    score: float
    matched: list[dict[str, Any]] = field(default_factory=list)
    path: str | None = None


@dataclass(frozen=True)
class ProjectionParams:
    """Parameters of the projections.

    Attributes:
        n_neighbors: UMAP neighbourhood size (clamped to ``n - 1``).
        n_components: Dimensions of the clustering projection.
        min_dist: UMAP ``min_dist`` of the clustering projection (0 packs clusters tightly).
        display_min_dist: UMAP ``min_dist`` of the 2-D display projection.
        seed: Random seed (makes UMAP deterministic).
        metric: Distance on the embeddings.
    """

    n_neighbors: int = 15
    n_components: int = 5
    min_dist: float = 0.0
    display_min_dist: float = 0.1
    seed: int = 42
    metric: str = "cosine"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


@runtime_checkable
class Projector(Protocol):
    """Projects embeddings for display (2-D) and for clustering (n-D); see :mod:`core.stages.project`.

    ``name`` identifies the projector in the projection run's parameters.
    """

    name: str

    def project(self, x: np.ndarray, params: ProjectionParams) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(coords2d, coordsnd)`` for the rows of ``x``."""
        ...


@runtime_checkable
class Clusterer(Protocol):
    """Clusters the n-D projection; see :mod:`core.stages.cluster`.

    A clusterer may also have ``identity() -> dict`` (what identifies its output, for run reuse);
    without one its class and public attributes are used.
    """

    def fit_predict(self, x: np.ndarray) -> np.ndarray:
        """Return one label per row (``-1`` = noise)."""
        ...


@runtime_checkable
class Namer(Protocol):
    """Names and describes factors; see :mod:`core.stages.naming`."""

    def identity(self) -> dict[str, Any]:
        """Return what identifies this namer's output."""
        ...

    def name_factors(self, factors: list[Factor], features: dict[str, Feature],
                     vectors: dict[str, np.ndarray] | None = None, *, run_id: str | None = None) -> list[Factor]:
        """Fill in the factors' keywords, names and descriptions (model calls filed under ``run_id``)."""
        ...
