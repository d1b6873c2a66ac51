"""The answering-method protocol and the trace it returns.

A trace is the contract between methods and the step-by-step page: an ordered list of typed steps,
each with its input, output, retrieved documents, tokens, latency and status.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from core.stages.types import RetrievedDoc

StepKind = Literal["features", "retrieve", "reason", "llm", "rewrite"]


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
        detail: Anything else worth showing (factors used, summary version, cache hit...).
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
    detail: dict[str, Any] = field(default_factory=dict)


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
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        """Build from :meth:`to_dict` output."""
        steps = []
        for s in d.get("steps", []):
            s = dict(s)
            s["documents"] = [RetrievedDoc(**doc) for doc in s.get("documents", [])]
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
