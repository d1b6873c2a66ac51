"""``zero``: answer without any personalization (the non-personalized baseline)."""

from __future__ import annotations

from core.methods.context import AnswerContext
from core.methods.prompting import call_answer
from core.methods.types import Answer, Trace


class ZeroMethod:
    """Ask the model with the task instruction and the query only; the trace is one ``llm`` step."""

    name = "zero"

    def answer(self, query: str, context: AnswerContext) -> Answer:
        """Answer ``query`` without any user information."""
        out = call_answer(context, query, [], name="Answer without personalization")
        return Answer(text=out.text, value=out.value, trace=Trace(method=self.name, query=query, steps=[out.step]))
