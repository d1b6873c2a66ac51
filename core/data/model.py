"""The history data model: datasets of users, their ordered history items, queries and task kinds.

Everything downstream (stages, methods, evaluation, pages) speaks these types. Outputs are kept as
strings exactly as the user gave them; :class:`Task` says how to read them (a score in a numeric
range, a label from a closed set, or free text).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TaskKind = Literal["score", "label", "text"]


@dataclass(frozen=True)
class Task:
    """What a dataset's outputs are and how to ask a model for one.

    Attributes:
        kind: ``"score"`` (numeric range), ``"label"`` (closed set) or ``"text"`` (free text).
        name: A short task name, e.g. ``"LaMP_3"`` or ``"product_rating"``.
        instruction: The question put to a model for a new input, e.g. "What is the score of the
            following review on a scale of 1 to 5?".
        score_min: Lowest valid score (score tasks).
        score_max: Highest valid score (score tasks).
        labels: The closed label set (label tasks); empty means "any label seen in the data".
    """

    kind: TaskKind
    name: str = "task"
    instruction: str = ""
    score_min: float = 1.0
    score_max: float = 5.0
    labels: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = asdict(self)
        d["labels"] = list(self.labels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Task:
        """Build a task from :meth:`to_dict` output."""
        return cls(
            kind=d["kind"],
            name=d.get("name", "task"),
            instruction=d.get("instruction", ""),
            score_min=float(d.get("score_min", 1.0)),
            score_max=float(d.get("score_max", 5.0)),
            labels=tuple(d.get("labels") or ()),
        )

    def parse_score(self, value: str | float | int) -> float | None:
        """Read a score output; return None when it is not a finite number in range."""
        try:
            x = float(str(value).strip())
        except (TypeError, ValueError):
            return None
        if not math.isfinite(x) or x < self.score_min or x > self.score_max:
            return None
        return x


@dataclass
class Item:
    """One past interaction of a user.

    Attributes:
        id: Unique within the user.
        input: The text the user saw or wrote (a review, a movie description, an article).
        output: The user's response: a score (as text), a label, or free text.
        timestamp: Optional ISO-8601 time or any sortable string.
        meta: Free metadata (product, category, source row...).
    """

    id: str
    input: str
    output: str
    timestamp: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"id": self.id, "input": self.input, "output": self.output, "timestamp": self.timestamp,
                "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Item:
        """Build an item from :meth:`to_dict` output."""
        return cls(id=str(d["id"]), input=d["input"], output=str(d["output"]), timestamp=d.get("timestamp"),
                   meta=dict(d.get("meta") or {}))


@dataclass
class User:
    """A user and their history, oldest item first."""

    id: str
    items: list[Item] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"id": self.id, "items": [i.to_dict() for i in self.items]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> User:
        """Build a user from :meth:`to_dict` output."""
        return cls(id=str(d["id"]), items=[Item.from_dict(i) for i in d.get("items", [])])


@dataclass
class Query:
    """A new input to answer for a user, with the true response when it is known (evaluation)."""

    id: str
    user_id: str
    input: str
    gold: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"id": self.id, "user_id": self.user_id, "input": self.input, "gold": self.gold,
                "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Query:
        """Build a query from :meth:`to_dict` output."""
        return cls(id=str(d["id"]), user_id=str(d["user_id"]), input=d["input"], gold=d.get("gold"),
                   meta=dict(d.get("meta") or {}))


@dataclass
class Dataset:
    """Users with histories for one task, plus optional queries (e.g. LaMP questions).

    In the LaMP format every question carries its own profile; such a question becomes a
    :class:`Query` whose ``user_id`` names a :class:`User` holding that profile.
    """

    name: str
    task: Task
    users: list[User] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)

    def user(self, user_id: str) -> User:
        """Return the user with this id.

        Raises:
            KeyError: No such user.
        """
        for u in self.users:
            if u.id == user_id:
                return u
        raise KeyError(f"no user {user_id!r} in dataset {self.name!r}")

    @property
    def n_items(self) -> int:
        """Total history items over all users."""
        return sum(len(u.items) for u in self.users)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"name": self.name, "task": self.task.to_dict(), "users": [u.to_dict() for u in self.users],
                "queries": [q.to_dict() for q in self.queries]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Dataset:
        """Build a dataset from :meth:`to_dict` output."""
        return cls(name=d["name"], task=Task.from_dict(d["task"]), users=[User.from_dict(u) for u in d["users"]],
                   queries=[Query.from_dict(q) for q in d.get("queries", [])])


def split_last(dataset: Dataset, fraction: float = 0.2, min_history: int = 1) -> tuple[Dataset, list[Query]]:
    """Time split: the last ``fraction`` of each user's items become queries, earlier items history.

    Args:
        dataset: The dataset; each user's items are taken to be in chronological order.
        fraction: Share of each user's items held out (at least one when the user has two or more).
        min_history: Items always kept as history.

    Returns:
        The history-only dataset and the held-out queries (gold = the item's output).
    """
    users: list[User] = []
    queries: list[Query] = []
    for u in dataset.users:
        n = len(u.items)
        k = max(1, int(round(n * fraction))) if n > min_history else 0
        k = min(k, max(0, n - min_history))
        users.append(User(id=u.id, items=list(u.items[: n - k])))
        for it in u.items[n - k:]:
            queries.append(Query(id=it.id, user_id=u.id, input=it.input, gold=it.output, meta=dict(it.meta)))
    return Dataset(name=dataset.name, task=dataset.task, users=users, queries=list(dataset.queries)), queries
