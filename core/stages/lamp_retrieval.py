"""LaMP's own BM25 retrieval, reproduced so Inflow's figures can sit next to published LaMP baselines.

What LaMP does (``LaMP/prompts/prompts.py`` of LaMP-Benchmark/LaMP, ``create_prompt_generator``):

* **Corpus fields** per task (the ``*_query_corpus_maker`` functions): LaMP-1 and LaMP-5 index
  ``title + " " + abstract``, LaMP-4 ``title + " " + text``, LaMP-2 the ``description``, LaMP-3,
  LaMP-6 and LaMP-7 the ``text``. In Inflow's item model the title of LaMP-1/4/5 profiles is the
  item *output* and the other field its *input*, so those tasks index ``output + " " + input``;
  every other task (and any non-LaMP data) indexes the input.
* **Query**: the question with LaMP's instruction removed (``extract_after_review`` etc.), which is
  what Inflow's loader keeps as the query input; LaMP-1 takes the two reference titles between
  quotes (``extract_strings_between_quotes(inp)[1:3]``).
* **Tokenisation**: ``str.split()``: case, punctuation and digits kept.
* **Ranking**: ``rank_bm25.BM25Okapi`` with its defaults (k1 = 1.5, b = 0.75, epsilon = 0.25) and
  ``get_top_n``, i.e. ``numpy.argsort(scores)[::-1][:n]``.
* **k**: ``--num_retrieved`` of ``LaMP/evaluate_llm.py``, default **1**.

Inflow's own ``bm25`` (:class:`core.stages.retrieval.BM25Retriever`) lowercases, drops digits and
indexes the input only; the two rankings differ, which is why both exist.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.data.model import Item, Task
from core.data.tasks import lamp_number
from core.stages.types import RetrievedDoc

LAMP_K = 1  # LaMP/evaluate_llm.py: parser.add_argument("--num_retrieved", type=int, default=1)
TITLE_FIRST = frozenset({1, 4, 5})  # tasks whose corpus is f'{x["title"]} {x[...]}', the title being the output


def corpus_text(item: Item, task: Task) -> str:
    """Return the text LaMP indexes for one profile item of ``task`` (see the module docstring)."""
    if lamp_number(task.name or "") in TITLE_FIRST:
        return f"{item.output} {item.input}"
    return item.input


def quoted_strings(text: str) -> list[str]:
    """LaMP's ``extract_strings_between_quotes``: the pieces between pairs of double quotes, in order."""
    out, inside, current = [], False, ""
    for ch in text:
        if ch == '"':
            if inside:
                out.append(current)
                current = ""
            inside = not inside
        elif inside:
            current += ch
    return out


def query_text(query: str, task: Task) -> str:
    """Return the query LaMP retrieves with: the input, or LaMP-1's two reference titles."""
    if lamp_number(task.name or "") == 1:
        quoted = quoted_strings(query)
        if len(quoted) >= 3:
            return f"{quoted[1]} {quoted[2]}"
    return query


class LampBM25Retriever:
    """BM25 exactly as LaMP ranks a profile (fields, ``str.split()``, ``BM25Okapi``, ``get_top_n`` order).

    Args:
        items: The user's history (LaMP: the question's profile).
        task: The task; its LaMP number picks the indexed fields.
        paths: Optional reasoning paths by item id, attached to the results.
    """

    def __init__(self, items: list[Item], task: Task, paths: dict[str, Any] | None = None) -> None:
        """Index the items."""
        from rank_bm25 import BM25Okapi

        self.items = list(items)
        self.task = task
        self.paths = paths or {}
        self._bm25 = BM25Okapi([corpus_text(it, task).split() for it in self.items]) if self.items else None

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every item for ``query`` (history order)."""
        if self._bm25 is None:
            return np.zeros(0)
        return np.asarray(self._bm25.get_scores(query_text(query, self.task).split()), dtype=float)

    def retrieve(self, query: str, k: int = LAMP_K) -> list[RetrievedDoc]:
        """Return the top ``k`` items in ``get_top_n``'s order (argsort, reversed: ties go to the later item)."""
        if self._bm25 is None or k <= 0:
            return []
        scores = self.scores(query)
        out = []
        for i in np.argsort(scores)[::-1][:k]:
            it = self.items[int(i)]
            path = self.paths.get(it.id)
            out.append(RetrievedDoc(id=it.id, text=it.input, output=it.output, score=round(float(scores[i]), 6),
                                    path=getattr(path, "text", None)))
        return out
