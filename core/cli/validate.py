"""``python -m core validate PATH [PATH...]``: load files and report counts or problems.

Each file (or LaMP questions + outputs pair) is loaded on its own, so every one gets its own task
and counts. Counts go to stdout, one line per source; problems go to stderr as
``file:row:field: message`` lines and the exit code is 2. Exit 0 means every file is valid;
warnings (e.g. a LaMP question with an empty profile) go to stderr as ``warning: file:row:field: ...``.
"""

from __future__ import annotations

import argparse
import sys

from core.data.load import FileCounts, LoadResult, load, plan_sources
from core.data.loaders.problems import ProblemLog
from core.data.model import Task
from core.errors import InputError, Problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="data files or folders (CSV, JSONL, JSON, LaMP)")
    parser.add_argument("--keep-valid", action="store_true",
                        help="load the valid rows of files with problems and count them (exit code stays 2)")
    parser.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN", dest="mapping",
                        help="map a field (user, id, input, output, timestamp) to a column; repeatable")
    parser.add_argument("--task", choices=["score", "label", "text"],
                        help="task kind instead of the inferred one")
    parser.add_argument("--score-range", nargs=2, type=float, metavar=("MIN", "MAX"), default=(1.0, 5.0),
                        help="score range with --task score (default 1 5)")
    parser.add_argument("--max-mb", type=float, default=None,
                        help="largest accepted file, in MB (default $INFLOW_MAX_MB, else 200)")
    parser.add_argument("--max-errors", type=int, default=50, help="most problems reported (default 50)")


def parse_mapping(items: list[str]) -> dict[str, str]:
    """Turn ``["input=review_body", ...]`` into a mapping.

    Raises:
        InputError: An item without ``=``.
    """
    mapping: dict[str, str] = {}
    problems = []
    for item in items:
        fld, sep, col = item.partition("=")
        if not sep or not fld.strip():
            problems.append(Problem("--map", None, item, "expected FIELD=COLUMN, e.g. --map input=review_body"))
            continue
        mapping[fld.strip()] = col.strip()
    if problems:
        raise InputError(problems)
    return mapping


def describe_task(task: Task) -> str:
    """Render a task for the counts line, e.g. ``score 1-5`` or ``label (15 labels)``."""
    if task.kind == "score":
        lo, hi = (str(int(x)) if float(x).is_integer() else str(x) for x in (task.score_min, task.score_max))
        return f"score {lo}-{hi}"
    if task.kind == "label":
        return f"label ({len(task.labels)} labels)" if task.labels else "label"
    return "text"


def describe(counts: FileCounts, result: LoadResult) -> str:
    """One counts line for a source."""
    name = counts.file + (f" + {counts.companion}" if counts.companion else "")
    line = (f"{name}: {counts.format}, {counts.users} users, {counts.items} items, {counts.queries} queries, "
            f"task {describe_task(result.dataset.task)} ({result.dataset.task.name})")
    if counts.skipped:
        line += f", {counts.skipped} skipped"
    return line


def run(args: argparse.Namespace) -> int:
    """Validate the files; print counts; raise InputError (exit 2) with every problem found."""
    mapping = parse_mapping(args.mapping) or None
    task = None
    if args.task:
        lo, hi = args.score_range
        task = Task(kind=args.task, name=args.task, score_min=lo, score_max=hi)
    log = ProblemLog(args.max_errors)
    for source in plan_sources(args.paths):
        try:
            result = load(source.names, task=task, mapping=mapping, keep_valid=args.keep_valid,
                          max_bytes=None if args.max_mb is None else int(args.max_mb * 1024 * 1024),
                          max_errors=args.max_errors)
        except InputError as exc:
            log.extend(exc.problems, truncated=exc.truncated)
            continue
        for counts in result.files:
            print(describe(counts, result))
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        log.extend(result.problems, truncated=result.truncated)
    if log:
        raise log.error()
    return 0
