"""The deterministic offline feature extractor: clauses, VADER sentiment and an aspect lexicon.

Used when the model backend cannot be trusted with structured extraction (the embedded tiny model)
or when the analyst forces it. For each clause of an item it decides whether the clause is salient
(it names a known aspect, or its sentiment is strong), and turns salient clauses into features:

* ``aspect``: the first aspect of :mod:`core.stages.aspects` the clause names, else the clause's
  main keyword (its longest content word that is not a sentiment word);
* ``phrase``: a short keyphrase, up to six words around the aspect cue, trimmed of stop words;
* ``direction``: score tasks: VADER compound >= 0.05 raised, <= -0.05 lowered, else neutral;
  label tasks: the item's label (salient clauses only), or sentiment alone when the item has no
  label yet (a query); text tasks: neutral;
* ``strength``: from the sentiment magnitude, with a floor for clauses naming a known aspect;
* ``evidence``: the clause, an exact span of the item.
"""

from __future__ import annotations

import re
from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.data.model import Item, Task
from core.stages.aspects import ASPECTS, match_aspects
from core.stages.text import STOP_WORDS, WORD, clauses, words
from core.stages.types import Feature, FeatureProgress
from core.store.workspace import stable_hash

_SENTIMENT_THRESHOLD = 0.05
_SALIENT_SENTIMENT = 0.3
_PHRASE_WORDS = 6

# Review-domain words VADER's general lexicon lacks (valence on VADER's -4..4 scale).
DOMAIN_VALENCE: dict[str, float] = {
    "fast": 1.0, "quick": 1.0, "slow": -1.2, "sturdy": 1.8, "flimsy": -1.8, "durable": 1.8, "unreliable": -1.8,
    "reliable": 1.5, "overpriced": -1.8, "pricey": -0.8, "expensive": -0.6, "cracked": -1.5, "junk": -2.2,
    "rubbish": -2.0, "tore": -1.2, "ripped": -1.2, "predictable": -1.2, "gripping": 1.8, "riveting": 2.0,
    "laggy": -1.5, "smooth": 1.0, "returned": -0.6, "refund": -0.6, "poorly": -1.5, "lasted": 0.6,
    "sturdier": 1.5, "snapped": -1.5, "loose": -1.0, "rattling": -1.2, "survived": 1.2, "outlast": 1.5,
    "heavy-duty": 1.2, "tasteless": -1.5, "bland": -1.2, "stale": -1.5, "page-turner": 2.0, "unputdownable": 2.5,
    "split": -1.0, "loosened": -1.2, "worn": -0.8, "jams": -1.2, "jammed": -1.2,
    # Domain nouns that VADER scores as sentiment words ("support" +1.7): here they name an aspect.
    "support": 0.0, "supports": 0.0, "care": 0.0, "help": 0.0,
    "ignored": -1.5, "unanswered": -1.5, "nightmare": -2.0, "painless": 1.5, "hassle": -1.0,
}

# Multi-word cues VADER cannot score; they are joined into one token carrying this valence.
PHRASE_VALENCE: dict[str, float] = {
    "never answered": -1.8, "never replied": -1.8, "never got back": -1.8, "never heard back": -1.8,
    "never arrived": -1.8, "nobody answers": -1.8, "no one answers": -1.8, "on hold": -1.2, "to reply": -0.8,
    "copy-paste answer": -1.2, "without solving": -1.5, "refused a return": -1.8, "closed my ticket": -1.0,
    "walked me through": 1.2, "no questions asked": 1.2, "called me back": 1.2, "followed up": 1.0,
    "made to last": 2.0, "gave out": -1.8, "given out": -1.8, "give out": -1.5, "came loose": -1.5,
    "come loose": -1.5, "going strong": 2.0, "stopped working": -2.2, "quit working": -2.2, "fell apart": -2.2,
    "falls apart": -2.0, "falling apart": -2.0, "like new": 1.8, "holds up": 1.5, "held up": 1.5,
    "barely works": -2.0, "worn out": -1.5, "well made": 1.8, "poorly made": -1.8, "cheaply made": -1.8,
    "waste of money": -2.2, "no hassle": 1.5, "took forever": -1.5, "takes forever": -1.5, "on time": 0.8,
    "too small": -1.0, "too big": -1.0, "too tight": -1.0, "too loose": -1.0, "worth every penny": 2.2,
    "page turner": 2.0, "could not put it down": 2.2, "couldn't put it down": 2.2,
    "nothing has loosened or worn out": 2.0, "nothing has broken": 1.5, "never broke": 1.5, "hasn't broken": 1.2,
    "has not broken": 1.2, "without a scratch": 1.5, "not a scratch": 1.5, "no longer works": -2.0,
}

# A clause about another product than the item ("my old one died", "..., which broke") is not the item's feature.
_OTHER_PRODUCT = re.compile(r"\b(?:my|our|the)\s+(?:old|last|previous|former|first)\s+(?:one|model|version)\b",
                            re.IGNORECASE)
_PHRASE_TOKENS = {p: "xx" + re.sub(r"\W", "", p) for p in PHRASE_VALENCE}
_PHRASE_RE = re.compile(r"\b(" + "|".join(re.escape(p) for p in sorted(PHRASE_VALENCE, key=len, reverse=True)) + r")\b",
                        re.IGNORECASE)

LEXICON_DIGEST = stable_hash([ASPECTS, DOMAIN_VALENCE, PHRASE_VALENCE, _OTHER_PRODUCT.pattern])[:12]
"""Changes whenever the lexicons change, so stored feature runs are not reused across lexicon edits."""


class LexiconFeatureExtractor:
    """Extract features offline with clause splitting, VADER sentiment and an aspect lexicon.

    Args:
        max_features: Most features kept per item (the most salient clauses, in reading order).

    Examples:
        >>> from core.data.model import Item, Task
        >>> fx = LexiconFeatureExtractor()
        >>> out = fx.extract([Item("i1", "The strap broke after two days. Shipping was fast.", "2")], Task("score"))
        >>> [(f.aspect, f.direction) for f in out["i1"]]
        [('durability', 'lowered'), ('shipping', 'raised')]
    """

    name = "lexicon"

    def __init__(self, max_features: int = 5) -> None:
        """Create the extractor (loads the VADER lexicon once)."""
        self.max_features = max_features
        self._vader = SentimentIntensityAnalyzer()
        self._vader.lexicon.update(DOMAIN_VALENCE)
        self._vader.lexicon.update({_PHRASE_TOKENS[p]: v for p, v in PHRASE_VALENCE.items()})
        self._sentiment_words = frozenset(self._vader.lexicon)

    def identity(self) -> dict[str, Any]:
        """Return what identifies this extractor's outputs (part of the stage run's parameters)."""
        return {"kind": "lexicon", "version": 2, "max_features": self.max_features, "lexicon": LEXICON_DIGEST}

    def extract(self, items: list[Item], task: Task, progress: FeatureProgress | None = None, *,
                run_id: str | None = None) -> dict[str, list[Feature]]:
        """Extract features of each item; see :class:`core.stages.features.FeatureExtractor`.

        ``run_id`` is unused: the lexicon makes no model calls to file under a run.
        """
        out: dict[str, list[Feature]] = {}
        for n, item in enumerate(items, start=1):
            out[item.id] = self.extract_one(item, task)
            if progress:
                progress(n, len(items))
        return out

    def extract_one(self, item: Item, task: Task) -> list[Feature]:
        """Extract the features of one item."""
        candidates: list[tuple[float, int, Feature]] = []
        spans = clauses(item.input)
        for pos, span in enumerate(spans):
            if self._about_other_product(item.input, spans, pos):
                continue
            tokens = words(span.text)
            compound = self.sentiment(span.text)
            aspects = match_aspects(span.text, tokens)
            if not aspects and abs(compound) < _SALIENT_SENTIMENT:
                continue
            if aspects:
                aspect, cue = aspects[0]
            else:
                cue = self._main_keyword(tokens)
                if cue is None:
                    continue
                aspect = cue
            phrase = self._keyphrase(span.text, cue)
            if not phrase:
                continue
            direction = self._direction(compound, item, task)
            if aspects and direction == "lowered" and task.kind == "score":
                aspect = f"{aspect} problems"
            strength = min(1.0, 0.3 + 0.7 * abs(compound)) if aspects else abs(compound)
            feature = Feature(id="", item_id=item.id, phrase=phrase, aspect=aspect,
                              direction=direction, strength=round(strength, 3),
                              evidence=span.text)
            salience = abs(compound) + (0.5 if aspects else 0.0)
            candidates.append((salience, pos, feature))
        kept = sorted(candidates, key=lambda c: (-c[0], c[1]))[: self.max_features]
        kept.sort(key=lambda c: c[1])
        features = []
        seen: set[tuple[str, str]] = set()
        for _, _, f in kept:
            if (f.aspect, f.phrase) in seen:
                continue
            seen.add((f.aspect, f.phrase))
            f.id = f"{item.id}#{len(features)}"
            features.append(f)
        return features

    @staticmethod
    def _about_other_product(text: str, spans: list[Any], pos: int) -> bool:
        """True for a clause about another product than the item.

        That is a clause naming one ("my old one died") unless it compares the item with it ("sturdier
        than my last one"), or a ``which``-clause right after a clause naming one ("..., which broke").
        """
        span = spans[pos]
        if _OTHER_PRODUCT.search(span.text) and not re.search(r"\bthan\b", span.text, re.IGNORECASE):
            return True
        if pos == 0:
            return False
        between = text[spans[pos - 1].end:span.start].lower()
        return "which" in between and bool(_OTHER_PRODUCT.search(spans[pos - 1].text))

    def sentiment(self, text: str) -> float:
        """Return VADER's compound score of ``text``, with multi-word domain cues scored as one token."""
        joined = _PHRASE_RE.sub(lambda m: _PHRASE_TOKENS[m.group(0).lower()], text)
        return float(self._vader.polarity_scores(joined)["compound"])

    def _direction(self, compound: float, item: Item, task: Task) -> str:
        if task.kind == "text":
            return "neutral"
        if task.kind == "label" and item.output.strip():
            return item.output.strip()
        if compound >= _SENTIMENT_THRESHOLD:
            return "raised"
        if compound <= -_SENTIMENT_THRESHOLD:
            return "lowered"
        return "neutral"

    def _main_keyword(self, tokens: list[str]) -> str | None:
        content = [w for w in tokens if w not in STOP_WORDS and len(w) >= 4 and w not in self._sentiment_words]
        if not content:
            return None
        return max(content, key=len)

    @staticmethod
    def _keyphrase(clause: str, cue: str) -> str:
        """Return up to six words of ``clause`` around ``cue``, trimmed of stop words at both ends."""
        toks = [m.group(0) for m in WORD.finditer(clause)]
        low = [t.lower() for t in toks]
        first = cue.split()[0].lower()
        try:
            i = low.index(first)
        except ValueError:
            i = 0
        n_cue = len(cue.split())
        lo = max(0, i - 2)
        hi = min(len(toks), i + n_cue + 3)
        while hi - lo > _PHRASE_WORDS and hi > i + n_cue:
            hi -= 1
        window = low[lo:hi]
        while window and window[0] in STOP_WORDS and window[0] != first:
            window.pop(0)
        while window and window[-1] in STOP_WORDS:
            window.pop()
        return " ".join(window)
