"""Building blocks shared by the methods: a timed retrieval step and the history-examples section."""

from __future__ import annotations

import time
from collections.abc import Callable

from core.methods.context import AnswerContext
from core.methods.prompting import format_example
from core.methods.types import RetrievedDoc, Step, StepDetail


def retrieve_step(ctx: AnswerContext, fetch: Callable[[str, int], list[RetrievedDoc]], query: str, *, name: str,
                  detail: StepDetail | None = None) -> tuple[list[RetrievedDoc], Step]:
    """Retrieve the top ``ctx.k`` history items, drop disabled ones, and record a ``retrieve`` step.

    Args:
        ctx: The answer context.
        fetch: ``(query_text, k) -> documents``, e.g. a retriever's ``retrieve``.
        query: The query text.
        name: Step title.
        detail: Extra step detail.

    Returns:
        The kept documents and the step (its ``detail.removed`` lists disabled items dropped).
    """
    t0 = time.perf_counter()
    found = list(fetch(query, ctx.k)) if ctx.k > 0 else []
    docs = ctx.keep(found)
    latency = (time.perf_counter() - t0) * 1000.0
    removed = [d.id for d in found if d.id in ctx.disabled_items]
    step = Step(kind="retrieve", name=name, input=query, output=[d.id for d in docs], documents=docs,
                latency_ms=latency, detail=StepDetail(k=ctx.k, removed=removed).merged(detail))
    return docs, step


def examples_section(ctx: AnswerContext, docs: list[RetrievedDoc]) -> str:
    """Render retrieved items as numbered (input, the user's response) examples."""
    blocks = []
    for n, doc in enumerate(docs, 1):
        item = ctx.item(doc.id)
        if item is None:
            continue
        blocks.append(f"Example {n}\n{format_example(item, ctx.max_history_chars)}")
    return "\n\n".join(blocks)
