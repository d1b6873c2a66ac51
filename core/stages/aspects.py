"""An aspect lexicon for the offline feature extractor.

Maps words to aspects for common review domains (products, books, movies, food, services).
Entries ending in ``*`` match as prefixes (``"durab*"`` matches "durable", "durability"); the rest
match whole words. Multi-word cues (``"customer service"``) are matched on the lower-cased text.
"""

from __future__ import annotations

import re
from functools import lru_cache

ASPECTS: dict[str, list[str]] = {
    # Products
    "durability": ["durab*", "sturd*", "broke", "broken", "break", "breaks", "breaking", "flims*", "fragile",
                   "cracked", "crack*", "fell apart", "falls apart", "wear out", "wore out", "worn", "lasted",
                   "last long", "lasts", "stopped working", "quit working", "died", "dies", "defect*", "faulty",
                   "rip*", "tore", "torn", "snapped", "reliab*", "solid", "well made", "split", "came loose",
                   "come loose", "gave out", "given out", "give out", "rattl*", "barely works", "outlast*",
                   "made to last", "holds up", "held up", "hold up", "survived", "going strong", "loosened",
                   "heavy-duty", "like new", "still works", "well-made", "poorly made", "cheaply made",
                   "malfunction*"],
    "quality": ["quality", "craftsmanship", "material*", "cheap feeling", "build", "built", "construction",
                "premium", "shoddy", "junk", "garbage"],
    "price and value": ["price*", "value", "worth", "expensive", "overpriced", "cheap", "cheaper", "afford*",
                        "money", "cost*", "bargain", "deal", "dollars", "bucks", "refund*"],
    "customer service": ["customer service", "support", "seller", "warranty", "return*", "replacement",
                         "replaced", "service", "staff", "rude", "helpful", "responsive", "refund"],
    "shipping": ["shipping", "shipped", "deliver*", "arrived", "arrival", "package*", "packaging", "box",
                 "late", "on time"],
    "ease of use": ["easy", "easier", "easily", "difficult", "hard to", "intuitive", "confusing", "setup",
                    "set up", "install*", "instructions", "manual", "user friendly", "user-friendly", "simple",
                    "complicated", "convenient"],
    "size and fit": ["size", "sizes", "fit", "fits", "fitting", "small", "smaller", "large", "larger", "tight",
                     "loose", "big", "bigger", "narrow", "wide", "length", "comfortable", "comfort*",
                     "uncomfortable"],
    "taste": ["taste*", "tasty", "flavor*", "flavour*", "delicious", "bland", "sweet", "salty", "bitter",
              "fresh", "stale", "yummy", "spicy"],
    "performance": ["performance", "perform*", "fast", "faster", "slow", "slower", "speed", "powerful", "power",
                    "works great", "works well", "efficient", "lag*", "responsive", "accurate", "accuracy"],
    "design": ["design*", "gorgeous", "screen", "display", "look", "looks", "looking", "beautiful", "pretty", "ugly",
               "color*", "colour*", "style*", "sleek", "attractive", "elegant", "appearance"],
    "battery": ["battery", "batteries", "charge", "charging", "charger", "recharge*"],
    "sound": ["sound*", "audio", "volume", "loud", "quiet", "noise", "noisy", "bass", "speaker*", "headphone*"],
    "smell": ["smell*", "scent*", "odor*", "odour*", "fragrance"],
    # Books and stories
    "plot": ["plot*", "storyline", "story", "stories", "twist*", "ending", "predictable", "pacing",
             "pace", "paced", "suspense*", "gripping", "page turner", "page-turner", "cliffhanger", "mystery",
             "boring", "slow moving", "dragged", "drags", "thrilling", "thriller"],
    "characters": ["character*", "heroine", "hero", "protagonist", "villain", "likable", "likeable", "relatable",
                   "believable", "annoying", "cast"],
    "writing": ["writing", "written", "writer", "prose", "author*", "style", "editing", "edited", "typos",
                "grammar", "spelling", "narrat*", "descripti*", "wordy", "dialogue", "dialog"],
    "romance": ["romance", "romantic", "love story", "love", "passion*", "chemistry", "relationship*", "sex",
                "sexy", "steamy", "kiss*"],
    "series": ["series", "sequel", "installment", "instalment", "next book", "trilogy", "prequel", "volume"],
    "length": ["short", "long", "novella", "pages", "length", "lengthy", "too short", "too long"],
    "emotion": ["cried", "tears", "laughed", "heartwarming", "heartbreaking", "moving", "touching", "emotional",
                "feel good", "feel-good", "uplifting", "sad", "depressing"],
    # Movies
    "humour": ["funny", "humor*", "humour*", "comedy", "comedic", "hilarious", "laugh*", "jokes", "witty"],
    "violence": ["violence", "violent", "gore", "gory", "bloody", "brutal", "fight*", "war", "kill*", "murder*"],
    "action": ["action", "explosion*", "chase", "stunts", "adventure"],
    "horror": ["horror", "scary", "creepy", "terrifying", "frightening", "spooky"],
    "acting": ["acting", "actor*", "actress*", "performance*", "cast", "starring", "played", "role*"],
    "visuals": ["visual*", "cinematography", "effects", "cgi", "special effects", "scenery", "animation",
                "animated", "shot", "filmed"],
    "music": ["music", "soundtrack", "score", "songs", "song", "musical"],
    "family": ["kids", "children", "family", "child", "grandchildren", "daughter", "son"],
    # Learning and information
    "informative": ["informative", "learned", "learn*", "useful", "helpful information", "research*", "facts",
                    "accurate", "insight*", "educational", "recipes", "recipe", "tips"],
    # Food and places
    "food": ["food", "meal*", "dish*", "menu", "portion*", "restaurant"],
    "cleanliness": ["clean*", "dirty", "filthy", "messy", "hygien*"],
    "location": ["location", "located", "neighborhood", "neighbourhood", "view", "parking"],
}


def _compile() -> tuple[dict[str, str], list[tuple[str, str]], list[tuple[re.Pattern[str], str]]]:
    exact: dict[str, str] = {}
    prefixes: list[tuple[str, str]] = []
    phrases: list[tuple[re.Pattern[str], str]] = []
    for aspect, cues in ASPECTS.items():
        for cue in cues:
            if " " in cue or "-" in cue:
                phrases.append((re.compile(r"\b" + re.escape(cue) + r"\b"), aspect))
            elif cue.endswith("*"):
                prefixes.append((cue[:-1], aspect))
            else:
                exact.setdefault(cue, aspect)
    prefixes.sort(key=lambda p: -len(p[0]))
    return exact, prefixes, phrases


_EXACT, _PREFIXES, _PHRASES = _compile()


@lru_cache(maxsize=65536)
def aspect_of_word(word: str) -> str | None:
    """Return the aspect a single lower-cased word points to, or None."""
    hit = _EXACT.get(word)
    if hit:
        return hit
    for prefix, aspect in _PREFIXES:
        if word.startswith(prefix):
            return aspect
    return None


def match_aspects(text: str, tokens: list[str]) -> list[tuple[str, str]]:
    """Return ``(aspect, cue)`` pairs found in a clause, multi-word cues first, in order of appearance.

    Args:
        text: The clause text.
        tokens: Its lower-cased words.
    """
    low = text.lower()
    found: list[tuple[int, str, str]] = []
    for pattern, aspect in _PHRASES:
        m = pattern.search(low)
        if m:
            found.append((m.start() - 10_000, aspect, m.group(0)))
    for i, w in enumerate(tokens):
        a = aspect_of_word(w)
        if a:
            found.append((i, a, w))
    found.sort(key=lambda t: t[0])
    return [(a, cue) for _, a, cue in found]
