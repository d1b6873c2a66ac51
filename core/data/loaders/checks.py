"""Row checks shared by all formats, and assembly of checked candidates into users and queries.

Checks: empty text, empty output, a score that is not a number or is outside the task's range, a
label outside the task's label set, and duplicate item ids within a user. A row failing any check
is reported and left out; the caller decides whether the rest may be kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.data.loaders.base import Candidate, Parsed, QueryCandidate
from core.data.loaders.problems import ProblemLog
from core.data.loaders.source import Progress
from core.data.model import Item, Query, Task, User
from core.errors import Problem, clip, quote


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def check_output(value: str, task: Task) -> tuple[str, str | None]:
    """Check one output against the task.

    Returns:
        The output to store (a label is normalised to the task's spelling) and a problem message,
        or None when the output is fine.
    """
    value = value.strip()
    if not value:
        return value, "empty output"
    if task.kind == "score":
        span = f"{_fmt(task.score_min)}-{_fmt(task.score_max)}"
        try:
            x = float(value)
        except ValueError:
            return value, f"score {quote(value)} is not a number (expected {span})"
        if not math.isfinite(x):
            return value, f"score {quote(value)} is not a number (expected {span})"
        if not task.score_min <= x <= task.score_max:
            return value, f"score {clip(value)} is outside the task's range {span}"
    elif task.kind == "label" and task.labels:
        by_lower = {label.lower(): label for label in task.labels}
        label = by_lower.get(value.lower())
        if label is None:
            shown = ", ".join(clip(label, 40) for label in task.labels[:15])
            shown += ", ..." if len(task.labels) > 15 else ""
            return value, f"label {quote(value)} is not one of the task's labels ({shown})"
        return label, None
    return value, None


def time_key(timestamp: str | None) -> float | None:
    """Sortable seconds for an ISO-8601 time or a Unix epoch number; None when unreadable."""
    if not timestamp:
        return None
    try:
        return float(timestamp)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


@dataclass
class Assembled:
    """Checked users and queries, with what each source kept."""

    users: list[User] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)
    kept_items: dict[str, int] = field(default_factory=dict)
    kept_queries: dict[str, int] = field(default_factory=dict)
    users_by_file: dict[str, set[str]] = field(default_factory=dict)


def _where(file: str, row: int | str, here: str) -> str:
    at = f"row {row}" if isinstance(row, int) else str(row)
    return at if file == here else f"{file} {at}"


def _check_item(c: Candidate, item_id: str, task: Task, seen: dict[tuple[str, str], tuple[str, int | str]],
                log: ProblemLog) -> Item | None:
    ok = True
    if not c.input.strip():
        log.add(Problem(c.file, c.row, c.input_field, "empty text"))
        ok = False
    output, message = check_output(c.output, task)
    if message:
        log.add(Problem(c.file, c.row, c.output_field, message))
        ok = False
    key = (c.user_id, item_id)
    if key in seen:
        first = _where(*seen[key], c.file)
        log.add(Problem(c.file, c.row, c.id_field,
                        f"duplicate item id {quote(item_id)} for user {quote(c.user_id)} (first at {first})"))
        ok = False
    else:
        seen[key] = (c.file, c.row)
    if not ok:
        return None
    return Item(id=item_id, input=c.input, output=output, timestamp=c.timestamp, meta=c.meta)


def _check_query(q: QueryCandidate, task: Task, log: ProblemLog) -> Query | None:
    ok = True
    if not q.input.strip():
        log.add(Problem(q.file, q.row, "input", "empty text"))
        ok = False
    gold = q.gold
    if gold is not None:
        gold, message = check_output(gold, task)
        if message:
            log.add(Problem(q.gold_file or q.file, q.gold_row if q.gold_row is not None else q.row, "output",
                            message))
            ok = False
    if not ok:
        return None
    return Query(id=q.id, user_id=q.user_id, input=q.input, gold=gold, meta=q.meta)


def _chronological(items: list[Item]) -> list[Item]:
    """Sort by timestamp when every item has a readable one; else keep file order."""
    keys = [time_key(i.timestamp) for i in items]
    if not items or any(k is None for k in keys):
        return items
    order = sorted(range(len(items)), key=lambda n: keys[n])  # stable: ties keep file order
    return [items[n] for n in order]


def assemble(sources: list[Parsed], task: Task, log: ProblemLog, progress: Progress | None = None) -> Assembled:
    """Check every candidate of every source and group the valid ones into users and queries.

    Users are merged across sources by id, in first-seen order; each user's items are sorted by
    timestamp when all have one. An item without an id gets ``<user>_<k>``, k being its position
    among that user's rows over all sources. Invalid rows are reported to ``log`` and left out;
    ``progress`` is told ``("check rows", done, total)`` every 10,000 rows.
    """
    result = Assembled()
    total = sum(len(src.candidates) for src in sources)
    done = 0
    items: dict[str, list[Item]] = {}
    seen: dict[tuple[str, str], tuple[str, int | str]] = {}
    position: dict[str, int] = {}
    for src in sources:
        check_task = src.history_task or task
        users = result.users_by_file.setdefault(src.file, set())
        for uid in src.users:
            items.setdefault(uid, [])
            users.add(uid)
        kept = 0
        for c in src.candidates:
            done += 1
            if progress is not None and (done % 10_000 == 0 or done == total):
                progress("check rows", done, total)
            k = position.get(c.user_id, 0)
            position[c.user_id] = k + 1
            item_id = c.id if c.id is not None else f"{c.user_id}_{k}"
            item = _check_item(c, item_id, check_task, seen, log)
            if item is not None:
                items.setdefault(c.user_id, []).append(item)
                users.add(c.user_id)
                kept += 1
        result.kept_items[src.file] = kept
        n_queries = 0
        for q in src.queries:
            query = _check_query(q, task, log)
            if query is not None:
                result.queries.append(query)
                n_queries += 1
        result.kept_queries[src.file] = n_queries
    result.users = [User(id=uid, items=_chronological(its)) for uid, its in items.items()]
    return result
