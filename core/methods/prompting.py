"""Shared prompt building, the final LLM call and answer parsing for every answering method.

Every method assembles *sections* (titled blocks of user information: factors, a summary,
examples, paths...) and hands them to :func:`call_answer`, which is the only place that builds the
final prompt, calls the client (``stage="answer"``, the context's run id, so the call is cached and
traced) and turns the result into an ``llm`` (or ``rewrite``) :class:`~core.methods.types.Step`.

Answers are constrained where the task allows it, because tiny local models only follow closed
sets reliably:

* score tasks: a pydantic model whose single field is an enum of the valid integer scores
  (``"1"`` .. ``"5"``), parsed to ``float``;
* label tasks: an enum of the labels (``task.labels``, or the labels seen in the user's history);
* text tasks: short free text.

Prompts are fitted to the model's context window (:func:`fit_messages`): the longest user-information
section is shortened first, then the query, and the step records ``detail.trimmed``.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, create_model

from core.data.model import Item, Task
from core.llm.choice_scoring import CONTENT_FREE_INPUT
from core.llm.fence import quote, quote_list, with_data_rule
from core.llm.tokens import count_message_tokens
from core.llm.types import ChatRequest, Message
from core.methods.context import AnswerContext
from core.methods.types import Step, StepDetail, StepKind

SYSTEM_PROMPT = with_data_rule("You predict how one specific user would respond to a new input. Base the answer on "
                               "what is known about this user, when anything is given, and follow the answer format "
                               "exactly.")
MAX_QUERY_CHARS = 3000
TEXT_MAX_TOKENS = 128
CLOSED_MAX_TOKENS = 32
CONTEXT_SAFETY = 0.8  # token counts are estimates (within ~15% of real tokenizers)
MIN_SECTION_CHARS = 200

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def default_instruction(task: Task) -> str:
    """Return the task's instruction, or a generic one for its kind when it has none."""
    if task.instruction.strip():
        return task.instruction.strip()
    if task.kind == "score":
        return (f"What score from {_fmt_num(task.score_min)} to {_fmt_num(task.score_max)} would this user "
                "give the following input?")
    if task.kind == "label":
        return "Which label would this user give the following input?"
    return "Write the response this user would write for the following input."


@lru_cache(maxsize=64)
def _enum_model(choices: tuple[str, ...]) -> type[BaseModel]:
    return create_model("Answer", answer=(Literal[choices], ...))  # type: ignore[valid-type]


@lru_cache(maxsize=4)
def _number_model() -> type[BaseModel]:
    return create_model("Answer", answer=(float, ...))


def answer_schema(task: Task, choices: list[str] | None) -> type[BaseModel] | None:
    """Return the pydantic model the answer must validate against, or None for free text.

    The model has one field, ``answer``: an enum of ``choices`` when given, a number for score
    tasks without a closed set.
    """
    if choices:
        return _enum_model(tuple(choices))
    if task.kind == "score":
        return _number_model()
    return None


def answer_format(task: Task, choices: list[str] | None) -> str:
    """Return the one-line answer format put at the end of the prompt."""
    if choices and task.kind == "score":
        return f"Answer with only the score, one of: {', '.join(choices)}."
    if choices:  # labels come from the data: fenced like any other data
        return "Answer with only the label, exactly one of: " + quote_list(choices) + "."
    if task.kind == "score":
        return f"Answer with only a number from {_fmt_num(task.score_min)} to {_fmt_num(task.score_max)}."
    return "Answer with only the response text, in one or two short sentences, nothing else."


def parse_answer(text: str, task: Task, choices: list[str] | None = None) -> Any:
    """Read a model's answer.

    Accepts the structured form (``{"answer": "4"}``) and plain text ("4", "Rating: 4 stars",
    a label in prose).

    Args:
        text: The completion text.
        task: The task (how to read the answer).
        choices: The closed label set, if any (label tasks); defaults to ``task.labels``.

    Returns:
        A float for score tasks (None when no in-range number is found), the matching label for
        label tasks (None when none matches), the stripped text for text tasks.

    Examples:
        >>> parse_answer('{"answer": "4"}', Task(kind="score"))
        4.0
        >>> parse_answer("I think 2 stars.", Task(kind="score"))
        2.0
        >>> parse_answer("it is Comedy", Task(kind="label", labels=("drama", "comedy")))
        'comedy'
    """
    raw = _structured_value(text)
    body = raw if raw is not None else (text or "")
    if task.kind == "score":
        for m in _NUMBER.finditer(body):
            value = task.parse_score(m.group(0))
            if value is not None:
                return value
        return None
    if task.kind == "label":
        labels = list(choices or task.labels)
        if not labels:
            return body.strip() or None
        return _match_label(body, labels)
    return _clean_text(body)


def _structured_value(text: str) -> str | None:
    """Return the ``answer`` field of a JSON object in ``text``, if there is one."""
    start = (text or "").find("{")
    if start < 0:
        return None
    try:
        obj, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError:
        return None
    if isinstance(obj, dict) and "answer" in obj and obj["answer"] is not None:
        return str(obj["answer"])
    return None


def _match_label(body: str, labels: list[str]) -> str | None:
    norm = body.strip().strip(".\"'").lower()
    for label in labels:
        if norm == label.lower():
            return label
    hits = []
    for label in sorted(labels, key=len, reverse=True):
        m = re.search(r"(?<!\w)" + re.escape(label.lower()) + r"(?!\w)", body.lower())
        if m:
            hits.append((m.start(), -len(label), label))
    return min(hits)[2] if hits else None


# Labels a model copies from the prompt's examples ("Input: ...\nThe user's response: ...", rpm's
# "The user wrote: ..." for histories of the user's own texts) or
# adds itself ("Answer:", "**Response:**"); they lead the answer, possibly after an echoed input.
_LEAD_LABEL = re.compile(r"^[*_\s]*(?:(?:(?:the\s+)?user[’']?s\s+)?(?:answer|response|output|reply)|(?:the\s+)?user\s+"
                         r"wrote)[*_\s]*:[*_\s]*", re.IGNORECASE)
_ECHOED_INPUT = re.compile(r"^\s*input\s*:.*?\n(?=[*_\s]*(?:(?:the\s+)?user[’']?s\s+)?(?:answer|response|output|reply)"
                           r"[*_\s]*:)", re.IGNORECASE | re.DOTALL)


def _clean_text(body: str) -> str:
    text = _ECHOED_INPUT.sub("", body.strip(), count=1)
    for _ in range(3):  # "Answer: The user's response: ..." sheds both labels
        stripped = _LEAD_LABEL.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped.strip()
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def truncate(text: str, max_chars: int) -> str:
    """Return ``text`` cut to ``max_chars`` characters (with an ellipsis), whitespace collapsed."""
    text = " ".join((text or "").split())
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    return text[: max(0, max_chars - 1)].rstrip() + "…"


def format_example(item: Item, max_chars: int) -> str:
    """Render a history item as an (input, the user's response) example."""
    return f"Input: {truncate(item.input, max_chars)}\nThe user's response: {item.output}"


def build_messages(task: Task, query: str, sections: list[tuple[str, str]], choices: list[str] | None, *,
                   preamble: str | None = None) -> list[Message]:
    """Build the chat messages of an answering call.

    Args:
        task: The task (instruction and answer format).
        query: The new input.
        sections: ``(title, body)`` blocks of user information, in order; empty bodies are skipped.
        choices: The closed answer set, if any.
        preamble: Extra text put before the query (e.g. a draft to rewrite).

    Every section body and the query are user data, each fenced as one JSON string
    (:func:`core.llm.fence.quote`), so nothing in them can end the section, forge a heading or an
    ``Input:`` / response line; the system prompt says the fenced text is data.

    Returns:
        A system message and one user message.
    """
    parts = [f"## {title}\n{quote(body.strip())}" for title, body in sections if body and body.strip()]
    if preamble:
        parts.append(preamble.strip())
    parts.append(f"## Task\n{default_instruction(task)}\n\nInput: {quote(truncate(query, MAX_QUERY_CHARS))}")
    parts.append(answer_format(task, choices))
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]


def fit_messages(task: Task, query: str, sections: list[tuple[str, str]], choices: list[str] | None, *,
                 budget: int, preamble: str | None = None, shared: int = 0,
                 late_budget: int | None = None) -> tuple[list[Message], bool]:
    """Build the messages, shortening them until their estimated tokens fit ``budget``.

    The longest section is cut by a quarter (at a line break when there is one) until the prompt
    fits; when every section is short (or there are none) the query is cut instead. "Short" is
    ``MIN_SECTION_CHARS``, then, for tiny context windows, a fifth of it. Token counts are the
    estimate of :func:`core.llm.tokens.count_message_tokens`.

    Args:
        task: The task (instruction and answer format).
        query: The new input.
        sections: ``(title, body)`` blocks of user information, in order.
        choices: The closed answer set, if any.
        budget: Estimated prompt tokens allowed.
        preamble: Extra text put before the query.
        shared: The first ``shared`` sections are the same for every query (a prefix the model's
            cache keeps): they are cut only once every later section and the query are short,
            since cutting them by how long the query happens to be would change the prefix from
            one query to the next (callers keep them within a fixed budget of their own).
        late_budget: Estimated tokens allowed after the shared sections (the later sections, the
            preamble, the task, the input and the answer format): the part a prefix cache cannot
            keep, evaluated anew for every query, so it is what an answer's time grows with.
            ``budget`` still binds the whole; None: only ``budget``.

    Returns:
        The messages and whether anything was cut.
    """
    kept = [(n, t, b) for n, (t, b) in enumerate(sections) if b and b.strip()]
    secs = [(t, b) for _, t, b in kept]
    late = [i for i, (n, _, _) in enumerate(kept) if n >= shared]
    if late_budget is not None:
        budget = min(budget, shared_tokens(secs[: len(kept) - len(late)]) + late_budget)
    q = query
    trimmed = False
    for floor in (MIN_SECTION_CHARS, MIN_SECTION_CHARS // 5):
        for _ in range(60):
            messages = build_messages(task, q, secs, choices, preamble=preamble)
            if count_message_tokens(messages) <= budget:
                return messages, trimmed
            trimmed = True
            cuttable = [i for i in late if len(secs[i][1]) > floor]
            if not cuttable and len(q) <= floor:  # the shared sections go last, after the query
                cuttable = list(range(len(secs)))
            longest = max(cuttable, key=lambda i: len(secs[i][1]), default=None)
            if longest is not None and len(secs[longest][1]) > floor:
                title, body = secs[longest]
                secs[longest] = (title, _cut(body, int(len(body) * 0.75)))
            elif len(q) > floor:
                q = truncate(q, int(len(q) * 0.75))
            else:
                break
    return build_messages(task, q, secs, choices, preamble=preamble), trimmed


def shared_tokens(sections: list[tuple[str, str]]) -> int:
    """Estimated tokens of the system message and ``sections`` as :func:`build_messages` renders them."""
    parts = [f"## {title}\n{quote(body.strip())}" for title, body in sections if body and body.strip()]
    return count_message_tokens([{"role": "system", "content": SYSTEM_PROMPT},
                                 {"role": "user", "content": "\n\n".join(parts)}])


def _cut(body: str, max_chars: int) -> str:
    """Cut a section body to ``max_chars``, at the last line break when one is in the second half."""
    if len(body) <= max_chars:
        return body
    head = body[:max_chars]
    nl = head.rfind("\n")
    return (head[:nl] if nl > max_chars // 2 else head.rstrip()) + "\n…"


def prompt_budget(ctx: AnswerContext, max_tokens: int) -> int:
    """Tokens the prompt may take: a safety share of the model's context window minus the completion."""
    length = int(getattr(ctx.client.capabilities, "context_length", 0) or 0)
    if length <= 0:
        return 1 << 30
    return max(64, int(length * CONTEXT_SAFETY) - max_tokens)


@dataclass
class LLMOutcome:
    """The result of one answering call.

    Attributes:
        text: The answer text (the ``answer`` field for structured calls, else the completion).
        value: The parsed answer (see :func:`parse_answer`).
        step: The trace step recording the call.
    """

    text: str
    value: Any
    step: Step
    extra: dict[str, Any] = field(default_factory=dict)


def content_free_messages(messages: list[Message]) -> list[Message] | None:
    """Return the messages with only the query input replaced by a content-free input ("N/A").

    Used for contextual calibration of closed-set answers (Zhao et al., 2021): the backend divides
    each option's probability by its probability under this prompt, which keeps the instructions,
    the user information and the answer-format line, so a model's bias toward the first listed
    option cancels out. Returns None when the prompt has no ``Input:`` line (built elsewhere).
    """
    body = messages[-1]["content"]
    head, sep, rest = body.rpartition("\n\nInput: ")
    if not sep:
        return None
    _, fsep, fmt = rest.rpartition("\n\n")  # the fenced query has no line breaks at all
    return [*messages[:-1], {"role": "user", "content": f"{head}{sep}{quote(CONTENT_FREE_INPUT)}{fsep}{fmt}"}]


def call_answer(ctx: AnswerContext, query: str, sections: list[tuple[str, str]], *, kind: StepKind = "llm",
                name: str = "Answer", preamble: str | None = None,
                detail: StepDetail | None = None, shared: int = 0, late_budget: int | None = None) -> LLMOutcome:
    """Build the final prompt, call the model through the client and record the step.

    Args:
        ctx: The answer context (task, client, run id, answer choices).
        query: The new input.
        sections: ``(title, body)`` user-information blocks (see :func:`build_messages`).
        kind: Step kind: ``llm`` or ``rewrite``.
        name: Step title.
        preamble: Extra text before the query.
        detail: Extra step detail (merged in).
        shared: Leading sections that are the same for every query, cut last (see :func:`fit_messages`).
        late_budget: Estimated tokens allowed after the shared sections (see :func:`fit_messages`).

    Returns:
        The answer, its parsed value and the step.

    Raises:
        core.errors.BackendError: The model call failed after the client's retries.
    """
    t0 = time.perf_counter()  # the step's time includes building and fitting the prompt, not only the call
    choices = ctx.answer_choices
    schema = answer_schema(ctx.task, choices)
    max_tokens = TEXT_MAX_TOKENS if schema is None else CLOSED_MAX_TOKENS
    messages, trimmed = fit_messages(ctx.task, query, sections, choices, preamble=preamble,
                                     budget=prompt_budget(ctx, max_tokens), shared=shared,
                                     late_budget=late_budget)
    request = ChatRequest(messages=messages, schema=schema, max_tokens=max_tokens, temperature=0.0,
                          stage="answer", run_id=ctx.run_id,
                          content_free=content_free_messages(messages) if choices else None)
    result = ctx.client.chat(request)
    # Wall time as the user waits for it (the client's own figure is kept in the detail as model_ms).
    latency = (time.perf_counter() - t0) * 1000.0
    if result.parsed is not None and hasattr(result.parsed, "answer"):
        text = str(result.parsed.answer)
    else:
        text = _structured_value(result.text) or result.text.strip()
    if ctx.task.kind == "score" and text:
        text = _fmt_num(float(text)) if _is_number(text) else text
    value = parse_answer(text, ctx.task, choices)
    step = Step(kind=kind, name=name, input=messages[-1]["content"], output=text, tokens_in=result.tokens_in,
                tokens_out=result.tokens_out, latency_ms=float(latency),
                status="ok" if value is not None else "error",
                detail=StepDetail(system=messages[0]["content"], value=value, raw=result.text,
                                  error=None if value is not None else "the answer could not be parsed",
                                  cache_hit=result.cache_hit, choices=choices,
                                  sections=[t for t, b in sections if b], trimmed=trimmed,
                                  choice_scores=result.extra.get("choice_scores"),
                                  model_ms=result.latency_ms).merged(detail))
    return LLMOutcome(text=text, value=value, step=step)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
