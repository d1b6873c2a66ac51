"""Records produced by the pipeline stages: features, factors with statistics, reasoning paths, profiles.

These are the contract between stages, methods, the workspace and the pages. All are plain
dataclasses with ``to_dict`` / ``from_dict`` so they can be stored as workspace artifacts and
exported as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NOISE_ID = "noise"  # the explicit "Unclustered" group's factor id


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
