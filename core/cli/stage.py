"""``python -m core stage NAME --run RUN --workspace W``: re-run one stage of a stored run as a new run.

``RUN`` is a run id or its readable label (``factors-002``, as ``build`` prints them). The stage is
run again with the same parameters and parents (see :mod:`core.stages.rerun`) and the new run's
label and id are printed. Model-backed stages use the stored backend and model with the current
backend settings (``$INFLOW_BACKEND``, ``$OPENAI_BASE_URL``, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.embed.factory import embedder_choice, make_embedder
from core.errors import InputError, Problem
from core.llm.factory import make_client
from core.llm.settings import BackendSettings
from core.stages.rerun import RERUN_STAGES, rerun_stage
from core.store.files import open_workspace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``stage`` command's arguments."""
    parser.add_argument("name", choices=RERUN_STAGES, help="The stage to re-run.")
    parser.add_argument("--run", required=True, help="Run id or readable label (e.g. factors-002) to repeat.")
    parser.add_argument("--workspace", required=True, help="Workspace file (SQLite).")
    parser.add_argument("--dataset", default=None, help="Dataset id, when several datasets have a run with this label.")
    parser.add_argument("--user", default=None, help="User id, when several users have a run with this label.")
    parser.add_argument("--no-cache", action="store_true",
                        help="Bypass the LLM cache: every call goes to the model (also $INFLOW_NO_CACHE=1).")
    parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")


def run(args: argparse.Namespace) -> int:
    """Re-run the stage and print the new run."""
    path = Path(args.workspace)
    if not path.exists():
        raise InputError(Problem(str(path), None, "workspace", "no such workspace file"))
    ws = open_workspace(path, create=False)

    def client_for(backend: str, model: str) -> Any:
        settings = BackendSettings.from_env()
        if backend not in ("local", "openai"):
            raise InputError(Problem(str(path), None, "backend", f"unknown backend {backend!r} in the run"))
        settings.kind = backend  # type: ignore[assignment]
        if backend == "openai":
            settings.model = model
        if args.no_cache:
            settings.use_cache = False
        return make_client(settings, ws)

    def embedder_for(name: str) -> Any:
        kind, kw = embedder_choice(name)
        return make_embedder(kind, fallback=False, **kw)

    try:
        done = rerun_stage(ws, args.name, args.run, client_for=client_for, embedder_for=embedder_for,
                           dataset_id=args.dataset, user_id=args.user)
        src = done.source
        if args.json:
            print(json.dumps({"stage": done.stage, "run_id": done.run_id, "run_label": done.label,
                              "status": done.status, "source_run_id": src.id, "source_run_label": src.label,
                              "dataset": src.dataset_id, "user": src.user_id, "changed": done.changed},
                             indent=2))
        else:
            print(f"{done.stage} run {done.label} ({done.run_id}) {done.status}: repeats {src.label} "
                  f"({src.id}) of user {src.user_id} in {src.dataset_id}")
            if done.changed:
                print(f"note: inputs changed since {src.label}: {', '.join(done.changed)}", file=sys.stderr)
    finally:
        ws.close()
    return 0
