"""``python -m core eval``: score answering methods and no-model baselines with the LaMP metrics.

Two ways in:

* LaMP files: ``--questions Q.json --outputs O.json [--task LaMP_3]``: each question is answered
  from its own profile (the question's user is the question); the flags say which file is which,
  whatever the files are named;
* the project's formats: ``--data PATH [PATH ...] --split last:0.2``: the last 20% of each user's
  items are the queries, the earlier items the history (a data set with its own queries, e.g.
  LaMP files given with ``--data``, needs no ``--split``).

Prints the metric table, writes the result JSON (``--json``) and optionally a per-query CSV
(``--csv``); the result is also stored as an eval run in the workspace (``--workspace``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from core.cli.engine_args import UsersLine, add_engine_arguments, budget_local_client, make_cli_engine
from core.data.load import load, load_lamp_pair
from core.data.model import split_last
from core.data.tasks import LAMP_SPECS, lamp_number
from core.embed.base import Embedder
from core.embed.factory import make_embedder
from core.engine import prepare_run
from core.errors import InputError, Problem
from core.evaluate.faithfulness import format_faithfulness
from core.evaluate.harness import evaluate, export_csv, export_json, format_table
from core.llm.client import LLMClient
from core.llm.factory import make_client
from core.llm.settings import BackendSettings
from core.methods.registry import METHOD_NAMES
from core.stages.profile import PipelineSettings
from core.store.files import open_workspace

DEFAULT_WORKSPACE = ".inflow/eval.sqlite"
EMBEDDERS = {"hash": "hashing", "hashing": "hashing", "minilm": "minilm", "openai": "openai"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``eval`` command's arguments."""
    src = parser.add_argument_group("data (LaMP files, or --data with --split)")
    src.add_argument("--questions", help="LaMP questions file (*_questions.json).")
    src.add_argument("--outputs", help="LaMP outputs file (*_outputs.json).")
    src.add_argument("--task", help="LaMP task name, e.g. LaMP_3 (default: from the outputs file).")
    src.add_argument("--data", nargs="+", metavar="PATH", help="Data files in any supported format.")
    src.add_argument("--split", help="Hold out queries from --data, e.g. last:0.2 (the last 20%% of each user).")
    parser.add_argument("--methods", default=",".join(METHOD_NAMES),
                        help=f"Comma-separated methods (default: all of {','.join(METHOD_NAMES)}).")
    parser.add_argument("--no-baselines", action="store_true", help="Skip the no-model baselines.")
    parser.add_argument("--scoring", choices=["inflow", "lamp"], default="inflow",
                        help="Scoring the table leads with: inflow (out-of-range scores count as the farther bound) "
                             "or lamp (the official LaMP evaluator's rules). The JSON always holds both.")
    parser.add_argument("--faithfulness", action="store_true",
                        help="Also remove each answer's top factor, retrieved items or summary, re-answer, and "
                             "report how often / how far answers move and whether the evidence alone reproduces "
                             "them (up to 6 more model calls per method and query).")
    parser.add_argument("--limit", type=int, help="Evaluate at most N queries.")
    parser.add_argument("--limit-per-user", type=int, help="Evaluate at most N queries per user (their first ones).")
    parser.add_argument("--k", type=int, default=4, help="History items retrieved per query (default 4).")
    parser.add_argument("--backend", choices=["local", "openai"], help="Chat backend (default: $INFLOW_BACKEND, "
                        "else local). openai uses $OPENAI_BASE_URL, $OPENAI_API_KEY and $INFLOW_MODEL.")
    parser.add_argument("--no-cache", action="store_true",
                        help="Bypass the LLM cache: every call goes to the model (also $INFLOW_NO_CACHE=1).")
    parser.add_argument("--model", help="Model name for the openai backend (default $INFLOW_MODEL).")
    parser.add_argument("--base-url", help="Endpoint for the openai backend (default $OPENAI_BASE_URL).")
    port = parser.add_argument_group("portability (POPI): every user's summary written by another model")
    port.add_argument("--summary-backend", choices=["local", "openai"],
                      help="Backend whose model writes the summaries the answering model uses (default: none, "
                           "each profile's own summary).")
    port.add_argument("--summary-model", help="Model of --summary-backend openai (default $INFLOW_MODEL).")
    port.add_argument("--summary-base-url", help="Endpoint of --summary-backend openai (default $OPENAI_BASE_URL).")
    parser.add_argument("--embedder", choices=sorted(EMBEDDERS), default="minilm",
                        help="Embedder (default minilm, which falls back to hash when not installed).")
    parser.add_argument("--extractor", choices=["auto", "llm", "lexicon"], default="auto",
                        help="Feature extractor (default auto: the LLM when the backend is capable).")
    parser.add_argument("--workspace", default=DEFAULT_WORKSPACE,
                        help=f"Workspace file for caches and the eval run (default {DEFAULT_WORKSPACE}).")
    parser.add_argument("--json", dest="json_out", metavar="OUT.json", help="Write the result JSON here.")
    parser.add_argument("--csv", dest="csv_out", metavar="OUT.csv", help="Write per-query predictions as CSV here.")
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")
    add_engine_arguments(parser)


def parse_split(text: str) -> float:
    """Read ``last:<fraction>`` (fraction in (0, 1)), e.g. ``last:0.2``.

    Raises:
        InputError: Another form or a fraction out of range (field ``split``).
    """
    kind, _, frac = (text or "").partition(":")
    try:
        value = float(frac)
    except ValueError:
        value = -1.0
    if kind.strip().lower() != "last" or not 0.0 < value < 1.0:
        raise InputError(Problem("arguments", None, "split",
                                 f"--split must look like last:0.2 (a fraction between 0 and 1), got {text!r}"))
    return value


def parse_methods(text: str) -> list[str]:
    """Split and check a comma-separated method list.

    Raises:
        InputError: An unknown method or an empty list (field ``methods``).
    """
    names = [m.strip().lower() for m in (text or "").split(",") if m.strip()]
    unknown = [m for m in names if m not in METHOD_NAMES]
    if unknown or not names:
        raise InputError(Problem("arguments", None, "methods",
                                 f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
                                 f"choose from {', '.join(METHOD_NAMES)}"))
    return list(dict.fromkeys(names))


def load_eval_data(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """Load the history dataset and the queries the arguments describe.

    Raises:
        InputError: Missing or conflicting inputs, unreadable files, no queries.
    """
    task = None
    if args.task:
        number = lamp_number(args.task)
        if number is None:
            raise InputError(Problem("arguments", None, "task", f"not a LaMP task name: {args.task!r} (e.g. LaMP_3)"))
        task = LAMP_SPECS[number].task()
    if args.questions or args.outputs:
        if args.data:
            raise InputError(Problem("arguments", None, "data", "give either --questions/--outputs or --data"))
        if not (args.questions and args.outputs):
            raise InputError(Problem("arguments", None, "outputs" if args.questions else "questions",
                                     "LaMP evaluation needs both --questions and --outputs"))
        dataset = load_lamp_pair(args.questions, args.outputs, task=task).dataset  # roles from the flags
    elif args.data:
        dataset = load(args.data, task=task).dataset
    else:
        raise InputError(Problem("arguments", None, "data", "give --questions Q.json --outputs O.json, "
                                                            "or --data PATH --split last:0.2"))
    if args.split:
        history, queries = split_last(dataset, parse_split(args.split))
    else:
        history, queries = dataset, list(dataset.queries)
    queries = [q for q in queries if q.gold is not None]
    if not queries:
        raise InputError(Problem("arguments", None, "split", "no queries with a known answer to evaluate; "
                                                             "use LaMP outputs or --split last:0.2"))
    return history, queries


class EvalLine:
    """One stderr line: the queries answered, and the long part of the answer in progress when a method reports one.

    Why the second part: ``rpm``'s first answer for a user also fits the user's decision rule (up
    to 20 dev items answered first, minutes on the local model); a line that only counts queries
    would stand still all that time.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        """Write to ``stream`` (stderr by default) with a bar ``width`` characters wide."""
        self.stream = stream or sys.stderr
        self.width = width
        self.done = self.total = 0
        self.part = ""
        self.shown = 0

    def queries(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` queries answered (the harness's ``progress``)."""
        self.done, self.total, self.part = done, total, ""
        self._draw()
        if total and done >= total:
            print(file=self.stream, flush=True)

    def method(self, done: int, total: int, label: str) -> None:
        """Report ``done`` of ``total`` steps of a long part inside one answer (the harness's ``method_progress``)."""
        self.part = f" · {label}: {done}/{total}" if total and done < total else ""
        self._draw()

    def _draw(self) -> None:
        filled = int(self.width * self.done / self.total) if self.total else 0
        text = f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} queries{self.part}"
        pad = " " * max(0, self.shown - len(text))  # a shorter line must wipe the longer one it replaces
        self.shown = len(text)
        print(f"\r{text}{pad}", end="", file=self.stream, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the evaluation, print the table and write the outputs."""
    methods = parse_methods(args.methods)
    for name in ("limit", "limit_per_user"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise InputError(Problem("arguments", None, name, f"--{name.replace('_', '-')} must be at least 1"))
    if args.k < 0:
        raise InputError(Problem("arguments", None, "k", "--k must be zero or more"))
    history, queries = load_eval_data(args)
    settings = BackendSettings.from_env()
    if args.backend:
        settings.kind = args.backend
    if args.model:
        settings.model = args.model
    if args.base_url:
        settings.base_url = args.base_url
    if args.no_cache:
        settings.use_cache = False
    source = None
    if args.summary_backend:
        source = BackendSettings.from_env()
        source.kind = args.summary_backend
        source.model = args.summary_model or source.model
        source.base_url = args.summary_base_url or source.base_url
        source.use_cache = settings.use_cache
    elif args.summary_model or args.summary_base_url:
        raise InputError(Problem("arguments", None, "summary_backend",
                                 "--summary-model / --summary-base-url need --summary-backend"))
    ws = open_workspace(args.workspace, create=True)  # a folder or a non-SQLite file: a message
    try:
        client = make_client(settings, ws)
        summary_client = make_client(source, ws) if source is not None else None
        kind = EMBEDDERS[args.embedder]
        embedder = make_embedder(kind, workspace=ws)
        pipeline = PipelineSettings(extractor=args.extractor, embedder="hash" if kind == "hashing" else kind)
        run_on = _engine_run(args, client, embedder, pipeline)
        line = None if args.quiet or run_on else EvalLine()
        result = evaluate(ws, history, queries, methods=methods, client=client, embedder=embedder,
                          settings=pipeline, limit=args.limit, limit_per_user=args.limit_per_user, k=args.k,
                          baselines=not args.no_baselines, progress=None if line is None else line.queries,
                          engine=run_on, scoring=args.scoring, faithfulness=args.faithfulness,
                          summary_client=summary_client, method_progress=None if line is None else line.method)
        if run_on is not None:
            if isinstance(run_on.progress, UsersLine):
                run_on.progress.close()
            for user, reason in (result.engine or {}).get("failures", {}).items():
                print(f"user {user} failed: {reason}", file=sys.stderr)
        print(format_table(result))
        print(f"run {ws.run_label(result.run_id)} ({result.run_id})", file=sys.stderr)
        if result.portability is not None:
            p = result.portability
            print(f"summaries written by {p['source'].get('kind')} / {p['source'].get('model')} for {p['users']} "
                  f"users: {p['summary_tokens_mean']:.0f} tokens on average against {p['history_tokens_mean']:.0f} "
                  f"in the raw history (ratio {p['ratio_mean']:.3f})")
        if args.faithfulness:
            print()
            print(format_faithfulness(result))
        if result.cancelled:
            print(f"cancelled after {result.n} of {result.n_planned} queries; finished ones are scored",
                  file=sys.stderr)
        if args.json_out:
            export_json(result, args.json_out)
            print(f"wrote {args.json_out}", file=sys.stderr)
        if args.csv_out:
            export_csv(result, args.csv_out)
            print(f"wrote {args.csv_out}", file=sys.stderr)
    finally:
        ws.close()
    return 130 if result.cancelled else 0


def _engine_run(args: argparse.Namespace, client: LLMClient | None, embedder: Embedder,
                pipeline: PipelineSettings) -> Any:
    """Return the :class:`core.engine.base.EngineRun` for ``--engine ray`` (None for the local, query-by-query path)."""
    if args.engine == "local":
        make_cli_engine(args)  # checks that no Ray-only option was given
        budget_local_client(client)
        return None
    run = prepare_run(make_cli_engine(args), client, embedder, pipeline)
    run.progress = None if args.quiet else UsersLine(sys.stderr)
    return run
