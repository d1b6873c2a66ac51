"""Small text utilities shared by the offline stage implementations.

Sentence and clause splitting that keeps character offsets (so evidence is always an exact span of
the item), word tokenisation, a stop-word list, and evidence location (exact, case-insensitive, or
fuzzy with :mod:`difflib`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]")

STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during
    each even ever every few for from further get gets got had hadn't has hasn't have haven't having he he'd he'll
    he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its
    itself just let's me more most much must mustn't my myself no nor not now of off on once one only or other
    ought our ours ourselves out over own quite rather really same shan't she she'd she'll she's should shouldn't
    so some such than that that's the their theirs them themselves then there there's these they they'd they'll
    they're they've this those though through thus to too under until up upon us very was wasn't we we'd we'll
    we're we've were weren't what what's when when's where where's which while who who's whom why why's will with
    won't would wouldn't yet you you'd you'll you're you've your yours yourself yourselves im ive dont didnt doesnt
    cant wont isnt wasnt thats its lot lots thing things way bit still well back going go went made make makes
    something anything everything nothing""".split())

# Splits a sentence into clauses at contrastive conjunctions and semicolons; the separator is dropped.
_CLAUSE_SPLIT = re.compile(r"\s*(?:;|,?\s+\bbut\b|,?\s+\bhowever\b|,?\s+\balthough\b|,?\s+\bthough\b|"
                           r",?\s+\bwhereas\b|,\s+\bwhich\b|,?\s+\bexcept\b|,\s+\band\b|,?\s+\byet\b)\s+",
                           re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")


@dataclass(frozen=True)
class Span:
    """A span of a text: ``text == source[start:end]``."""

    start: int
    end: int
    text: str


def words(text: str) -> list[str]:
    """Return the lower-cased words of ``text`` (letters, inner apostrophes and hyphens)."""
    return [w.lower() for w in WORD.findall(text)]


def content_words(text: str) -> list[str]:
    """Return the words of ``text`` that are not stop words and have at least 3 letters."""
    return [w for w in words(text) if w not in STOP_WORDS and len(w) >= 3]


def _strip_span(source: str, start: int, end: int) -> Span | None:
    piece = source[start:end]
    left = len(piece) - len(piece.lstrip(" \t\r\n,-:\"'()"))
    right = len(piece.rstrip(" \t\r\n,-:\"'().!?"))
    if right <= left:
        return None
    return Span(start + left, start + right, source[start + left:start + right])


def clauses(text: str, *, min_words: int = 2, max_chars: int = 240) -> list[Span]:
    """Split ``text`` into sentences, then clauses, keeping exact character offsets.

    Args:
        text: The source text.
        min_words: Clauses with fewer words are dropped.
        max_chars: Longer clauses are cut at the last word boundary before this length.

    Returns:
        Spans in reading order; each ``span.text == text[span.start:span.end]``.
    """
    out: list[Span] = []
    for sm in _SENTENCE.finditer(text):
        s_start, s_end = sm.start(), sm.end()
        sentence = text[s_start:s_end]
        pos = 0
        for cm in _CLAUSE_SPLIT.finditer(sentence):
            span = _strip_span(text, s_start + pos, s_start + cm.start())
            if span:
                out.append(span)
            pos = cm.end()
        span = _strip_span(text, s_start + pos, s_end)
        if span:
            out.append(span)
    result = []
    for sp in out:
        if len(words(sp.text)) < min_words:
            continue
        if len(sp.text) > max_chars:
            cut = sp.text.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            sp = Span(sp.start, sp.start + cut, text[sp.start:sp.start + cut])
        result.append(sp)
    return result


def _normalise(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().lower()


def locate_evidence(evidence: str, source: str, *, min_ratio: float = 0.6, min_chars: int = 8) -> str | None:
    """Find ``evidence`` in ``source`` and return the exact span of ``source`` it refers to.

    Tries an exact match, then a case- and whitespace-insensitive match, then the longest common
    block (:class:`difflib.SequenceMatcher`), which is accepted when it covers at least ``min_ratio``
    of the evidence and ``min_chars`` characters; the evidence is then trimmed to that block.

    Args:
        evidence: The quoted span (e.g. from a model).
        source: The item text it should come from.
        min_ratio: Share of the evidence the fuzzy block must cover.
        min_chars: Minimum length of an accepted fuzzy block.

    Returns:
        A substring of ``source``, or None when the evidence is not in it.
    """
    ev = evidence.strip().strip("\"'")
    if not ev:
        return None
    if ev in source:
        return ev
    low_src = source.lower()
    idx = low_src.find(ev.lower())
    if idx >= 0:
        return source[idx:idx + len(ev)]
    # Whitespace-insensitive: build a regex that allows any whitespace run between the words.
    tokens = ev.split()
    if tokens:
        pattern = r"\s+".join(re.escape(t) for t in tokens)
        m = re.search(pattern, source, flags=re.IGNORECASE)
        if m:
            return m.group(0)
    sm = difflib.SequenceMatcher(None, low_src, ev.lower(), autojunk=False)
    block = sm.find_longest_match(0, len(low_src), 0, len(ev))
    if block.size >= min_chars and block.size >= min_ratio * len(ev):
        found = source[block.a:block.a + block.size].strip()
        return found or None
    return None


def truncate(text: str, n: int) -> str:
    """Return ``text`` cut to at most ``n`` characters at a word boundary, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= n:
        return text
    cut = text.rfind(" ", 0, n - 1)
    return text[: cut if cut > 0 else n - 1].rstrip(",;:") + "…"
