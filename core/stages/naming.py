"""Naming factors: class-based TF-IDF keywords offline, or an LLM asked what makes a group distinct.

**c-TF-IDF** (BERTopic's idea): all features of a factor form one document. With ``tf(t, c)`` the
frequency of term t in factor c divided by c's total term count, ``A`` the average term count per
factor and ``f(t)`` the frequency of t over all factors, the weight is
``tf(t, c) * log(1 + A / f(t))``. Terms are content words and adjacent content-word bigrams of the
features' aspect and phrase. The offline name is the top 2-3 non-overlapping keywords among those
shared by several of the factor's features (:func:`shared_keywords`): a word that one feature alone
uses ("mine", "taste") can top c-TF-IDF in a small factor but says nothing about the group.

**Phrase names** (:func:`phrase_name`): a name is made of *phrases*, not single keywords. The
candidates are the 2-3 word runs of the member features' phrases that start and end on a content
word that is not a filler word (:data:`FILLER`), and hold at least one word that is neither a stop
word, a sentiment word (VADER's lexicon) nor a filler word; they are ranked by the same c-TF-IDF,
computed over phrases, and must be shared by at least two members (and 3% of them). The name is
the factor's dominant aspect (when most members name one category, e.g. "romance") followed by its
most distinctive phrase ("Romance: fall in love"), or the two most distinctive phrases. A single
filler or sentiment word is never a name.

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
from core.llm.client import LLMClient
from core.llm.fence import quote, quote_list, with_data_rule
from core.llm.types import ChatRequest
from core.stages.aspects import ASPECTS
from core.stages.text import STOP_WORDS, content_words, truncate, words
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


# Words that carry no topic of their own in a review (discourse markers, vague verbs and quantities).
FILLER = frozenset("""meanwhile anyway however although thinks think thought says said came come comes happened
happen happens another others find found felt feel feels seem seems seemed kind sort type part whole great good
bad better best worse worst nice pretty lot little much many several first last next new old time times day days
year years people person someone everyone thing stuff review reviews read reading book books product item star
stars gave give overall definitely probably actually certainly simply truly totally absolutely extremely highly
completely fairly especially incredibly somewhat may might shall""".split())


@lru_cache(maxsize=1)
def sentiment_words() -> frozenset[str]:
    """Return VADER's lexicon words (loaded once): a name made only of these says nothing about a topic."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return frozenset(SentimentIntensityAnalyzer().lexicon)


def _topical(word: str) -> bool:
    return len(word) >= 3 and word not in STOP_WORDS and word not in FILLER and word not in sentiment_words()


def same_word(a: str, b: str) -> bool:
    """True when two words share a prefix of at least ``min(5, shorter length)`` letters ("broken" ~ "broke")."""
    n = min(5, len(a), len(b))
    return n >= 3 and a[:n] == b[:n]


@lru_cache(maxsize=200_000)
def phrase_terms(text: str) -> tuple[str, ...]:
    """Return the candidate name phrases of a text: 2-3 word runs, content words at both ends, one topical word.

    Examples:
        >>> phrase_terms("they fall in love slowly")
        ('love slowly', 'fall in love')
    """
    ws = words(text)
    out: list[str] = []
    for n in (2, 3):
        for i in range(len(ws) - n + 1):
            run = ws[i:i + n]
            if any(w in STOP_WORDS or w in FILLER or len(w) < 3 for w in (run[0], run[-1])):
                continue  # "kind of story", "great story": a filler end adds nothing to the topical word
            if n == 3 and run[1] not in STOP_WORDS:
                continue  # three content words: the two bigrams inside say it already
            if len(set(run)) < n or not any(_topical(w) for w in run):
                continue
            out.append(" ".join(run))
    return tuple(dict.fromkeys(out))


def _category(feature: Feature) -> str | None:
    """The feature's aspect when it names a category (a lexicon aspect, or a word not taken from its phrase)."""
    aspect = feature.aspect.lower().strip()
    base = aspect.removesuffix(" problems")
    if not base:
        return None
    if base in ASPECTS:
        return base
    if set(words(base)) & set(words(feature.phrase)) or not any(_topical(w) for w in words(base)):
        return None  # the offline extractor's fallback aspect is a word of the clause itself
    return base


Forms = tuple[frozenset[str], frozenset[str], frozenset[str]]


@lru_cache(maxsize=200_000)
def word_forms(text: str) -> Forms:
    """Index a text's words for :func:`has_form`: 5-letter prefixes of long words, and its 3- and 4-letter words."""
    ws = words(text)
    return (frozenset(w[:5] for w in ws if len(w) >= 5), frozenset(w for w in ws if len(w) == 3),
            frozenset(w for w in ws if len(w) == 4))


def has_form(word: str, forms: Forms) -> bool:
    """True when the indexed text has a word ``v`` with ``same_word(word, v)``, in a few set look-ups.

    Examples:
        >>> has_form("broken", word_forms("the zipper broke")), has_form("zeppelin", word_forms("the zipper"))
        (True, False)
    """
    long5, short3, short4 = forms
    if len(word) >= 5:
        return word[:5] in long5 or word[:3] in short3 or word[:4] in short4
    if len(word) == 4:
        return word in short4 or word[:3] in short3 or any(p.startswith(word) for p in long5)
    return word in short3 or any(p.startswith(word) for p in (*long5, *short4))


def _mentions(members: list[Feature], aspect: str, enough: float = math.inf) -> int:
    """Members whose own phrase or evidence uses a word of ``aspect`` (or a form of it), counted up to ``enough``."""
    cue = [w for w in words(aspect) if w not in STOP_WORDS]
    n = 0
    for f in members:
        if any(has_form(w, word_forms(f"{f.phrase} {f.evidence}")) for w in cue):
            n += 1
            if n >= enough:
                break
    return n


def dominant_aspect(members: list[Feature], min_share: float = 0.5, min_mentions: float = 0.2) -> str | None:
    """Return the category named by at least ``min_share`` of the members, or None.

    The category must also be a word the members use: at least ``min_mentions`` of them say it (or
    a form of it) in their phrase or evidence, so a lexicon category matched through other cues
    ("length" from "pages") does not name a group whose reviews never say it.
    """
    cats = Counter(c for c in (_category(f) for f in members) if c)
    if not cats or not members:
        return None
    cat, n = cats.most_common(1)[0]
    need = min_mentions * len(members)
    if n < min_share * len(members) or _mentions(members, cat, enough=need) < need:
        return None
    return cat


def phrase_weights(factors: list[Factor], features: dict[str, Feature]) -> dict[str, dict[str, float]]:
    """Return c-TF-IDF weights of the phrase terms (:func:`phrase_terms`) per factor, noise included as a class."""
    docs = {f.id: [features[fid].phrase for fid in f.feature_ids if fid in features] for f in factors}
    counts = {c: Counter(t for text in texts for t in phrase_terms(text)) for c, texts in docs.items()}
    total: Counter[str] = Counter()
    for cnt in counts.values():
        total.update(cnt)
    sizes = [sum(cnt.values()) for cnt in counts.values() if cnt]
    avg = sum(sizes) / len(sizes) if sizes else 0.0
    return {c: {t: (n / (sum(cnt.values()) or 1)) * math.log(1.0 + avg / total[t]) for t, n in cnt.items()}
            for c, cnt in counts.items()}


def phrase_name(members: list[Feature], weights: dict[str, float], max_chars: int = 44,
                taken: set[str] | frozenset[str] = frozenset()) -> str | None:
    """Return a name made of phrases (see the module docstring), or None when no phrase is shared.

    Args:
        members: The factor's features.
        weights: The factor's phrase c-TF-IDF weights (:func:`phrase_weights`).
        max_chars: Longest name.
        taken: Phrases already naming other factors (skipped, so two factors never share a name).
    """
    shared = Counter(t for f in members for t in set(phrase_terms(f.phrase)))  # members using each phrase
    need = max(2, math.ceil(0.03 * len(members)))
    ranked = [t for t, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
              if shared[t] >= need and t not in taken]
    chosen: list[str] = []
    for t in ranked:
        if any(set(t.split()) & set(c.split()) for c in chosen):
            continue
        chosen.append(t)
        if len(chosen) == 2:
            break
    aspect = dominant_aspect(members)
    if aspect and chosen:
        top = next((t for t in chosen if not set(words(aspect)) & set(t.split())), chosen[0])
        name = f"{aspect}: {top}" if top != chosen[0] or not set(words(aspect)) & set(top.split()) else top
    elif aspect:
        name = aspect
    elif chosen:
        name = chosen[0] if len(chosen) < 2 or len(", ".join(chosen)) > max_chars else ", ".join(chosen)
    else:
        return None
    name = truncate(name, max_chars)
    return name[0].upper() + name[1:]


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
        return {"kind": "keywords", "version": 5}

    def name_factors(self, factors: list[Factor], features: dict[str, Feature],
                     vectors: dict[str, np.ndarray] | None = None, *, describe: bool = True,
                     run_id: str | None = None) -> list[Factor]:
        """Fill in keywords, names (phrases, else shared keywords) and descriptions; the noise factor keeps its name.

        ``describe=False`` leaves descriptions alone (sub-factors show none). ``run_id`` is unused: no
        model is called.
        """
        assign_keywords(factors, features)
        weights = phrase_weights(factors, features)
        taken: set[str] = set()  # phrases naming a factor already: larger factors (listed first) pick first
        used: set[str] = set()
        for f in factors:
            if f.is_noise:
                continue
            members = [features[fid] for fid in f.feature_ids if fid in features]
            name = phrase_name(members, weights.get(f.id, {}), taken=taken)
            if name is None:
                topical = _said_keywords(f, members)
                name = keyword_name(shared_keywords(topical, [m.text for m in members])) if topical else None
            if name is None:  # nothing topical at all: the members' most common phrase says more than filler
                common = Counter(m.phrase.lower() for m in members).most_common(1)
                name = truncate(common[0][0], 44).capitalize() if common else "Unnamed factor"
            extra = (next((k for k in _said_keywords(f, members) if k.lower() not in name.lower()), None)
                     if name.lower() in used else None)
            if extra:  # the same name twice: tell them apart by a keyword
                name = f"{name}, {extra}"
            used.add(name.lower())
            taken.update(t for t in phrase_terms(name.lower()))
            f.name = name
            if describe:
                f.description = _describe(representatives(f, features, vectors, n=3), len(f.feature_ids))
        return factors


def _said_keywords(factor: Factor, members: list[Feature]) -> list[str]:
    """The factor's topical keywords that at least two members say (a lexicon category can top c-TF-IDF unsaid)."""
    out = []
    for k in factor.keywords:
        if not any(_topical(w) for w in k.split()):
            continue
        if _mentions(members, k, enough=2) >= 2:
            out.append(k)
    return out


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
    "this user's responses. Give the group a short, specific name (2-5 words) built from words that occur in its "
    "features, and a one-sentence description of what its features share and what makes the group distinct from "
    "the other groups. Answer with JSON only."
)


def name_support(name: str, members: list[Feature]) -> list[str]:
    """Return the topical words of ``name`` that some member's phrase, aspect or evidence contains.

    A name is *supported* when this list is not empty; stop and filler words do not count, so "Good
    stuff" is never supported.

    Examples:
        >>> fs = [Feature("i#0", "i", "the strap broke", "durability", "lowered", 1.0, "The strap broke")]
        >>> name_support("Broken straps", fs), name_support("Zeppelin dreams", fs)
        (['broken', 'straps'], [])
    """
    vocab = {w for f in members for w in words(f"{f.aspect} {f.phrase} {f.evidence}")}
    return [w for w in dict.fromkeys(words(name))
            if len(w) >= 3 and w not in STOP_WORDS and w not in FILLER and any(same_word(w, v) for v in vocab)]


class LLMNamer:
    """Name factors with a chat model, from the features nearest each factor's centre, checked against them.

    Every factor starts with its phrase name (:class:`KeywordNamer`). The model's name is kept only
    when :func:`name_support` finds at least one of its words in the factor's members; otherwise it
    is rejected and asked for once more, with the rejected name quoted, and a second unsupported
    answer (or a failed call, listed in :attr:`failures`) leaves the phrase name in place.

    Args:
        client: An :class:`core.llm.client.LLMClient`.
        n_representatives: Most features sent per factor.

    Attributes:
        rejected: ``{factor_id: [rejected names]}`` of the last :meth:`name_factors` call.
        failures: ``{factor_id: why it kept its phrase name}`` for failed calls of the last call.
    """

    name = "llm"

    def __init__(self, client: LLMClient, n_representatives: int = N_REPRESENTATIVES) -> None:
        """Create the namer."""
        self.client = client
        self.n_representatives = n_representatives
        self.rejected: dict[str, list[str]] = {}
        self.failures: dict[str, str] = {}

    def identity(self) -> dict[str, Any]:
        """Return the model identity and prompt version."""
        caps = self.client.capabilities
        return {"kind": "llm", "version": 2, "backend": caps.backend, "model": caps.model,
                "n": self.n_representatives}

    def request(self, factor: Factor, rep: list[Feature], others: list[Factor],
                rejected: str | None = None, *, run_id: str | None = None) -> ChatRequest:
        """Build the naming request of one factor (``rejected``: a name to be replaced, quoted back).

        ``run_id`` is the factors run the call is filed under.
        """
        # every piece of data is fenced as a JSON string (core.llm.fence)
        lines = "\n".join(f"- aspect {quote(f.aspect)}, phrase {quote(f.phrase)}, direction {quote(f.direction)}, "
                          f"evidence {quote(truncate(f.evidence, 100))}" for f in rep)
        contrast = "\n".join(f"- {quote_list(o.keywords[:5])}" for o in others if not o.is_noise and o.keywords)
        user = (f"Features of this group (nearest its centre):\n{lines}\n\n"
                f"Distinctive keywords: {quote_list(factor.keywords[:8])}\n\n"
                f"Other groups, for contrast (their keywords):\n{contrast or '- none'}")
        if rejected is not None:
            user += (f"\n\nThe name {quote(truncate(rejected, 60))} was rejected: none of its words occurs in these "
                     "features. Name the group with words taken from the features above.")
        return ChatRequest(messages=[{"role": "system", "content": with_data_rule(_NAMER_SYSTEM)},
                                     {"role": "user", "content": user}],
                           schema=FactorName, max_tokens=160, stage="factors", run_id=run_id)

    def name_factors(self, factors: list[Factor], features: dict[str, Feature],
                     vectors: dict[str, np.ndarray] | None = None, *, run_id: str | None = None) -> list[Factor]:
        """Fill in keywords, names and descriptions; the noise factor keeps its name.

        ``run_id`` is the factors run the naming calls are filed under.
        """
        KeywordNamer().name_factors(factors, features, vectors)
        self.rejected, self.failures = {}, {}
        reps = {f.id: representatives(f, features, vectors, n=self.n_representatives)
                for f in factors if not f.is_noise and f.feature_ids}
        todo: list[tuple[Factor, str | None]] = [(f, None) for f in factors if f.id in reps]
        for _round in range(2):  # the first answer, and one redo of the rejected names
            if not todo:
                break
            reqs = [self.request(f, reps[f.id], [o for o in factors if o.id != f.id], rejected, run_id=run_id)
                    for f, rejected in todo]
            results = self.client.map(reqs)
            redo: list[tuple[Factor, str | None]] = []
            for (f, _), res in zip(todo, results, strict=True):
                if isinstance(res, BackendError) or res.parsed is None:
                    self.failures[f.id] = str(res) if isinstance(res, BackendError) else "no structured output"
                    continue
                name = " ".join(str(res.parsed.name).split())[:60]
                desc = " ".join(str(res.parsed.description).split())[:240]
                members = [features[fid] for fid in f.feature_ids if fid in features]
                if not name or not name_support(name, members):
                    self.rejected.setdefault(f.id, []).append(name)
                    redo.append((f, name))
                    continue
                f.name = name
                if desc:
                    f.description = desc
            todo = redo
        return factors
