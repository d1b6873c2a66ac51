"""``summary``: condition on the preference summary only (POPI-style), never on raw history."""

from __future__ import annotations

from core.llm.tokens import count_tokens
from core.methods.context import AnswerContext
from core.methods.prompting import call_answer
from core.methods.types import Answer, StepDetail, Trace

SUMMARY_TITLE = "What is known about this user"


class SummaryMethod:
    """Put the user's preference summary (the version in the profile) in front of the query.

    Trace: one ``llm`` step whose detail records the summary version and its token count; the
    trace's ``summary_version`` is set when the summary was used.
    """

    name = "summary"

    def answer(self, query: str, context: AnswerContext) -> Answer:
        """Answer ``query`` from the preference summary."""
        summary = context.summary_text
        version = context.profile.summary_version if summary else None
        out = call_answer(context, query, [(SUMMARY_TITLE, summary)], name="Answer from the preference summary",
                          detail=StepDetail(summary_version=version, extra={"summary_tokens": count_tokens(summary)}))
        return Answer(text=out.text, value=out.value,
                      trace=Trace(method=self.name, query=query, steps=[out.step], summary_version=version))
