"""The answering-method protocol and the trace it returns.

A trace is the contract between methods and the step-by-step page: an ordered list of typed steps,
each with its input, output, retrieved documents, tokens, latency and status.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal, Protocol, runtime_checkable

from core.stages.types import RetrievedDoc

StepKind = Literal["features", "retrieve", "reason", "llm", "rewrite"]


@dataclass
class PoolMatch:
    """What the ``pool`` method's retrieve step chose from (drawn by the pages as pool tables).

    Attributes:
        entries: The chosen entries, best first: ``{id, kind, text, source, factor_id, item_id,
            similarity, score}``.
        candidates: The best candidates (at most 20), the chosen ones included, in the same form.
        pool_size: Entries in the pool the candidates came from.
        pool_source: ``stored`` (the user's own pool) or ``default`` (built from the profile).
        reranker: The re-ranker's weights and training counts, or None.
        ranking: ``reranker`` or ``similarity``.
    """

    entries: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    pool_size: int
    pool_source: str
    reranker: dict[str, Any] | None = None
    ranking: str = "similarity"


_POOL_KEYS = ("entries", "candidates", "pool_size", "pool_source", "reranker", "ranking")


@dataclass
class StepDetail:
    """What a step records beyond its input and output, typed where other modules read it.

    In a stored trace the detail is one flat JSON object (:meth:`to_dict`); :meth:`from_dict` reads
    it back, so traces stored before this class existed open unchanged. Fields left None are not
    written.

    Attributes:
        system: Model calls: the system prompt.
        value: Model calls: the parsed answer (None when it could not be parsed).
        raw: Model calls: the whole completion.
        error: Why the step failed, for the user.
        cache_hit: Model calls: answered from the workspace cache.
        choices: Model calls: the options the answer was constrained to.
        sections: Model calls: the prompt sections that had content.
        trimmed: Model calls: the prompt was shortened to fit the context.
        choice_scores: Model calls: the option distributions of a closed-choice answer (local backend).
        model_ms: Model calls: the client's own latency figure.
        k: Retrieval: items asked for.
        removed: Retrieval: items left out because an ablation disabled them.
        pool: The pool method's retrieve step: what it chose from.
        factors: Reasoning: factor records used (see :func:`core.methods.render.factor_record`).
        factor_ids: Ids of the factors the answer used.
        paths: Reasoning paths shown (``{"item_id", "text"}`` records).
        decision: ``rpm``'s decision record (rule, distributions, contributions).
        summary_version: The summary version the step used.
        extra: What only one method records (shown as is): e.g. ``fit_ms``, ``draft``, ``changed``.
    """

    system: str | None = None
    value: Any = None
    raw: str | None = None
    error: str | None = None
    cache_hit: bool | None = None
    choices: list[str] | None = None
    sections: list[str] | None = None
    trimmed: bool | None = None
    choice_scores: dict[str, Any] | None = None
    model_ms: float | None = None
    k: int | None = None
    removed: list[str] | None = None
    pool: PoolMatch | None = None
    factors: list[dict[str, Any]] | None = None
    factor_ids: list[str] | None = None
    paths: list[Any] | None = None
    decision: dict[str, Any] | None = None
    summary_version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the flat JSON-ready form stored in traces (the pool's fields at the top level, as always)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "pool":
                if value is not None:
                    out.update(asdict(value))
            elif f.name != "extra" and value is not None:
                out[f.name] = value
        return {**out, **self.extra}

    def merged(self, other: StepDetail | None) -> StepDetail:
        """Return this detail with ``other``'s set fields and extra laid over it (``other`` wins)."""
        if other is None:
            return self
        set_fields = {f.name: getattr(other, f.name) for f in fields(other)
                      if f.name != "extra" and getattr(other, f.name) is not None}
        return replace(self, **set_fields, extra={**self.extra, **other.extra})

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> StepDetail:
        """Read the stored form; keys no field names go to ``extra``."""
        d = dict(d or {})
        pool = None
        if "pool_source" in d:  # the stored form marks the pool step by its pool fields
            pool = PoolMatch(**{k: d.pop(k) for k in _POOL_KEYS if k in d})
        named = {f.name for f in fields(cls)} - {"pool", "extra"}
        return cls(**{k: d.pop(k) for k in list(d) if k in named}, pool=pool, extra=d)


@dataclass
class Step:
    """One step of a method run.

    Attributes:
        kind: ``features``, ``retrieve``, ``reason``, ``llm`` or ``rewrite``.
        name: Human title, e.g. "Retrieve by feature similarity".
        input: What went in (text or JSON-ready data; the final prompt for llm steps).
        output: What came out.
        documents: Retrieved documents (retrieve steps).
        tokens_in: Prompt tokens (llm steps).
        tokens_out: Completion tokens.
        latency_ms: Wall time.
        status: ``ok`` or ``error``.
        detail: What else the step records (factors used, summary version, cache hit...).
    """

    kind: StepKind
    name: str
    input: Any = None
    output: Any = None
    documents: list[RetrievedDoc] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    status: str = "ok"
    detail: StepDetail = field(default_factory=StepDetail)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the detail in its flat stored form)."""
        out = asdict(self)
        out["detail"] = copy.deepcopy(self.detail.to_dict())
        return out


@dataclass
class Trace:
    """The steps of one method run on one query."""

    method: str
    query: str
    steps: list[Step] = field(default_factory=list)
    summary_version: int | None = None

    @property
    def tokens_in(self) -> int:
        """Total prompt tokens."""
        return sum(s.tokens_in for s in self.steps)

    @property
    def tokens_out(self) -> int:
        """Total completion tokens."""
        return sum(s.tokens_out for s in self.steps)

    @property
    def latency_ms(self) -> float:
        """Total wall time."""
        return sum(s.latency_ms for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"method": self.method, "query": self.query, "steps": [s.to_dict() for s in self.steps],
                "summary_version": self.summary_version}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        """Build from :meth:`to_dict` output."""
        steps = []
        for s in d.get("steps", []):
            s = dict(s)
            s["documents"] = [RetrievedDoc(**doc) for doc in s.get("documents", [])]
            s["detail"] = StepDetail.from_dict(s.get("detail"))
            steps.append(Step(**s))
        return cls(method=d["method"], query=d["query"], steps=steps, summary_version=d.get("summary_version"))


@dataclass
class Answer:
    """A method's answer to a query.

    Attributes:
        text: The answer as produced (a score as text, a label, or free text).
        value: The parsed answer: a float for scores, the label for labels, the text for text tasks;
            None when it could not be parsed.
        trace: How it was produced.
    """

    text: str
    value: Any
    trace: Trace

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"text": self.text, "value": self.value, "trace": self.trace.to_dict()}


@runtime_checkable
class Method(Protocol):
    """An answering method (zero, bm25, summary, rpm, reflect, pool)."""

    name: str

    def answer(self, query: str, context: Any) -> Answer:
        """Answer ``query`` for the user described by ``context`` (a :class:`core.methods.context.AnswerContext`)."""
        ...
