"""Baselines that need no language model, reported beside every method.

* ``majority``: the most frequent output over *all* users' histories (score and label tasks).
* ``user-mean``: the mean of the user's past scores (score tasks).
* ``user-majority``: the user's most frequent past label (label tasks).
* ``copy-input``: the query's own text, unchanged (text tasks). For a paraphrase in the user's
  style (LaMP-7) the given text already shares most of its words with the user's original, so a
  rewrite earns its place only by beating it; for other text tasks it is the floor.
* ``knn-bm25`` / ``knn-feature``: retrieval-kNN: the top-k history items retrieved for the query
  by BM25 over raw text, or by feature-level retrieval (:mod:`core.stages.retrieval`), vote:
  the similarity-weighted mean of their scores, the similarity-weighted majority of their labels,
  or (text tasks) the output of the single best item. No model reads the query: with the
  deterministic feature extractor, ``knn-feature`` against ``knn-bm25`` measures whether
  feature-level retrieval finds *reasoning-aligned* examples, independently of the LLM.

Weights are the retrievers' scores clipped at 0; when all are 0 (nothing matched) the items count
equally; when nothing is retrieved the prediction falls back to the user's mean / majority.
Ties in a vote go to the label with more retrieved items, then to the user's more frequent label,
then to the first seen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from core.data.model import Item, Task
from core.stages.types import RetrievedDoc

BASELINE_NAMES: dict[str, tuple[str, ...]] = {
    "score": ("majority", "user-mean", "knn-bm25", "knn-feature"),
    "label": ("majority", "user-majority", "knn-bm25", "knn-feature"),
    "text": ("copy-input", "knn-bm25", "knn-feature"),
}
BASELINE_DESCRIPTIONS = {
    "majority": "Most frequent output over all users' histories.",
    "user-mean": "Mean of the user's past scores.",
    "user-majority": "The user's most frequent past label.",
    "knn-bm25": "Similarity-weighted mean score / majority label of the top-k items retrieved by BM25.",
    "knn-feature": "Similarity-weighted mean score / majority label of the top-k items retrieved by features.",
    "copy-input": "The query's own text, unchanged (text tasks): the bar a rewrite or paraphrase has to clear.",
}


class Retriever(Protocol):
    """Anything that returns the top-k history items for a query text."""

    def retrieve(self, query: str, k: int) -> list[RetrievedDoc]:
        """Return up to ``k`` documents, best first."""
        ...


def format_score(x: float) -> str:
    """Render a score as text: integers without a decimal point, others with up to 4 decimals.

    Examples:
        >>> format_score(4.0), format_score(3.6666666)
        ('4', '3.6667')
    """
    return str(int(round(x))) if abs(x - round(x)) < 1e-9 else f"{x:.4f}".rstrip("0").rstrip(".")


def normalise_output(output: str, task: Task) -> str:
    """Return an output in a canonical form: ``"5.0"`` -> ``"5"`` for scores, stripped otherwise."""
    text = str(output).strip()
    if task.kind == "score":
        value = task.parse_score(text)
        if value is not None:
            return format_score(value)
    return text


def majority(outputs: Iterable[str]) -> str | None:
    """Return the most frequent output (ties: the first seen), or None when there are none."""
    counts = Counter(o for o in outputs if o != "")
    return counts.most_common(1)[0][0] if counts else None


def global_majority(histories: Iterable[Sequence[Item]], task: Task) -> str | None:
    """Return the most frequent (normalised) output over all histories."""
    return majority(normalise_output(it.output, task) for items in histories for it in items)


def user_mean(items: Sequence[Item], task: Task) -> str | None:
    """Return the mean of the user's valid past scores as text, or None when there are none."""
    values = [v for v in (task.parse_score(it.output) for it in items) if v is not None]
    return format_score(sum(values) / len(values)) if values else None


def user_majority(items: Sequence[Item], task: Task) -> str | None:
    """Return the user's most frequent past output (normalised), or None."""
    return majority(normalise_output(it.output, task) for it in items)


def _weights(docs: Sequence[RetrievedDoc]) -> list[float]:
    w = [max(0.0, float(d.score)) for d in docs]
    return w if sum(w) > 0 else [1.0] * len(docs)


def knn_score(docs: Sequence[RetrievedDoc], task: Task) -> str | None:
    """Similarity-weighted mean of the retrieved items' scores, or None when none has a valid score."""
    pairs = [(d, task.parse_score(d.output)) for d in docs]
    pairs = [(d, v) for d, v in pairs if v is not None]
    if not pairs:
        return None
    w = _weights([d for d, _ in pairs])
    return format_score(sum(wi * v for wi, (_, v) in zip(w, pairs, strict=True)) / sum(w))


def knn_label(docs: Sequence[RetrievedDoc], task: Task, user_counts: Counter[str] | None = None) -> str | None:
    """Similarity-weighted majority label of the retrieved items, or None when nothing was retrieved."""
    labeled = [(d, normalise_output(d.output, task)) for d in docs]
    labeled = [(d, lab) for d, lab in labeled if lab]
    if not labeled:
        return None
    w = _weights([d for d, _ in labeled])
    votes: dict[str, float] = {}
    counts: Counter[str] = Counter()
    for wi, (_, lab) in zip(w, labeled, strict=True):
        votes[lab] = votes.get(lab, 0.0) + wi
        counts[lab] += 1
    user_counts = user_counts or Counter()
    order = {lab: n for n, lab in enumerate(votes)}
    return max(votes, key=lambda lab: (round(votes[lab], 9), counts[lab], user_counts[lab], -order[lab]))


def knn_text(docs: Sequence[RetrievedDoc]) -> str | None:
    """Return the output of the best retrieved item (text tasks), or None."""
    return str(docs[0].output).strip() if docs else None


class UserBaselines:
    """All baselines for one user: fit on the user's history, then :meth:`predict` per query.

    Args:
        task: The task (for this user's queries).
        items: The user's history.
        majority_output: The global majority output (see :func:`global_majority`).
        retrievers: ``{"bm25": retriever, "feature": retriever}``; a missing one skips its kNN baseline.
        k: How many items the kNN baselines retrieve.
    """

    def __init__(self, task: Task, items: Sequence[Item], majority_output: str | None,
                 retrievers: dict[str, Retriever], k: int = 4) -> None:
        """Fit the history statistics."""
        self.task = task
        self.k = k
        self.retrievers = retrievers
        self.majority_output = majority_output
        self.user_counts: Counter[str] = Counter(normalise_output(it.output, task) for it in items)
        self.mean = user_mean(items, task) if task.kind == "score" else None
        self.mode = user_majority(items, task)

    @property
    def fallback(self) -> str:
        """What a kNN baseline predicts when retrieval gives nothing usable."""
        return (self.mean if self.task.kind == "score" else self.mode) or self.majority_output or ""

    def predict(self, query: str) -> dict[str, Any]:
        """Return ``{baseline name: {"prediction": text, "docs": [item ids]}}`` for one query."""
        out: dict[str, Any] = {}
        for name in BASELINE_NAMES[self.task.kind]:
            docs: list[RetrievedDoc] = []
            if name == "majority":
                pred = self.majority_output
            elif name == "user-mean":
                pred = self.mean
            elif name == "user-majority":
                pred = self.mode
            elif name == "copy-input":
                pred = query.strip()
            else:
                retriever = self.retrievers.get(name.removeprefix("knn-"))
                if retriever is None:
                    continue
                docs = list(retriever.retrieve(query, self.k)) if self.k > 0 else []
                if self.task.kind == "score":
                    pred = knn_score(docs, self.task)
                elif self.task.kind == "label":
                    pred = knn_label(docs, self.task, self.user_counts)
                else:
                    pred = knn_text(docs)
                pred = pred if pred is not None else self.fallback
            out[name] = {"prediction": pred if pred is not None else "", "docs": [d.id for d in docs]}
        return out
