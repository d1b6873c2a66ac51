"""``reflect``: RPO at inference time: a generic answer first, then a rewrite for this user.

The rewrite sees the generic answer, the preference summary and the user's BM25-retrieved history,
and is asked to keep the draft where it fits the user and change it where it does not. Both
answers stay in the trace (``llm`` then ``retrieve`` then ``rewrite``); the rewrite is the answer.
"""

from __future__ import annotations

from core.llm.fence import quote
from core.methods.bm25 import EXAMPLES_TITLE
from core.methods.context import AnswerContext
from core.methods.prompting import call_answer
from core.methods.steps import examples_section, retrieve_step
from core.methods.summary import SUMMARY_TITLE
from core.methods.types import Answer, StepDetail, Trace

DRAFT_TEMPLATE = ("## Draft answer\nA generic answer, given without knowing this user, was: {draft}\n"
                  "Check the draft against what is known about this user. Keep it if it fits them; "
                  "otherwise change it to the answer this user would give.")


class ReflectMethod:
    """Generic answer, then a rewrite conditioned on the summary and retrieved history."""

    name = "reflect"

    def answer(self, query: str, context: AnswerContext) -> Answer:
        """Answer ``query`` generically, then rewrite the answer for the user."""
        draft = call_answer(context, query, [], name="Generic answer (no user information)")
        docs, retrieve = retrieve_step(context, lambda q, k: context.bm25_retriever().retrieve(q, k), query,
                                       name="Retrieve history by BM25 for the rewrite")
        summary = context.summary_text
        version = context.profile.summary_version if summary else None
        rewrite = call_answer(
            context, query, [(SUMMARY_TITLE, summary),
                             (EXAMPLES_TITLE, examples_section(context, docs))],
            kind="rewrite", name="Rewrite the generic answer for this user",
            preamble=DRAFT_TEMPLATE.format(draft=quote(draft.text) if draft.text else "(no answer)"),
            detail=StepDetail(summary_version=version, extra={"draft": draft.text, "draft_value": draft.value}))
        rewrite.step.detail.extra["changed"] = rewrite_changed(draft.value, rewrite.value)
        return Answer(text=rewrite.text, value=rewrite.value,
                      trace=Trace(method=self.name, query=query, steps=[draft.step, retrieve, rewrite.step],
                                  summary_version=version))


def rewrite_changed(draft: object, final: object) -> bool | None:
    """Whether the rewrite changed the parsed answer (None when either is missing)."""
    if draft is None or final is None:
        return None
    return draft != final
