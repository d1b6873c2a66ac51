"""What every format parser produces: candidate items and queries, still unchecked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.data.model import Task


@dataclass
class Record:
    """One raw row of a tabular source (CSV row, JSONL line, JSON object).

    Attributes:
        row: Where it is: a 1-based data row or line, or a JSON path like ``$.u1[3]``.
        values: Column or key -> raw value.
        user: The user when the container says it (the key of ``{user: [items]}``), else None.
    """

    row: int | str
    values: Mapping[str, Any]
    user: str | None = None


@dataclass
class Candidate:
    """A history item read from a file but not yet checked against the task.

    ``id`` is None when the file gives none (the checks then number the user's items). The
    ``*_field`` attributes name the source column/key of each value, for problem messages.
    """

    file: str
    row: int | str
    user_id: str
    id: str | None
    input: str
    output: str
    timestamp: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    input_field: str = "input"
    output_field: str = "output"
    id_field: str = "id"


@dataclass
class QueryCandidate:
    """A query (a LaMP question) read from a file but not yet checked against the task.

    ``gold_file``/``gold_row`` say where the gold came from (a LaMP outputs file) for messages.
    """

    file: str
    row: int | str
    id: str
    user_id: str
    input: str
    gold: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    gold_file: str | None = None
    gold_row: int | str | None = None


@dataclass
class Parsed:
    """One source (a file, or a LaMP questions + outputs pair) after parsing.

    Attributes:
        files: The file names, the main one first.
        format: ``"csv"``, ``"jsonl"``, ``"json"`` or ``"lamp"``.
        candidates: History items, in file order.
        queries: Queries (LaMP questions).
        users: User ids the source declares even when they end up with no valid item (LaMP questions).
        rows: Records read (history rows / profile items).
        task: The task the format itself defines (LaMP), else None (inferred or given).
        history_task: How to check history outputs when that differs from the task (LaMP_1).
        input_column: Source column of the inputs (a hint for task inference).
        output_column: Source column of the outputs (a hint for task inference).
    """

    files: tuple[str, ...]
    format: str
    candidates: list[Candidate] = field(default_factory=list)
    queries: list[QueryCandidate] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    rows: int = 0
    task: Task | None = None
    history_task: Task | None = None
    input_column: str | None = None
    output_column: str | None = None

    @property
    def file(self) -> str:
        """The main file name."""
        return self.files[0]
