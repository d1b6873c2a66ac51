"""``bm25``: LaMP's retrieval baseline: the top-k history items by BM25 over raw text, pasted as examples."""

from __future__ import annotations

from core.methods.context import AnswerContext
from core.methods.prompting import call_answer
from core.methods.steps import examples_section, retrieve_step
from core.methods.types import Answer, Trace

EXAMPLES_TITLE = "Past inputs and this user's responses"


class BM25Method:
    """Retrieve the ``k`` most BM25-similar history items and show them as (input, response) examples.

    Trace: ``retrieve`` (documents with BM25 scores), ``llm``.
    """

    name = "bm25"

    def answer(self, query: str, context: AnswerContext) -> Answer:
        """Answer ``query`` with the user's BM25-retrieved history as examples."""
        # The index is built (once per context) inside the timed step, so the trace shows its cost.
        docs, retrieve = retrieve_step(context, lambda q, k: context.bm25_retriever().retrieve(q, k), query,
                                       name="Retrieve by BM25 over raw text")
        out = call_answer(context, query, [(EXAMPLES_TITLE, examples_section(context, docs))],
                          name="Answer with retrieved examples")
        return Answer(text=out.text, value=out.value,
                      trace=Trace(method=self.name, query=query, steps=[retrieve, out.step]))
