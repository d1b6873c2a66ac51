"""Naming factors: class-based TF-IDF keywords offline, or an LLM asked what makes a group distinct.

**c-TF-IDF** (BERTopic's idea): all features of a factor form one document. With ``tf(t, c)`` the
frequency of term t in factor c divided by c's total term count, ``A`` the average term count per
factor and ``f(t)`` the frequency of t over all factors, the weight is
``tf(t, c) * log(1 + A / f(t))``. Terms are content words and adjacent content-word bigrams of the
features' aspect and phrase. The offline name is the top 2-3 non-overlapping keywords among those
shared by several of the factor's features (:func:`shared_keywords`): a word that one feature alone
uses ("mine", "taste") can top c-TF-IDF in a small factor but says nothing about the group.

A namer is any object with ``name(factors, features, vectors) -> factors`` (names, descriptions and
keywords filled in); :class:`KeywordNamer` and :class:`LLMNamer` implement it.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from core.errors import BackendError
from core.llm.fence import quote, quote_list, with_data_rule
from core.llm.types import ChatRequest
from core.stages.text import content_words, truncate
from core.stages.types import Factor, Feature

N_KEYWORDS = 10
N_REPRESENTATIVES = 12


@lru_cache(maxsize=200_000)
def terms(text: str) -> tuple[str, ...]:
    """Return the c-TF-IDF terms of a text: content words and adjacent content-word bigrams."""
    ws = content_words(text)
    return (*ws, *(f"{a} {b}" for a, b in zip(ws, ws[1:], strict=False)))


def ctfidf(docs: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Return class-based TF-IDF weights per class.

    Args:
        docs: ``{class_id: [text, ...]}``.

    Returns:
        ``{class_id: {term: weight}}`` (only terms present in the class).
    """
    counts = {c: Counter(t for text in texts for t in terms(text)) for c, texts in docs.items()}
    total = Counter()
    for cnt in counts.values():
        total.update(cnt)
    sizes = {c: sum(cnt.values()) for c, cnt in counts.items()}
    nonempty = [s for s in sizes.values() if s]
    avg = sum(nonempty) / len(nonempty) if nonempty else 0.0
    out: dict[str, dict[str, float]] = {}
    for c, cnt in counts.items():
        size = sizes[c] or 1
        out[c] = {t: (n / size) * math.log(1.0 + avg / total[t]) for t, n in cnt.items()}
    return out


def top_keywords(weights: dict[str, float], n: int = N_KEYWORDS) -> list[str]:
    """Return the top ``n`` terms, skipping terms whose words all appear in a higher-ranked term."""
    ranked = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
    chosen: list[str] = []
    for term, _ in ranked:
        tw = set(term.split())
        if any(tw <= set(c.split()) or set(c.split()) <= tw for c in chosen):
            continue
        chosen.append(term)
        if len(chosen) >= n:
            break
    return chosen


def keyword_name(keywords: list[str], k: int = 3) -> str:
    """Return a short name from the top keywords, e.g. ``"Durability, broke, stopped working"``."""
    kws = keywords[:k] if len(keywords) < 3 or len(" ".join(keywords[:3])) <= 40 else keywords[:2]
    if not kws:
        return "Unnamed factor"
    name = ", ".join(kws)
    return name[0].upper() + name[1:]


def shared_keywords(keywords: list[str], texts: list[str], min_share: float = 0.15) -> list[str]:
    """Return the keywords found in at least ``max(2, min_share * len(texts))`` of the texts, in order.

    Falls back to ``keywords`` when none is shared that widely (e.g. a factor of two features).

    Examples:
        >>> shared_keywords(["mine", "broke"], ["mine broke", "it broke", "broke again"])
        ['broke']
    """
    need = max(2, math.ceil(min_share * len(texts)))
    sets = [set(terms(t)) for t in texts]
    shared = [k for k in keywords if sum(k in s for s in sets) >= need]
    return shared or keywords


def representatives(factor: Factor, features: dict[str, Feature], vectors: dict[str, np.ndarray] | None,
                    n: int = N_REPRESENTATIVES, dedup: float = 0.92) -> list[Feature]:
    """Return up to ``n`` member features nearest the factor's centre, near-duplicates removed.

    Args:
        factor: The factor.
        features: All features by id.
        vectors: Unit embeddings by feature id (None: most frequent phrases first).
        n: Cap.
        dedup: Cosine similarity above which a feature counts as a duplicate of one already chosen.
    """
    members = [features[fid] for fid in factor.feature_ids if fid in features]
    if not members:
        return []
    if vectors and all(f.id in vectors for f in members):
        mat = np.stack([vectors[f.id] for f in members]).astype(np.float32)
        centre = mat.mean(axis=0)
        order = np.argsort(-(mat @ centre), kind="stable")
    else:
        mat = None
        freq = Counter(f.phrase.lower() for f in members)
        order = np.array(sorted(range(len(members)), key=lambda i: (-freq[members[i].phrase.lower()], i)))
    chosen: list[int] = []
    seen_text: set[str] = set()
    for i in order.tolist():
        text = members[i].phrase.lower()
        if text in seen_text:
            continue
        if mat is not None and chosen and float((mat[chosen] @ mat[i]).max()) > dedup:
            continue
        chosen.append(i)
        seen_text.add(text)
        if len(chosen) >= n:
            break
    return [members[i] for i in chosen]


def _describe(rep: list[Feature], n_features: int) -> str:
    quoted = ", ".join(f"'{truncate(f.phrase, 40)}'" for f in rep[:3])
    return f"{n_features} features such as {quoted}." if quoted else f"{n_features} features."


class KeywordNamer:
    """Name factors from their c-TF-IDF keywords (deterministic, offline)."""

    name = "keywords"

    def identity(self) -> dict[str, Any]:
        """Return what identifies this namer's output."""
        return {"kind": "keywords", "version": 2}

    def name_factors(self, factors: list[Factor], features: dict[str, Feature],
                     vectors: dict[str, np.ndarray] | None = None) -> list[Factor]:
        """Fill in keywords, names and descriptions; the noise factor keeps its name."""
        assign_keywords(factors, features)
        for f in factors:
            if f.is_noise:
                continue
            texts = [features[fid].text for fid in f.feature_ids if fid in features]
            f.name = keyword_name(shared_keywords(f.keywords, texts))
            f.description = _describe(representatives(f, features, vectors, n=3), len(f.feature_ids))
        return factors


def assign_keywords(factors: list[Factor], features: dict[str, Feature]) -> None:
    """Set every factor's ``keywords`` from c-TF-IDF over all factors (noise included as a class)."""
    docs = {f.id: [features[fid].text for fid in f.feature_ids if fid in features] for f in factors}
    weights = ctfidf(docs)
    for f in factors:
        f.keywords = top_keywords(weights.get(f.id, {}))


class FactorName(BaseModel):
    """What the LLM namer returns for one factor."""

    name: str = Field(description="2-5 word name of what this group of features is about")
    description: str = Field(description="One sentence: what these features share and what sets them apart")


_NAMER_SYSTEM = (
    "You name groups of features extracted from one user's history. Each group collects things that influenced "
    "this user's responses. Give the group a short, specific name (2-5 words) and a one-sentence description of "
    "what its features share and what makes the group distinct from the other groups. Answer with JSON only."
)


class LLMNamer:
    """Name factors with a chat model, from the features nearest each factor's centre.

    Falls back to the c-TF-IDF name for a factor whose call fails (listed in :attr:`failures`).

    Args:
        client: An :class:`core.llm.client.LLMClient`.
        n_representatives: Most features sent per factor.
    """

    name = "llm"

    def __init__(self, client: Any, n_representatives: int = N_REPRESENTATIVES) -> None:
        """Create the namer."""
        self.client = client
        self.n_representatives = n_representatives
        self.run_id: str | None = None
        self.failures: dict[str, str] = {}  # {factor id: why it kept its keyword name} of the last call

    def identity(self) -> dict[str, Any]:
        """Return the model identity and prompt version."""
        caps = self.client.capabilities
        return {"kind": "llm", "version": 1, "backend": caps.backend, "model": caps.model,
                "n": self.n_representatives}

    def request(self, factor: Factor, rep: list[Feature], others: list[Factor]) -> ChatRequest:
        """Build the naming request of one factor."""
        # every piece of data is fenced as a JSON string (core.llm.fence)
        lines = "\n".join(f"- aspect {quote(f.aspect)}, phrase {quote(f.phrase)}, direction {quote(f.direction)}"
                          for f in rep)
        contrast = "\n".join(f"- {quote_list(o.keywords[:5])}" for o in others if not o.is_noise and o.keywords)
        user = (f"Features of this group (nearest its centre):\n{lines}\n\n"
                f"Distinctive keywords: {quote_list(factor.keywords[:8])}\n\n"
                f"Other groups, for contrast (their keywords):\n{contrast or '- none'}")
        return ChatRequest(messages=[{"role": "system", "content": with_data_rule(_NAMER_SYSTEM)},
                                     {"role": "user", "content": user}],
                           schema=FactorName, max_tokens=160, stage="factors", run_id=self.run_id)

    def name_factors(self, factors: list[Factor], features: dict[str, Feature],
                     vectors: dict[str, np.ndarray] | None = None) -> list[Factor]:
        """Fill in keywords, names and descriptions; the noise factor keeps its name."""
        KeywordNamer().name_factors(factors, features, vectors)
        targets = [f for f in factors if not f.is_noise and f.feature_ids]
        reqs = []
        for f in targets:
            rep = representatives(f, features, vectors, n=self.n_representatives)
            reqs.append(self.request(f, rep, [o for o in factors if o.id != f.id]))
        results = self.client.map(reqs) if reqs else []
        self.failures = {}
        for f, res in zip(targets, results, strict=True):
            if isinstance(res, BackendError) or res.parsed is None:
                self.failures[f.id] = str(res) if isinstance(res, BackendError) else "no structured output"
                continue
            name = " ".join(str(res.parsed.name).split())[:60]
            desc = " ".join(str(res.parsed.description).split())[:240]
            if name:
                f.name = name
            if desc:
                f.description = desc
        return factors
