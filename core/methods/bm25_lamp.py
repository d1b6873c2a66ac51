"""``bm25-lamp``: LaMP's BM25 retrieval reproduced (its fields, ``str.split()`` tokens, k = 1), as examples.

Only the retrieval is LaMP's (:mod:`core.stages.lamp_retrieval`); the retrieved items go into the
same prompt as ``bm25``'s, so the two methods differ in which items they show, nothing else.
"""

from __future__ import annotations

from core.methods.bm25 import EXAMPLES_TITLE
from core.methods.context import AnswerContext
from core.methods.prompting import call_answer
from core.methods.steps import examples_section, retrieve_step
from core.methods.types import Answer, RetrievedDoc, StepDetail, Trace
from core.stages.lamp_retrieval import LAMP_K, LampBM25Retriever


class BM25LampMethod:
    """Retrieve LaMP's top ``k`` (default LaMP's 1) history items by its BM25 and show them as examples.

    Trace: ``retrieve`` (documents with BM25 scores), ``llm``.
    """

    name = "bm25-lamp"

    def __init__(self, k: int = LAMP_K) -> None:
        """Set how many items to retrieve (LaMP's ``--num_retrieved``, default 1)."""
        self.k = k

    def answer(self, query: str, context: AnswerContext) -> Answer:
        """Answer ``query`` with the user's LaMP-BM25-retrieved history as examples."""
        def fetch(text: str, _k: int) -> list[RetrievedDoc]:
            # the index is built inside the step (once per context family), so the trace accounts for it
            retriever = context.memo(("bm25-lamp", context.task.name),
                                     lambda: LampBM25Retriever(context.profile.items, context.task,
                                                               context.profile.paths))
            return retriever.retrieve(text, self.k)

        docs, retrieve = retrieve_step(context, fetch, query,
                                       name="Retrieve by LaMP's BM25 (str.split, its fields)",
                                       detail=StepDetail(extra={"lamp_k": self.k}))
        out = call_answer(context, query, [(EXAMPLES_TITLE, examples_section(context, docs))],
                          name="Answer with retrieved examples")
        return Answer(text=out.text, value=out.value,
                      trace=Trace(method=self.name, query=query, steps=[retrieve, out.step]))
