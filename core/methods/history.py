"""``history``: the full-context reference: as much of the user's raw history as the model's context holds.

POPI (and any summary method) claims to replace most of this context at a fraction of its tokens;
``history`` is what it is measured against. Items go newest first, so when the history is longer
than the context window it is the oldest ones that are left out.
"""

from __future__ import annotations

import time

from core.llm.tokens import count_message_tokens, count_tokens
from core.methods.bm25 import EXAMPLES_TITLE
from core.methods.context import AnswerContext
from core.methods.prompting import (
    CLOSED_MAX_TOKENS,
    TEXT_MAX_TOKENS,
    answer_schema,
    build_messages,
    call_answer,
    format_example,
    prompt_budget,
)
from core.methods.types import Answer, RetrievedDoc, Step, StepDetail, Trace

EXAMPLE_OVERHEAD = 4  # "Example n" and the blank line between examples, in estimated tokens


class HistoryMethod:
    """Show the user's history items (newest first, as many as fit) as (input, response) examples.

    Trace: ``retrieve`` (the items taken, in prompt order, and how many did not fit), ``llm``.
    """

    name = "history"

    def answer(self, query: str, context: AnswerContext) -> Answer:
        """Answer ``query`` with the user's whole history (what fits) as examples."""
        t0 = time.perf_counter()
        items = [it for it in reversed(context.profile.items) if it.id not in context.disabled_items]
        schema = answer_schema(context.task, context.answer_choices)
        budget = prompt_budget(context, TEXT_MAX_TOKENS if schema is None else CLOSED_MAX_TOKENS)
        room = budget - count_message_tokens(build_messages(context.task, query, [(EXAMPLES_TITLE, "x")],
                                                             context.answer_choices))
        taken, blocks = [], []
        for it in items:
            block = format_example(it, context.max_history_chars)
            cost = count_tokens(block) + EXAMPLE_OVERHEAD
            if cost > room:
                break  # newest first: everything older is left out too, so the prompt stays a recent window
            room -= cost
            taken.append(it)
            blocks.append(f"Example {len(blocks) + 1}\n{block}")
        docs = [RetrievedDoc(id=it.id, text=it.input, output=it.output, score=0.0) for it in taken]
        step = Step(kind="retrieve", name="Take the history, newest first", input=query, output=[d.id for d in docs],
                    documents=docs, latency_ms=(time.perf_counter() - t0) * 1000.0,
                    detail=StepDetail(extra={"items": len(items), "taken": len(taken),
                                             "left_out": len(items) - len(taken)}))
        out = call_answer(context, query, [(EXAMPLES_TITLE, "\n\n".join(blocks))],
                          name="Answer with the whole history")
        return Answer(text=out.text, value=out.value,
                      trace=Trace(method=self.name, query=query, steps=[step, out.step]))
