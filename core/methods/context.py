"""What a method needs to answer for one user: task, profile, client, embedder and ablation switches.

An :class:`AnswerContext` is cheap to copy: :meth:`AnswerContext.ablated` returns a copy with one
more factor / item disabled or the summary off, sharing the lazily built retrievers and caches, so
an ablation re-run costs only the changed LLM call.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from core.data.model import Item, Task
from core.embed.base import Embedder
from core.llm.client import LLMClient
from core.methods.choices import answer_choices
from core.methods.types import RetrievedDoc
from core.stages.profile import Profile
from core.stages.retrieval import BM25Retriever, FeatureRetriever, profile_retriever
from core.stages.types import Factor

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class PoolEntry:
    """One prompt snippet or demonstration of a user's pool (PILLOW).

    Attributes:
        id: Unique within the pool.
        text: The snippet (an instruction sentence, or a rendered input/response example).
        kind: ``"instruction"`` or ``"demo"``.
        factor_id: The factor the entry speaks for, if any (default pools set it).
        item_id: The history item a demo was taken from, if any.
        source: Where it came from: ``summary``, ``factor``, ``demo`` or ``user``.
    """

    id: str
    text: str
    kind: Literal["instruction", "demo"] = "instruction"
    factor_id: str | None = None
    item_id: str | None = None
    source: str = "user"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PoolEntry:
        """Build from :meth:`to_dict` output (``id``, ``text`` and ``kind`` are enough)."""
        return cls(id=str(d["id"]), text=str(d["text"]), kind=d.get("kind", "instruction"),
                   factor_id=d.get("factor_id"), item_id=d.get("item_id"), source=d.get("source", "user"))


@dataclass
class AnswerContext:
    """Everything a method needs to answer for one user.

    Attributes:
        task: The task (instruction, score range, labels).
        profile: The user's built profile (items, features, factors, summary, paths).
        client: The LLM client every call goes through.
        embedder: Embeds query features and pool entries.
        k: How many history items / pool entries to retrieve.
        disabled_factors: Factor ids left out (ablation or analyst choice).
        disabled_items: History item ids left out of what was retrieved (not replaced by the next
            best, so an ablation removes exactly one item).
        use_summary: Whether the preference summary may be shown.
        pool: The user's pool of snippets (``pool`` method); None builds a default from the profile.
        run_id: The workspace run the LLM calls are recorded under.
        max_history_chars: Cap on each history item's input text pasted into a prompt.
        reason_first: ``rpm`` asks the model to reason about the user in free text first and
            answers with that reasoning in the prompt (both calls in the trace).
        progress: ``progress(done, total, label)``, called by a method during a long part of one
            answer (``rpm`` fitting its decision rule, dev item by dev item) so that whoever runs
            the answer can show how far it is; None: nobody listens. It changes no answer, so it
            is in no cache or memo key (and copies share it).
    """

    task: Task
    profile: Profile
    client: LLMClient
    embedder: Embedder
    k: int = 4
    disabled_factors: frozenset[str] = frozenset()
    disabled_items: frozenset[str] = frozenset()
    use_summary: bool = True
    pool: list[PoolEntry] | None = None
    run_id: str | None = None
    max_history_chars: int = 600
    reason_first: bool = False
    progress: Callable[[int, int, str], None] | None = field(default=None, repr=False, compare=False)
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    # -- copies -----------------------------------------------------------------------------------
    def ablated(self, *, factor: str | None = None, item: str | None = None, summary: bool = False) -> AnswerContext:
        """Return a copy with ``factor`` / ``item`` disabled and, if ``summary``, the summary off.

        The copy shares this context's retrievers and caches.
        """
        copy = dataclasses.replace(
            self,
            disabled_factors=self.disabled_factors | ({factor} if factor else set()),
            disabled_items=self.disabled_items | ({item} if item else set()),
            use_summary=self.use_summary and not summary)
        copy._cache = self._cache
        return copy

    def memo(self, key: Any, build: Callable[[], Any]) -> Any:
        """Return the value cached under ``key`` (shared with ablated copies), building it once."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def report(self, done: int, total: int, label: str) -> None:
        """Report ``done`` of ``total`` steps of a long part of the answer (see ``progress``); else nothing."""
        if self.progress is not None:
            self.progress(done, total, label)

    # -- views of the profile ---------------------------------------------------------------------
    @property
    def answer_choices(self) -> list[str] | None:
        """The closed answer set (see :func:`core.methods.choices.answer_choices`)."""
        return self.memo(("choices", self.task),
                         lambda: answer_choices(self.task, [it.output for it in self.profile.items]))

    @property
    def summary_text(self) -> str:
        """The preference summary, or ``""`` when it is switched off or missing.

        Sentences naming a disabled factor are left out, so removing a factor also removes what
        the summary says about it (otherwise an ablation would leak the factor back in).
        """
        if not self.use_summary:
            return ""
        text = (self.profile.summary or "").strip()
        names = [f.name.strip().lower() for f in self.profile.factors
                 if f.id in self.disabled_factors and len(f.name.strip()) >= 3]
        if not names or not text:
            return text
        kept = [s for s in _SENTENCE.split(text) if not any(n in s.lower() for n in names)]
        return " ".join(kept).strip()

    def active_factors(self) -> list[Factor]:
        """The user's factors that may be shown: not noise and not disabled."""
        return [f for f in self.profile.factors if not f.is_noise and f.id not in self.disabled_factors]

    def item(self, item_id: str) -> Item | None:
        """Return a history item by id, or None."""
        return self.memo("items", lambda: {it.id: it for it in self.profile.items}).get(item_id)

    # -- retrieval --------------------------------------------------------------------------------
    def bm25_retriever(self) -> BM25Retriever:
        """The raw-text BM25 retriever over the user's history (built once, shared by copies)."""
        return self.memo("bm25", lambda: BM25Retriever(self.profile.items, self.profile.paths))

    def feature_retriever(self) -> FeatureRetriever:
        """The feature-level retriever over the user's profile (built once, shared by copies).

        The query's features are extracted with the same kind of extractor that built the profile.
        """
        return self.memo("features",
                         lambda: profile_retriever(self.profile, client=self.client, embedder=self.embedder))

    def keep(self, docs: list[RetrievedDoc]) -> list[RetrievedDoc]:
        """Drop disabled items from retrieved documents (the rest keep their order)."""
        return [d for d in docs if d.id not in self.disabled_items]
