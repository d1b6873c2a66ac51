"""The answering methods by name."""

from __future__ import annotations

from core.errors import InputError, Problem
from core.methods.bm25 import BM25Method
from core.methods.bm25_lamp import BM25LampMethod
from core.methods.history import HistoryMethod
from core.methods.pool import PoolMethod
from core.methods.reflect import ReflectMethod
from core.methods.rpm import RPMMethod
from core.methods.summary import SummaryMethod
from core.methods.types import Method
from core.methods.zero import ZeroMethod

METHOD_NAMES = ["zero", "history", "bm25", "bm25-lamp", "summary", "rpm", "reflect", "pool"]

_FACTORIES = {"zero": ZeroMethod, "history": HistoryMethod, "bm25": BM25Method, "bm25-lamp": BM25LampMethod,
              "summary": SummaryMethod, "rpm": RPMMethod, "reflect": ReflectMethod, "pool": PoolMethod}

DESCRIPTIONS = {
    "zero": "No personalization: the task instruction and the query only.",
    "history": "The full-context reference: the user's history, newest first, as much as the context holds.",
    "bm25": "LaMP baseline: the top-k history items by BM25 over raw text, pasted as examples.",
    "bm25-lamp": "LaMP's own BM25 retrieval (str.split tokens, its task fields, k = 1), pasted as examples.",
    "summary": "The preference summary only (POPI-style).",
    "rpm": "Factors with statistics + summary + the reasoning paths of feature-retrieved items.",
    "reflect": "A generic answer, then a rewrite conditioned on the summary and retrieved history.",
    "pool": "The best few snippets / demos of the user's prompt pool (PILLOW-style), prepended.",
}


def get_method(name: str) -> Method:
    """Return a new method instance by name.

    Raises:
        core.errors.InputError: Unknown method (field ``method``).
    """
    factory = _FACTORIES.get((name or "").strip().lower())
    if factory is None:
        raise InputError(Problem("method", None, "method",
                                 f"unknown method {name!r}; choose one of {', '.join(METHOD_NAMES)}"))
    return factory()
