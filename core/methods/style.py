"""Which wording reads more like the user: a word model of the texts they wrote themselves.

For a history of the user's own texts (LaMP-7's tweets: each item's input is its response), a
query asks to restate a given text in the user's voice. ``rpm``'s rewrite can drift from the
text it restates, or lose more of its wording than the user's style brings back; the given text
itself is then the better answer. No dev pairs exist to fit a choice on (the history holds the
user's texts, not texts restated from them), so the choice takes no fitted parameter: each
candidate is scored by how likely its words are under a unigram model of the user's own texts
(add-one smoothed, so a word the user never wrote costs the same for every candidate), averaged
over its words, and the likelier one is kept; a tie keeps the given text. A rewrite that drops an
``@mention``, a ``#hashtag`` or a link of the given text is never kept: whom a text addresses and
what it links are content, not style, and the small model drops them while shortening.

Measured on the first 80 LaMP-7 dev questions (``bench/personalization.py --lamp7 80``), where
this rule was made: ROUGE-1 of ``rpm``'s rewrites 0.456, with this choice 0.471; copying the
input 0.479 (``docs/PERSONALIZATION-lamp7.md`` has the unseen questions 81-160 too).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9]+")
_HANDLE = re.compile(r"[@#]\w+|https?://\S+")


def words(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: the words ROUGE compares, spelling as the user spells."""
    return _WORD.findall((text or "").lower())


@dataclass(frozen=True)
class StyleModel:
    """A unigram model of one user's own texts (add-one smoothed).

    Attributes:
        counts: How often the user wrote each word.
        total: Words written in all.
    """

    counts: Counter[str]
    total: int

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> StyleModel:
        """Count the words of ``texts``."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(words(text))
        return cls(counts=counts, total=sum(counts.values()))

    def log_prob(self, word: str) -> float:
        """``log P(word)`` with one extra count for every word and one slot for all unseen words."""
        return math.log((self.counts.get(word, 0) + 1) / (self.total + len(self.counts) + 1))

    def score(self, text: str) -> float | None:
        """Mean log-probability of the words of ``text`` (None when it has no words)."""
        ws = words(text)
        return sum(self.log_prob(w) for w in ws) / len(ws) if ws else None


@dataclass(frozen=True)
class WordingChoice:
    """The outcome of :func:`choose_wording`.

    Attributes:
        chosen: The candidate kept (``"given"`` or ``"rewrite"``).
        text: Its text.
        scores: Each candidate's mean log-probability under the user's word model (None: no words).
        unseen: Each candidate's share of words the user never wrote.
        dropped: The given text's mentions, hashtags and links the rewrite left out (a rewrite
            that drops any is not kept).
    """

    chosen: str
    text: str
    scores: dict[str, float | None]
    unseen: dict[str, float | None]
    dropped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view for the trace."""
        return {"chosen": self.chosen,
                "scores": {k: None if v is None else round(v, 4) for k, v in self.scores.items()},
                "unseen": {k: None if v is None else round(v, 3) for k, v in self.unseen.items()},
                "dropped": list(self.dropped)}


def choose_wording(model: StyleModel, given: str, rewrite: str) -> WordingChoice:
    """Keep the rewrite only when its words are likelier under the user's model and it keeps the given text's handles.

    Args:
        model: The user's word model (:meth:`StyleModel.from_texts` over their own texts).
        given: The text the query asks to restate.
        rewrite: The model's rewrite of it in the user's voice.

    Returns:
        The choice, with both candidates' scores (a rewrite without words, or one that drops a
        mention, hashtag or link of the given text, is never kept).
    """
    texts = {"given": given, "rewrite": rewrite}
    scores = {name: model.score(text) for name, text in texts.items()}
    unseen = {name: _unseen(model, words(text)) for name, text in texts.items()}
    g, r = scores["given"], scores["rewrite"]
    dropped = tuple(h for h in dict.fromkeys(_HANDLE.findall(given)) if h.lower() not in rewrite.lower())
    chosen = "rewrite" if r is not None and (g is None or r > g) and not dropped else "given"
    return WordingChoice(chosen=chosen, text=texts[chosen], scores=scores, unseen=unseen, dropped=dropped)


def _unseen(model: StyleModel, ws: Sequence[str]) -> float | None:
    return sum(1 for w in ws if w not in model.counts) / len(ws) if ws else None
