"""``python -m core answer``: answer a query for a user with one method and print the answer and its trace.

The user's profile is loaded from the workspace (built with stages 1-4 first when missing). The
user's stored prompt pool (``--pool FILE.json`` stores one, ``--pool-reset`` deletes it) is used by
the ``pool`` method instead of the default pool. The answer is recorded the way the pages record
one (:func:`core.views.answering.answer_query`): an ``answer`` run whose LLM calls carry its id, the
answer and trace stored as its ``answer`` artifact. This module only parses arguments and prints.
``rpm``'s first answer fits the user's decision rule on up to 20 dev items first; that shows on
stderr as a progress line (:func:`fitting_display`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.cli.build import ProgressBar
from core.embed.factory import embedder_choice, make_embedder
from core.errors import InputError, Problem
from core.llm.factory import make_client
from core.llm.settings import BackendSettings
from core.methods.pool_store import read_pool_file, reset_pool, save_pool, validate_entries
from core.methods.registry import METHOD_NAMES, get_method
from core.methods.render import format_answer
from core.stages.pipeline import build_profile, load_profile
from core.stages.profile import Profile
from core.store.files import open_workspace
from core.store.workspace import Workspace
from core.views.answering import answer_query
from core.views.build_settings import pipeline_settings


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments ``answer`` and ``ablate`` share."""
    parser.add_argument("--workspace", required=True, help="Workspace file (SQLite).")
    parser.add_argument("--user", required=True, help="User id.")
    parser.add_argument("--query", required=True, help="The new input to answer.")
    parser.add_argument("--method", default="rpm", help=f"One of {', '.join(METHOD_NAMES)} (default rpm).")
    parser.add_argument("--dataset", default=None, help="Dataset id (default: the only dataset holding the user).")
    parser.add_argument("--k", type=int, default=4, help="History items / pool entries to retrieve (default 4).")
    parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")
    parser.add_argument("--reason-first", action="store_true",
                        help="rpm: the model reasons about the user in free text first; the trace shows it.")
    parser.add_argument("--backend", choices=["local", "openai"], default=None,
                        help="Chat backend (default: $INFLOW_BACKEND, else local).")
    parser.add_argument("--no-cache", action="store_true",
                        help="Bypass the LLM cache: every call goes to the model (also $INFLOW_NO_CACHE=1).")
    parser.add_argument("--stages", choices=["auto", "deterministic", "llm"], default=None,
                        help="Stage implementations when the profile must be built first (default: "
                             "$INFLOW_STAGES, else auto: LLM stages when the backend is capable).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``answer`` command's arguments."""
    add_common_arguments(parser)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--pool", default=None, metavar="FILE.json",
                       help='Store this prompt pool for the user before answering: a JSON list of {"id"?, "text", '
                            '"kind": "instruction"|"demo"} (the pool method then uses it instead of the default).')
    group.add_argument("--pool-reset", action="store_true",
                       help="Delete the user's stored prompt pool (the default pool built from the profile applies).")


@dataclass
class Session:
    """An opened workspace with a user's profile and the client and embedder to answer with."""

    workspace: Workspace
    dataset_id: str
    user_id: str
    profile: Profile
    client: Any
    embedder: Any
    profile_built: bool


def resolve_dataset(ws: Workspace, dataset: str | None, user: str) -> str:
    """Return the dataset id to use for ``user``.

    Raises:
        InputError: No such dataset, the user is not in it, or the choice is ambiguous
            (fields ``dataset`` / ``user``).
    """
    if dataset is not None:
        if not ws.has_dataset(dataset):
            known = ", ".join(d["id"] for d in ws.list_datasets()) or "none"
            raise InputError(Problem(ws.path, None, "dataset", f"no dataset {dataset!r} (datasets: {known})"))
        if user not in ws.list_users(dataset):
            raise InputError(Problem(ws.path, None, "user", f"no user {user!r} in dataset {dataset!r}"))
        return dataset
    holding = [d["id"] for d in ws.list_datasets() if user in ws.list_users(d["id"])]
    if not holding:
        raise InputError(Problem(ws.path, None, "user", f"no user {user!r} in any dataset of this workspace"))
    if len(holding) > 1:
        raise InputError(Problem(ws.path, None, "dataset",
                                 f"user {user!r} is in several datasets ({', '.join(holding)}); pass --dataset"))
    return holding[0]


def open_session(args: argparse.Namespace) -> Session:
    """Open the workspace, load (or build) the user's profile and make the client and embedder.

    With ``--pool FILE`` the file's pool is validated and stored for the user first; with
    ``--pool-reset`` the stored pool is deleted. Answers then use the user's stored pool, if any.

    Raises:
        InputError: Missing workspace, unknown dataset / user / method, bad k, a bad pool file
            (file, entry and field named), backend problems.
    """
    get_method(args.method)  # fail fast on a bad method name
    if args.k < 0:
        raise InputError(Problem("arguments", None, "k", "k must be zero or more"))
    if not args.query.strip():
        raise InputError(Problem("arguments", None, "query", "the query is empty"))
    path = Path(args.workspace)
    if not path.exists():
        raise InputError(Problem(str(path), None, "workspace", "no such workspace file"))
    pool_file = getattr(args, "pool", None)
    pool_rows = read_pool_file(pool_file) if pool_file else None
    if pool_rows is not None:
        validate_entries(pool_rows, source=str(pool_file))  # before any build: a bad file costs nothing
    ws = open_workspace(path, create=False)  # a folder or a non-SQLite file: a message, not a traceback
    dataset_id = resolve_dataset(ws, args.dataset, args.user)
    if pool_rows is not None:
        stored = save_pool(ws, dataset_id, args.user, pool_rows, source=str(pool_file))
        print(f"stored a prompt pool of {len(stored)} entries for user {args.user!r}", file=sys.stderr)
    elif getattr(args, "pool_reset", False):
        had = reset_pool(ws, dataset_id, args.user)
        print(f"{'deleted the' if had else 'no'} stored prompt pool for user {args.user!r}: the default pool applies",
              file=sys.stderr)
    settings = BackendSettings.from_env()
    if args.backend:
        settings.kind = args.backend
    if args.no_cache:
        settings.use_cache = False
    client = make_client(settings, ws)
    profile = load_profile(ws, dataset_id, args.user)
    built = profile is None
    if profile is None:
        kind, kw = embedder_choice(None)
        embedder = make_embedder(kind, workspace=ws, **kw)
        print(f"no profile for user {args.user!r} yet: building it (stages 1-4)...", file=sys.stderr)
        profile = build_profile(ws, dataset_id, args.user, client=client, embedder=embedder,
                                settings=pipeline_settings(getattr(args, "stages", None), kind))
    else:
        kind, kw = embedder_choice(profile.settings.get("embedder_name"))
        embedder = make_embedder(kind, workspace=ws, **kw)
    return Session(workspace=ws, dataset_id=dataset_id, user_id=args.user, profile=profile, client=client,
                   embedder=embedder, profile_built=built)


def fitting_display(session: Session) -> tuple[ProgressBar, Any]:
    """A stderr progress line for a long part inside one answer, and the method's callback that feeds it.

    Why: ``rpm``'s first answer answers up to 20 dev items before the query (minutes on the local
    model); without it the command says nothing for that long. Nothing is printed when no method
    reports (close the bar with ``summary=False``).
    """
    bar = ProgressBar(sys.stderr, f"user {session.user_id}", client=session.client)
    return bar, lambda done, total, _label: bar("fitting rule", done, total)


def run(args: argparse.Namespace) -> int:
    """Answer the query and print the answer with its trace."""
    session = open_session(args)
    ws = session.workspace
    bar, fitting = fitting_display(session)
    record = answer_query(ws, session.profile, method=args.method, query=args.query, client=session.client,
                          embedder=session.embedder, k=args.k, reason_first=bool(getattr(args, "reason_first", False)),
                          source="cli", method_progress=fitting)
    bar.close(summary=False)
    payload = ws.get_artifact(record.run_id, "answer")  # printed exactly as stored
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    else:
        print(f"user {session.user_id} in {session.dataset_id}, run {record.run_label} ({record.run_id})")
        print(format_answer(record.answer))
    ws.close()
    return 0
