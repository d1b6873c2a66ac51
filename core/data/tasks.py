"""Task descriptors: the LaMP tasks 1-7 and inference of a task from the outputs of a file.

A LaMP task fixes which keys a profile item uses for input and output (LaMP_3 ``text``/``score``,
LaMP_2 ``description``/``tag``...), the instruction LaMP puts in front of each question, and the
kind of output. Files without a task of their own get one from :func:`infer_task`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.data.model import Task, TaskKind

LAMP2_TAGS: tuple[str, ...] = (
    "sci-fi", "based on a book", "comedy", "action", "twist ending", "dystopia", "dark comedy", "classic",
    "psychology", "fantasy", "romance", "thought-provoking", "social commentary", "violence", "true story",
)
"""The 15 LaMP-2 movie tags, in the order LaMP lists them in its questions."""

_LAMP2_INSTRUCTION = (
    "Which tag does this movie relate to among the following tags? Just answer with the tag name without "
    "further explanation. tags: [" + ", ".join(LAMP2_TAGS) + "]"
)


@dataclass(frozen=True)
class LampSpec:
    """How one LaMP task lays out its questions and profiles.

    Attributes:
        number: The task number, 1-7.
        kind: The kind of the question outputs.
        instruction: The question LaMP asks, as LaMP phrases it.
        input_key: Profile-item key holding the item input.
        output_key: Profile-item key holding the user's response.
        labels: Closed label set (label tasks).
        history_kind: Kind of the profile outputs when it differs from ``kind`` (LaMP_1 profiles hold
            paper titles while its questions are answered with ``[1]`` or ``[2]``).
        prompt: Regex matching the instruction wrapper around a question's content; what follows it
            is the query input.
    """

    number: int
    kind: TaskKind
    instruction: str
    input_key: str
    output_key: str
    labels: tuple[str, ...] = ()
    history_kind: TaskKind | None = None
    prompt: str | None = None

    @property
    def name(self) -> str:
        """The LaMP task name, e.g. ``"LaMP_3"``."""
        return f"LaMP_{self.number}"

    def task(self) -> Task:
        """Return the task of the questions."""
        return Task(kind=self.kind, name=self.name, instruction=self.instruction, labels=self.labels)

    def history_task(self) -> Task | None:
        """Return the task profile outputs are checked against, when it differs from :meth:`task`."""
        if self.history_kind is None:
            return None
        return Task(kind=self.history_kind, name=f"{self.name}_profile")

    def strip_prompt(self, text: str) -> str:
        """Return a question's content without LaMP's instruction wrapper (unchanged if absent)."""
        if self.prompt:
            m = re.match(self.prompt, text, flags=re.IGNORECASE | re.DOTALL)
            if m:
                return text[m.end():].strip()
        return text.strip()


LAMP_SPECS: dict[int, LampSpec] = {
    1: LampSpec(1, "label", 'For an author who has written the paper with the title "...", which reference is '
                "related? Just answer with [1] or [2] without explanation.", "abstract", "title",
                labels=("[1]", "[2]"), history_kind="text"),
    2: LampSpec(2, "label", _LAMP2_INSTRUCTION, "description", "tag", labels=LAMP2_TAGS,
                prompt=r"\s*which tag does this movie relate to.*?\bdescription:\s*"),
    3: LampSpec(3, "score", "What is the score of the following review on a scale of 1 to 5? just answer with "
                "1, 2, 3, 4, or 5 without further explanation.", "text", "score",
                prompt=r"\s*what is the score of the following review.*?\breview:\s*"),
    4: LampSpec(4, "text", "Generate a headline for the following article:", "text", "title",
                prompt=r"\s*generate a headline for the following article:\s*"),
    5: LampSpec(5, "text", "Generate a title for the following abstract of a paper:", "abstract", "title",
                prompt=r"\s*generate a title for the following abstract of a paper:\s*"),
    6: LampSpec(6, "text", "Generate a subject for the following email:", "text", "title",
                prompt=r"\s*generate a subject for the following email:\s*"),
    7: LampSpec(7, "text", "Paraphrase the following tweet without any explanation before or after it:", "text",
                "text", prompt=r"\s*paraphrase the following tweet without any explanation before or after it:\s*"),
}

_LAMP_NAME = re.compile(r"lamp[ _-]?([1-7])(?![0-9])", re.IGNORECASE)


def lamp_number(text: str) -> int | None:
    """Find a LaMP task number in a task name or file name (``"LaMP_3"``, ``"lamp3_reviews"``)."""
    m = _LAMP_NAME.search(text)
    return int(m.group(1)) if m else None


# -- inference ------------------------------------------------------------------------------------
SCORE_COLUMNS = frozenset({"score", "rating", "stars", "overall", "grade"})
LABEL_COLUMNS = frozenset({"label", "tag", "category", "class", "genre"})
STANDARD_RANGES: tuple[tuple[float, float], ...] = ((1, 5), (0, 5), (1, 10), (0, 10), (0, 100))
MAX_LABELS = 30
MAX_LABEL_CHARS = 40


def _number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _noun(input_column: str | None) -> str:
    col = (input_column or "").lower()
    for word in ("review", "description", "abstract", "article", "tweet", "email"):
        if word in col:
            return word
    return "review" if col == "text" else "input"


def _column(name: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (name or "").lower())


def infer_task(
    outputs: Sequence[str], *, name: str = "task", output_column: str | None = None, input_column: str | None = None
) -> Task:
    """Guess the task from the outputs of a file.

    Rules, in order:

    * **score**: at least 90% of outputs are numbers (or 50% when the output column is named like a
      score: score, rating, stars...). The range is the first of 1-5, 0-5, 1-10, 0-10, 0-100 that
      holds at least 90% of the numbers (outliers then show up as "outside the range" errors), else
      the observed min-max.
    * **label**: at most 30 distinct outputs of at most 40 characters, and either the output column
      is named like a label (label, tag, category...) or outputs repeat (distinct <= a third of all).
      When all labels are LaMP-2 movie tags, the label set is the full LaMP-2 tag set.
    * **text** otherwise.

    Args:
        outputs: The output strings of all rows.
        name: Task name to give.
        output_column: Name of the source column the outputs came from (a hint).
        input_column: Name of the source column the inputs came from (words the instruction).

    Returns:
        The inferred task.
    """
    values = [o.strip() for o in outputs if o and o.strip()]
    noun = _noun(input_column)
    col = _column(output_column)
    if not values:
        return Task(kind="text", name=name, instruction=f"Write this user's response to the following {noun}.")
    numbers = [x for x in (_number(v) for v in values) if x is not None]
    share = len(numbers) / len(values)
    if numbers and (share >= 0.9 or (col in SCORE_COLUMNS and share >= 0.5)):
        lo, hi = min(numbers), max(numbers)
        for a, b in STANDARD_RANGES:
            if sum(a <= x <= b for x in numbers) >= 0.9 * len(numbers):
                lo, hi = a, b
                break
        instruction = f"What is the score of the following {noun} on a scale of {_fmt(lo)} to {_fmt(hi)}?"
        return Task(kind="score", name=name, instruction=instruction, score_min=float(lo), score_max=float(hi))
    distinct = sorted(set(values))
    few = len(distinct) <= MAX_LABELS and all(len(v) <= MAX_LABEL_CHARS for v in distinct)
    if few and (col in LABEL_COLUMNS or len(distinct) <= len(values) // 3):
        lamp2 = {t.lower() for t in LAMP2_TAGS}
        if all(v.lower() in lamp2 for v in distinct):
            return Task(kind="label", name=name, instruction=_LAMP2_INSTRUCTION, labels=LAMP2_TAGS)
        instruction = (f"Which label fits the following {noun}? Just answer with the label without further "
                       f"explanation. labels: [{', '.join(distinct)}]")
        return Task(kind="label", name=name, instruction=instruction, labels=tuple(distinct))
    if col in {"title", "headline", "subject"}:
        return Task(kind="text", name=name, instruction=f"Generate a {col} for the following {noun}:")
    return Task(kind="text", name=name, instruction=f"Write this user's response to the following {noun}.")
