"""The front door for reading user files: :func:`load` detects formats, checks rows, builds a Dataset.

Formats are told by extension and content: ``*_questions.json`` + ``*_outputs.json`` is a LaMP
pair (the partner is picked up from the same folder when only one is given), ``.csv``/``.tsv`` is
CSV, ``.jsonl``/``.ndjson`` is JSON Lines, ``.json`` is ``{user: [items]}``, a list of records, or
LaMP questions. Other extensions are sniffed (``{``/``[`` -> JSON, else CSV). Folders are expanded
to the data files inside them.

Examples:
    >>> from core.data.load import load
    >>> result = load(["sample_data/reviews.csv"])  # doctest: +SKIP
    >>> result.dataset.task.kind  # doctest: +SKIP
    'score'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.data.loaders.base import Parsed
from core.data.loaders.checks import assemble
from core.data.loaders.csv_format import parse_csv
from core.data.loaders.json_format import parse_json_file
from core.data.loaders.jsonl_format import parse_jsonl
from core.data.loaders.lamp_format import OUTPUTS_SUFFIX, QUESTIONS_SUFFIX, parse_lamp, partner
from core.data.loaders.problems import ProblemLog
from core.data.loaders.source import Progress, default_max_bytes, read_bytes, repair_text
from core.data.model import Dataset, Task
from core.data.tasks import infer_task
from core.errors import InputError, Problem

DATA_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
UNSUPPORTED_SUFFIXES = {".xlsx", ".xls", ".ods", ".parquet", ".zip", ".gz", ".pdf"}

_Parser = Callable[..., Parsed]
_PARSERS: dict[str, _Parser] = {"csv": parse_csv, "jsonl": parse_jsonl, "json": parse_json_file}


@dataclass(frozen=True)
class Source:
    """One thing to parse: a file, or a LaMP questions file with its outputs file.

    Attributes:
        format: ``"csv"``, ``"jsonl"``, ``"json"`` or ``"lamp"``.
        path: The file (the questions file for LaMP).
        file: Its name as shown in problems (the path as the user gave it).
        outputs: The LaMP outputs file, if any.
        outputs_file: Its name as shown in problems.
        problem: Why the source cannot be read at all (raised by :meth:`parse`), e.g. an unsupported type.
    """

    format: str
    path: Path
    file: str
    outputs: Path | None = None
    outputs_file: str | None = None
    problem: Problem | None = None

    @property
    def names(self) -> list[str]:
        """All files of the source, as the user named them (load these to load just this source)."""
        return [self.file] + ([self.outputs_file] if self.outputs_file else [])

    def parse(self, *, mapping: Mapping[str, str] | None, log: ProblemLog, max_bytes: int,
              progress: Progress | None = None) -> Parsed:
        """Parse the source (row problems go to ``log``; bytes read go to ``progress``).

        Raises:
            InputError: A file-level problem.
        """
        if self.problem is not None:
            raise InputError(self.problem)
        if self.format == "lamp":
            return parse_lamp(self.path, self.file, self.outputs, self.outputs_file, log=log, max_bytes=max_bytes,
                              progress=progress)
        return _PARSERS[self.format](self.path, self.file, mapping=mapping, log=log, max_bytes=max_bytes,
                                     progress=progress)


@dataclass(frozen=True)
class FileCounts:
    """What one source contributed.

    Attributes:
        file: The main file (the questions file for LaMP).
        format: Its format.
        users: Users with at least one kept item (LaMP: users of its questions).
        items: History items kept.
        queries: Queries kept.
        rows: History rows read (LaMP: profile items).
        skipped: Rows and queries left out because of problems.
        companion: The LaMP outputs file, if any.
    """

    file: str
    format: str
    users: int
    items: int
    queries: int
    rows: int
    skipped: int
    companion: str | None = None


@dataclass
class LoadResult:
    """The loaded dataset plus what was found on the way.

    Attributes:
        dataset: The valid users, items and queries.
        problems: Problems found (non-empty only with ``keep_valid=True``).
        files: Per-source counts, in load order.
        truncated: True when more problems existed than ``max_errors``.
        warnings: Things worth saying that do not make the data invalid (a LaMP question with an
            empty profile: that user has no history).
    """

    dataset: Dataset
    problems: list[Problem] = field(default_factory=list)
    files: list[FileCounts] = field(default_factory=list)
    truncated: bool = False
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was wrong."""
        return not self.problems


def _sniff_format(path: Path) -> str:
    try:
        head = read_bytes(path, str(path), 1024, limit_is_head=True).lstrip(b"\xef\xbb\xbf \t\r\n")
    except InputError:
        return "csv"  # the parser reports the unreadable (or special) file
    return "json" if head[:1] in (b"{", b"[") else "csv"


def _key(path: Path) -> str:
    """Identity of a file for de-duplication (``Path.resolve`` raises on a symlink loop; this does not)."""
    return os.path.realpath(path)


def _expand(paths: Sequence[str | Path]) -> list[tuple[Path, str]]:
    """Folders -> their data files (an empty folder stays, to be reported); duplicates dropped.

    Returns:
        (path, display name) pairs.
    """
    out: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        members = [(path, str(raw))]
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)
            members = [(p, str(p)) for p in files] or members
        for p, name in members:
            key = _key(p)
            if key not in seen:
                seen.add(key)
                out.append((p, name))
    return out


def plan_sources(paths: Sequence[str | Path]) -> list[Source]:
    """Group paths into sources, pairing LaMP questions with outputs and telling each file's format.

    Args:
        paths: Files or folders.

    Returns:
        The sources, in the order the paths were given. A path that cannot be a source (an empty
        folder, an unsupported type, a LaMP outputs file without questions) is a source carrying
        its ``problem``.
    """
    files = _expand(paths)
    given = {_key(p): name for p, name in files}
    sources: list[Source] = []
    for path, name in files:
        low = path.name.lower()
        other = partner(path)
        if path.is_dir():
            sources.append(Source("none", path, name, problem=Problem(
                name, None, None, "folder holds no .csv, .tsv, .jsonl or .json files")))
        elif low.endswith(QUESTIONS_SUFFIX) and other is not None:
            o_name = given.get(_key(other)) or (str(Path(name).with_name(other.name)) if other.is_file() else None)
            sources.append(Source("lamp", path, name, other if o_name else None, o_name))
        elif low.endswith(OUTPUTS_SUFFIX) and other is not None:
            if _key(other) in given:
                continue  # handled with its questions file
            if other.is_file():
                sources.append(Source("lamp", other, str(Path(name).with_name(other.name)), path, name))
            else:
                sources.append(Source("lamp", path, name, problem=Problem(
                    name, None, None, f"LaMP outputs file without its questions file {other.name}")))
        elif path.suffix.lower() in DATA_SUFFIXES:
            sources.append(Source(DATA_SUFFIXES[path.suffix.lower()], path, name))
        elif path.suffix.lower() in UNSUPPORTED_SUFFIXES:
            sources.append(Source("none", path, name, problem=Problem(
                name, None, None, f"unsupported file type {path.suffix}; export it as CSV or JSON")))
        else:
            sources.append(Source(_sniff_format(path), path, name))
    return sources


def choose_task(parsed: Sequence[Parsed], name: str, log: ProblemLog) -> Task:
    """Pick the task of loaded sources: the one a format defines (LaMP), else one inferred from all outputs.

    Raises:
        InputError: Sources define different tasks (e.g. LaMP_2 and LaMP_3 files loaded together).
    """
    defined = [(p, p.task) for p in parsed if p.task is not None]
    if defined:
        first, first_task = defined[0]
        mixed = [Problem(p.file, None, None, f"is {t.name} but {first.file} is {first_task.name}; load different "
                                             "tasks separately") for p, t in defined[1:] if t != first_task]
        if mixed:
            log.extend(mixed)
            raise log.error()
        return first_task
    outputs = [c.output for p in parsed for c in p.candidates]
    hint = next((p for p in parsed if p.output_column), None)
    return infer_task(outputs, name=name, output_column=hint.output_column if hint else None,
                      input_column=hint.input_column if hint else None)


def _dataset_name(sources: Sequence[Source]) -> str:
    if not sources:
        return "dataset"
    stem = repair_text(sources[0].path.name)  # a file name need not be UTF-8; the name is stored
    for suffix in (QUESTIONS_SUFFIX, OUTPUTS_SUFFIX):
        if stem.lower().endswith(suffix):
            return stem[: -len(suffix)]
    return Path(stem).stem


def _counts(p: Parsed, kept_items: int, kept_queries: int, users: int) -> FileCounts:
    skipped = (p.rows - kept_items) + (len(p.queries) - kept_queries)
    return FileCounts(file=p.file, format=p.format, users=users, items=kept_items, queries=kept_queries,
                      rows=p.rows, skipped=max(0, skipped), companion=p.files[1] if len(p.files) > 1 else None)


def load(
    paths: Sequence[str | Path],
    *,
    task: Task | None = None,
    mapping: Mapping[str, str] | None = None,
    keep_valid: bool = False,
    max_bytes: int | None = None,
    max_errors: int = 50,
    name: str | None = None,
    progress: Progress | None = None,
) -> LoadResult:
    """Load files (any mix of the supported formats) into one dataset.

    Args:
        paths: Files or folders. Users with the same id in several files are merged.
        task: The task; default: the LaMP task of LaMP files, else inferred from the outputs
            (see :func:`core.data.tasks.infer_task`).
        mapping: Explicit ``{field: column}`` for CSV/JSONL/JSON (fields: user, id, input, output,
            timestamp); unmapped fields are auto-detected. LaMP files ignore it (their task fixes the keys).
        keep_valid: Keep the valid rows and return the problems instead of raising (still raises
            when nothing valid is left).
        max_bytes: Largest accepted file size; None = ``$INFLOW_MAX_MB`` MB, else 200 MB.
        max_errors: Most problems collected; later ones only set ``truncated``.
        name: Dataset name; default: the first file's stem.
        progress: Called with ``(stage, done, total)``: ``"read KiB"`` while each file is read,
            then ``"check rows"`` while rows are checked (a large file is not silent for long).

    Returns:
        The dataset, the problems (empty unless ``keep_valid``) and per-source counts.

    Raises:
        InputError: Any problem (without ``keep_valid``), with every problem found up to ``max_errors``.
    """
    if not paths:
        raise InputError(Problem("(no files)", None, None, "no files given"))
    return _load_sources(plan_sources(paths), task=task, mapping=mapping, keep_valid=keep_valid,
                         max_bytes=max_bytes, max_errors=max_errors, name=name, progress=progress)


def load_lamp_pair(questions: str | Path, outputs: str | Path, *, task: Task | None = None,
                   max_bytes: int | None = None, max_errors: int = 50,
                   progress: Progress | None = None) -> LoadResult:
    """Load a LaMP questions file and its outputs file, whatever they are named.

    :func:`load` tells a LaMP pair by its ``*_questions.json`` / ``*_outputs.json`` names; here the
    caller says which file is which (``--questions`` / ``--outputs``), so ``q.json`` + ``o.json``
    load too. Only content that contradicts a role (golds given as the questions, questions given
    as the outputs) is an error.

    Raises:
        InputError: A problem in either file, naming file, row and field.
    """
    q, o = Path(questions), Path(outputs)
    source = Source("lamp", q, str(questions), o, str(outputs))
    return _load_sources([source], task=task, mapping=None, keep_valid=False, max_bytes=max_bytes,
                         max_errors=max_errors, name=_dataset_name([source]), progress=progress)


def _load_sources(sources: Sequence[Source], *, task: Task | None, mapping: Mapping[str, str] | None,
                  keep_valid: bool, max_bytes: int | None, max_errors: int, name: str | None,
                  progress: Progress | None = None) -> LoadResult:
    """Parse planned sources, check their rows and assemble one dataset (see :func:`load`)."""
    log = ProblemLog(max_errors)
    if max_bytes is None:
        max_bytes = default_max_bytes()
    parsed: list[Parsed] = []
    for source in sources:
        try:
            parsed.append(source.parse(mapping=mapping, log=log, max_bytes=max_bytes, progress=progress))
        except InputError as exc:
            log.extend(exc.problems)
    ds_name = name or _dataset_name(sources)
    the_task = task or choose_task(parsed, ds_name, log)
    assembled = assemble(parsed, the_task, log, progress=progress)
    dataset = Dataset(name=ds_name, task=the_task, users=assembled.users, queries=assembled.queries)
    files = [_counts(p, assembled.kept_items[p.file], assembled.kept_queries[p.file],
                     len(assembled.users_by_file[p.file])) for p in parsed]
    if log and (not keep_valid or not (dataset.n_items or dataset.queries)):
        raise log.error()
    return LoadResult(dataset=dataset, problems=list(log.problems), files=files, truncated=log.truncated,
                      warnings=list(log.warnings))
