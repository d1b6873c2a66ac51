"""LaMP files: ``<name>_questions.json`` (questions with profiles) + ``<name>_outputs.json`` (golds).

Questions are ``[{"id", "input", "profile": [...]}, ...]``; outputs are
``{"task": "LaMP_3", "golds": [{"id", "output"}, ...]}``. Each question becomes a query whose
gold comes from the outputs file, and its profile becomes the history of that query's user. LaMP
has no user ids, so the user id is the question id, unless the question carries a ``user_id`` key
(an Inflow extension used by ``sample_data/``; a user named by several questions gets the union
of their profiles). The task (LaMP_1..LaMP_7) comes from the outputs' ``task``, else the file
name, else the profile keys. Profile ``date`` becomes the item timestamp; other profile keys go
to ``meta``. A question's LaMP instruction is removed from the query input (kept in
``meta["raw_input"]``); other question keys go to the query's ``meta`` (``date`` as
``meta["timestamp"]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.data.loaders.base import Parsed, QueryCandidate, Record
from core.data.loaders.problems import ProblemLog
from core.data.loaders.records import FieldMap, extract_candidates, read_cell, record_problems
from core.data.loaders.source import DEFAULT_MAX_BYTES, Progress, duplicate_keys, kind_of, parse_json, read_text
from core.data.tasks import LAMP_SPECS, LampSpec, lamp_number
from core.errors import InputError, Problem, quote

QUESTIONS_SUFFIX = "_questions.json"
OUTPUTS_SUFFIX = "_outputs.json"
_QUESTION_KEYS = ("id", "input", "profile", "user_id")


def partner(path: Path) -> Path | None:
    """Return the other file of a LaMP pair (questions <-> outputs), or None for other names."""
    name = path.name
    low = name.lower()
    if low.endswith(QUESTIONS_SUFFIX):
        return path.with_name(name[: -len(QUESTIONS_SUFFIX)] + OUTPUTS_SUFFIX)
    if low.endswith(OUTPUTS_SUFFIX):
        return path.with_name(name[: -len(OUTPUTS_SUFFIX)] + QUESTIONS_SUFFIX)
    return None


def looks_like_questions(data: Any) -> bool:
    """Tell whether parsed JSON has the shape of LaMP questions (objects with ``input`` and ``profile``)."""
    return (isinstance(data, list) and bool(data) and isinstance(data[0], dict)
            and "profile" in data[0] and "input" in data[0])


def looks_like_outputs(data: Any) -> bool:
    """Tell whether parsed JSON has the shape of a LaMP outputs file."""
    return isinstance(data, dict) and "golds" in data


def _guess_number(questions: list[Any]) -> int | None:
    """Tell the LaMP task from the keys of the first profile item."""
    for q in questions:
        profile = q.get("profile") if isinstance(q, dict) else None
        if not isinstance(profile, list) or not profile or not isinstance(profile[0], dict):
            continue
        keys = set(profile[0])
        if {"description", "tag"} <= keys:
            return 2
        if {"text", "score"} <= keys:
            return 3
        if {"abstract", "title"} <= keys:
            return 1 if "[1]" in str(q.get("input", "")) else 5
        if {"text", "title"} <= keys:
            return 4
        if "text" in keys:
            return 7
        return None
    return None


def _read_golds(data: Any, file: str, log: ProblemLog) -> tuple[dict[str, tuple[str, str]], str | None]:
    """Return ``{id: (output, json_path)}`` and the ``task`` named by an outputs file."""
    task = data.get("task") if isinstance(data, dict) else None
    golds = data.get("golds") if isinstance(data, dict) else data
    for key in duplicate_keys(data):  # a second "task" or "golds" would silently replace the first
        log.add(Problem(file, "$", key, f"key {quote(key)} appears more than once in the outputs file; keep one"))
    if not isinstance(golds, list):
        raise InputError(Problem(file, "$.golds", "golds", f"expected a list of {{id, output}} golds, got "
                                                           f"{kind_of(golds)}"))
    out: dict[str, tuple[str, str]] = {}
    for k, gold in enumerate(golds):
        row = f"$.golds[{k}]"
        if not isinstance(gold, dict):
            log.add(Problem(file, row, None, f"expected an object with id and output, got {kind_of(gold)}"))
            continue
        rec = Record(row=row, values=gold)
        problems = record_problems(rec, file)
        gid = read_cell(rec, "id", file, problems, required=True)
        output = read_cell(rec, "output", file, problems, required=True)
        if gid in out and not problems:
            problems.append(Problem(file, row, "id", f"duplicate gold id {quote(gid)} (first at {out[gid][1]})"))
        if problems:
            log.extend(problems)
            continue
        out[gid] = (output, row)
    return out, str(task) if task is not None else None


def _question_meta(q: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in q.items() if k not in _QUESTION_KEYS}
    if "date" in meta:
        meta["timestamp"] = meta.pop("date")
    return meta


class _LampBuilder:
    """Accumulates one questions file (and its golds) into a :class:`Parsed`."""

    def __init__(self, spec: LampSpec, parsed: Parsed, golds: dict[str, tuple[str, str]] | None,
                 q_file: str, o_file: str | None, log: ProblemLog) -> None:
        self.spec, self.parsed, self.golds, self.log = spec, parsed, golds, log
        self.q_file, self.o_file = q_file, o_file
        self.fields = FieldMap(input=spec.input_key, output=spec.output_key, id="id", timestamp="date")
        self.known: dict[str, set[str]] = {}
        self.question_rows: dict[str, str] = {}

    def add(self, i: int, q: Any) -> None:
        row = f"$[{i}]"
        if not isinstance(q, dict):
            self.log.add(Problem(self.q_file, row, None, f"expected a question object, got {kind_of(q)}"))
            return
        rec = Record(row=row, values=q)
        problems = record_problems(rec, self.q_file)
        qid = read_cell(rec, "id", self.q_file, problems, required=True)
        text = read_cell(rec, "input", self.q_file, problems, required=True)
        profile = q.get("profile")
        if not isinstance(profile, list):
            problems.append(Problem(self.q_file, row, "profile", f"expected a list of profile items, got "
                                                                   f"{kind_of(profile)}"))
        if qid in self.question_rows and not problems:
            problems.append(Problem(self.q_file, row, "id", f"duplicate question id {quote(qid)} "
                                                            f"(first at {self.question_rows[qid]})"))
        if problems:
            self.log.extend(problems)
            return
        self.question_rows[qid] = row
        user = read_cell(rec, "user_id", self.q_file, problems, required=False) or qid
        if not profile:  # valid data, but that user has no history to build from: say so, keep the others
            self.log.warn(Problem(self.q_file, row, "profile", f"empty profile: user {quote(user)} has no history "
                                                               "items (a build skips them)"))
        self._add_profile(row, user, profile)
        self._add_query(row, qid, user, text, q)

    def _add_profile(self, row: str, user: str, profile: list[Any]) -> None:
        known = self.known.setdefault(user, set())
        earlier = set(known)  # ids from earlier questions' profiles of this user; repeats inside one profile
        records: list[Record] = []  # are duplicates and get reported by the checks
        for j, p in enumerate(profile):
            prow = f"{row}.profile[{j}]"
            if not isinstance(p, dict):
                self.log.add(Problem(self.q_file, prow, None, f"expected a profile item object, got {kind_of(p)}"))
                self.parsed.rows += 1
                continue
            pid = str(p.get("id", ""))
            if pid and pid in earlier:
                continue  # the same user's item again, from another question's profile
            known.add(pid)
            records.append(Record(row=prow, values=p, user=user))
        self.parsed.rows += len(records)
        self.parsed.candidates += extract_candidates(records, self.fields, file=self.q_file, default_user=user,
                                                     log=self.log)
        if user not in self.parsed.users:
            self.parsed.users.append(user)

    def _add_query(self, row: str, qid: str, user: str, text: str, q: dict[str, Any]) -> None:
        meta = _question_meta(q)
        content = self.spec.strip_prompt(text)
        if content != text.strip():
            meta["raw_input"] = text
        gold = gold_row = None
        if self.golds is not None:
            if qid in self.golds:
                gold, gold_row = self.golds.pop(qid)
            else:
                self.log.add(Problem(self.q_file, row, "id", f"question id {quote(qid)} has no gold output in "
                                                             f"{self.o_file}"))
        self.parsed.queries.append(QueryCandidate(file=self.q_file, row=row, id=qid, user_id=user, input=content,
                                                  gold=gold, meta=meta, gold_file=self.o_file, gold_row=gold_row))

    def finish(self) -> None:
        for gid, (_output, row) in (self.golds or {}).items():
            self.log.add(Problem(self.o_file or "", row, "id",
                                 f"gold id {quote(gid)} has no question in {self.q_file}"))


def lamp_from_data(
    questions: Any, q_file: str, outputs: Any | None, o_file: str | None, *, name_hint: str, log: ProblemLog
) -> Parsed:
    """Build a :class:`Parsed` from already-parsed LaMP questions and (optionally) outputs.

    Raises:
        InputError: Not a list of questions, an unusable outputs file, or an unknown LaMP task.
    """
    if not isinstance(questions, list):
        raise InputError(Problem(q_file, "$", None, f"expected a list of LaMP questions, got {kind_of(questions)}"))
    golds, task_name = _read_golds(outputs, o_file or "", log) if outputs is not None else (None, None)
    number = lamp_number(task_name or "") or lamp_number(name_hint) or _guess_number(questions)
    if number is None:
        raise InputError(Problem(q_file, None, None, "cannot tell which LaMP task (1-7) this is; name the file "
                                                     "LaMP_<n>_..._questions.json or give the outputs file"))
    spec = LAMP_SPECS[number]
    parsed = Parsed(files=(q_file,) + ((o_file,) if o_file else ()), format="lamp", task=spec.task(),
                    history_task=spec.history_task(), input_column=spec.input_key, output_column=spec.output_key)
    builder = _LampBuilder(spec, parsed, golds, q_file, o_file, log)
    for i, q in enumerate(questions):
        builder.add(i, q)
    builder.finish()
    return parsed


def parse_lamp(
    questions: Path, q_file: str, outputs: Path | None = None, o_file: str | None = None, *, log: ProblemLog,
    max_bytes: int = DEFAULT_MAX_BYTES, progress: Progress | None = None,
) -> Parsed:
    """Parse a LaMP questions file and, when given, its outputs file.

    Raises:
        InputError: A file-level problem in either file.
    """
    q_data = parse_json(read_text(questions, q_file, max_bytes, progress), q_file)
    if looks_like_outputs(q_data):  # the roles come from the caller (file names or CLI flags); the content disagrees
        raise InputError(Problem(q_file, "$", None, 'this is a LaMP outputs file ({"task", "golds"}) but it was '
                                                    "given as the questions file; are the two files swapped?"))
    o_data = None
    if outputs is not None:
        o_file = o_file or str(outputs)
        o_data = parse_json(read_text(outputs, o_file, max_bytes, progress), o_file)
        if looks_like_questions(o_data):
            raise InputError(Problem(o_file, "$", None, "this is a LaMP questions file (questions with profiles) but "
                                                        "it was given as the outputs file; are the two files swapped?"))
        if not looks_like_outputs(o_data) and not isinstance(o_data, list):
            raise InputError(Problem(o_file, "$", "golds", 'expected a LaMP outputs object {"task": ..., '
                                                           '"golds": [...]}'))
    return lamp_from_data(q_data, q_file, o_data, o_file, name_hint=questions.name, log=log)
