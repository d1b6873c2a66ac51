"""Stage 5, retrieval of history items for a new query: by feature sets, or by raw text (BM25).

:class:`FeatureRetriever` extracts the query's features with the same extractor as the history
(the query is a pseudo item with an empty response, so the lexicon extractor takes directions from
sentiment alone), embeds them and scores each history item by how well its *feature set* matches:

    feature(item) = mean over query features q of  max_j cos(q, f_j) * w(f_j)

where ``f_j`` ranges over the item's features and ``w(f) = floor + (1 - floor) * |effect(F)| /
max |effect|`` for the factor F holding f. The default ``floor`` is 1, i.e. no weighting: on the
578 held-out LaMP-3 reviews the influence weighting (``floor=0.3``) made the kNN vote worse than
BM25 (MAE 0.551 vs 0.397), because it ranks an item by how influential its factors are rather than
how close it is to the query, and the most influential factors hold the user's rare extreme
ratings, so the vote leaned towards them; unweighted it is 0.391 (``bench/feature_retrieval.py``).

With ``bm25_weight > 0`` the feature ranking is fused with BM25's ranking of the same items by reciprocal rank
(``score = 1 / (60 + rank_feature) + bm25_weight / (60 + rank_bm25)``, Cormack et al., 2009; an
item BM25 gives no positive score gets no BM25 term):
features find items that share aspects and sentiment, BM25 items that share words (often the same
product); fused, the kNN vote's MAE is 0.365. The default stays the pure feature ranking
(``bm25_weight=0``): it already beats BM25 there, keeps retrieval at the feature level RPM rests
on, and on short histories BM25 ranks by stop words ("the") that every item shares.
Each retrieved item carries the matched pairs ``{query, item, similarity, factor}``, so the UI can
show why it was retrieved.

:class:`BM25Retriever` is LaMP's baseline over raw item text (``rank-bm25``), with the same output.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.data.model import Item
from core.embed.base import Embedder
from core.embed.cached import CachedEmbedder
from core.llm.client import LLMClient
from core.stages.features import FeatureExtractor, choose_extractor, task_with_labels
from core.stages.profile import Profile
from core.stages.stats import effect
from core.stages.text import truncate, words
from core.stages.types import Feature, RetrievedDoc
from core.store.workspace import Workspace

QUERY_ID = "query"
RRF_K = 60  # the reciprocal-rank-fusion constant of Cormack et al. (2009)


@runtime_checkable
class Retriever(Protocol):
    """Returns the history items closest to a query."""

    def retrieve(self, query_text: str, k: int) -> list[RetrievedDoc]:
        """Return up to ``k`` items, best first."""
        ...


class FeatureRetriever:
    """Feature-level retrieval over one user's profile (see the module docstring).

    Args:
        profile: The user's built profile (features, factors with statistics, paths).
        extractor: The feature extractor used for the query (normally the one that built the profile).
        embedder: The embedder that embedded the history features (a cached one avoids re-embedding).
        floor: Weight of a matched feature whose factor has no effect (Unclustered); 1 = no
            influence weighting (the default, see the module docstring).
        bm25_weight: Weight of BM25's ranking in the reciprocal-rank fusion (0 = features only).

    Attributes:
        last_query_features: The query features of the last :meth:`retrieve` call (for traces).
    """

    def __init__(self, profile: Profile, extractor: FeatureExtractor, embedder: Embedder, *, floor: float = 1.0,
                 bm25_weight: float = 0.0) -> None:
        """Index the profile's features (and its raw text, for the fusion with BM25)."""
        self.profile = profile
        self.extractor = extractor
        self.embedder = embedder
        self.floor = floor
        self.bm25_weight = bm25_weight
        self._bm25 = BM25Retriever(profile.items) if bm25_weight > 0 else None
        self.last_query_features: list[Feature] = []
        self._features = profile.all_features()
        self._vectors = embedder.embed([f.text for f in self._features]) if self._features else None
        factor_of = {f.id: profile.assignments.get(f.id) for f in self._features}
        factors = {fa.id: fa for fa in profile.factors}
        effects = np.array([abs(effect(factors[factor_of[f.id]].stats)) if factor_of[f.id] in factors
                            and not factors[factor_of[f.id]].is_noise else 0.0 for f in self._features])
        top = float(effects.max()) if len(effects) and effects.max() > 0 else 1.0
        self._weights = floor + (1.0 - floor) * (effects / top)
        self._factor_names = [factors[factor_of[f.id]].name if factor_of[f.id] in factors else ""
                              for f in self._features]
        self._by_item: dict[str, list[int]] = {}
        for j, f in enumerate(self._features):
            self._by_item.setdefault(f.item_id, []).append(j)

    def extract_query(self, query_text: str) -> list[Feature]:
        """Extract the query's features; a query without any becomes one feature holding its text."""
        pseudo = Item(id=QUERY_ID, input=query_text, output="")
        task = task_with_labels(self.profile.task, self.profile.items)
        feats = self.extractor.extract([pseudo], task).get(QUERY_ID, [])
        if not feats and query_text.strip():
            text = truncate(query_text, 120)
            feats = [Feature(id=f"{QUERY_ID}#0", item_id=QUERY_ID, phrase=text, aspect="query", direction="neutral",
                             strength=0.5, evidence=text)]
        return feats

    def retrieve(self, query_text: str, k: int = 5, *,
                 query_features: list[Feature] | None = None) -> list[RetrievedDoc]:
        """Return up to ``k`` history items by feature-set similarity, best first.

        Args:
            query_text: The new input.
            k: How many items.
            query_features: Already extracted query features (skips extraction).
        """
        qf = query_features if query_features is not None else self.extract_query(query_text)
        self.last_query_features = qf
        if not qf or self._vectors is None or k <= 0:
            return []
        scored = self._feature_scores(qf)
        if self._bm25 is not None:
            scored = self._fuse(scored, query_text)
        out = []
        for score, iid, matched in scored[:k]:
            item = self.profile.item(iid)
            path = self.profile.paths.get(iid)
            out.append(RetrievedDoc(id=iid, text=item.input, output=item.output, score=round(score, 6),
                                    matched=matched, path=path.text if path else None))
        return out

    def _fuse(self, scored: list[tuple[float, str, list[dict[str, Any]]]],
              query_text: str) -> list[tuple[float, str, list[dict[str, Any]]]]:
        """Re-rank every history item by reciprocal-rank fusion of the feature and BM25 rankings."""
        assert self._bm25 is not None
        n = len(self.profile.items)
        feature_rank = {iid: r for r, (_, iid, _) in enumerate(scored)}
        matched = {iid: m for _, iid, m in scored}
        # only items BM25 actually matched get its vote: a word in half the items has IDF 0, and a
        # ranking of zero scores is history order, which would be noise in the fusion
        bm25_rank = {d.id: r for r, d in enumerate(self._bm25.retrieve(query_text, n)) if d.score > 0}
        order = {it.id: i for i, it in enumerate(self.profile.items)}
        fused = [(1.0 / (RRF_K + feature_rank.get(it.id, n)) + self.bm25_weight / (RRF_K + bm25_rank.get(it.id, n)),
                  it.id, matched.get(it.id, [])) for it in self.profile.items]
        fused.sort(key=lambda s: (-s[0], order[s[1]]))
        return fused

    def _feature_scores(self, qf: list[Feature]) -> list[tuple[float, str, list[dict[str, Any]]]]:
        """Every item with features, scored by feature-set similarity, best first."""
        q = self.embedder.embed([f.text for f in qf])
        sims = q @ self._vectors.T  # (m, N)
        weighted = sims * self._weights[None, :]
        scored: list[tuple[float, str, list[dict[str, Any]]]] = []
        for iid, idx in self._by_item.items():
            cols = np.asarray(idx)
            sub = weighted[:, cols]
            best = sub.argmax(axis=1)
            score = float(sub[np.arange(len(qf)), best].mean())
            matched = []
            for qi, b in enumerate(best.tolist()):
                j = int(cols[b])
                matched.append({"query": qf[qi].phrase, "item": self._features[j].phrase,
                                "similarity": round(float(sims[qi, j]), 4), "factor": self._factor_names[j],
                                "factor_id": self.profile.assignments.get(self._features[j].id),
                                "weight": round(float(self._weights[j]), 4), "item_feature_id": self._features[j].id})
            matched.sort(key=lambda m: -m["similarity"])
            scored.append((score, iid, matched))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return scored


def profile_extractor(profile: Profile, client: LLMClient | None) -> FeatureExtractor:
    """Return an extractor of the kind that built the profile (for extracting a query's features)."""
    kind = profile.settings.get("extractor_kind", "lexicon")
    return choose_extractor(client if kind == "llm" else None, kind)


def profile_retriever(profile: Profile, *, client: LLMClient | None, embedder: Embedder,
                      ws: Workspace | None = None) -> FeatureRetriever:
    """Return a :class:`FeatureRetriever` over the profile (with a workspace-cached embedder when ``ws``)."""
    emb = embedder if ws is None or isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder, ws)
    return FeatureRetriever(profile, profile_extractor(profile, client), emb)


class BM25Retriever:
    """LaMP's baseline: BM25 (Okapi) over the raw item text.

    Args:
        items: The user's history items.
        paths: Optional reasoning paths by item id, attached to the results.
    """

    def __init__(self, items: list[Item], paths: dict[str, Any] | None = None) -> None:
        """Index the items."""
        from rank_bm25 import BM25Okapi

        self.items = list(items)
        self.paths = paths or {}
        corpus = [words(it.input) or ["\u2205"] for it in self.items]
        self._bm25 = BM25Okapi(corpus) if corpus else None

    def retrieve(self, query_text: str, k: int = 5) -> list[RetrievedDoc]:
        """Return up to ``k`` items by BM25 score, best first (ties keep history order)."""
        if self._bm25 is None or k <= 0:
            return []
        scores = np.asarray(self._bm25.get_scores(words(query_text)), dtype=float)
        order = sorted(range(len(self.items)), key=lambda i: (-scores[i], i))[:k]
        out = []
        for i in order:
            it = self.items[i]
            path = self.paths.get(it.id)
            out.append(RetrievedDoc(id=it.id, text=it.input, output=it.output, score=round(float(scores[i]), 6),
                                    path=getattr(path, "text", None)))
        return out
