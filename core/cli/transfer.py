"""``python -m core export`` and ``python -m core import``: move a workspace or one user as one JSON file.

``export --workspace W OUT.json`` writes the whole workspace (datasets, runs, edits, summary
versions, caches, traces, evaluations); with ``--dataset D --user U`` it writes that user's history,
summary versions, curation edits, prompt pool and built profile. ``import --workspace W FILE.json``
reads either kind (told apart by the file's ``format``) into the workspace. An export never replaces
the workspace itself, nor an existing file without ``--force``, and is written atomically.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli.answer import resolve_dataset
from core.data.loaders.source import default_max_bytes, read_text
from core.errors import InputError, Problem
from core.stages.pipeline import load_profile
from core.stages.profile import profile_to_json
from core.store.exchange import EXPORT_FORMAT, export_user, export_workspace, import_user, import_workspace
from core.store.files import check_target, open_workspace


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``export`` command's arguments."""
    parser.add_argument("out", metavar="OUT.json", help="file to write")
    parser.add_argument("--workspace", required=True, help="workspace file")
    parser.add_argument("--dataset", help="with --user: export one user of this dataset")
    parser.add_argument("--user", help="export only this user (history, summaries, edits, pool, profile)")
    parser.add_argument("--force", action="store_true", help="replace OUT.json when it exists")


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``import`` command's arguments."""
    parser.add_argument("file", metavar="FILE.json", help="a workspace or user export")
    parser.add_argument("--workspace", required=True, help="workspace file (created if missing)")
    parser.add_argument("--dataset", help="user exports: store the user in this dataset (default: its own)")


def run_export(args: argparse.Namespace) -> int:
    """Write the export (atomically; never onto the workspace, nor an existing file without --force)."""
    check_target(args.out, force=args.force, protect=args.workspace)
    ws = open_workspace(args.workspace, create=False)
    try:
        if args.user is None:
            out = export_workspace(ws, args.out)
            print(f"wrote workspace export {out}")
            return 0
        dataset = resolve_dataset(ws, args.dataset, args.user)

        profile = load_profile(ws, dataset, args.user)
        out = export_user(ws, dataset, args.user, args.out,
                          profile=profile_to_json(profile) if profile is not None else None)
        print(f"wrote user export {out} ({dataset}/{args.user}{'' if profile else ', not built yet'})")
        return 0
    finally:
        ws.close()


def run_import(args: argparse.Namespace) -> int:
    """Read the file into the workspace; print what was imported."""
    # The loaders' reader: regular files only, size-capped (a FIFO or /dev/zero cannot hang or fill memory).
    text = read_text(Path(args.file), args.file, default_max_bytes())
    try:
        kind = json.loads(text).get("format")
    except (ValueError, RecursionError, AttributeError) as exc:
        raise InputError(Problem(args.file, None, None, f"cannot read export: {exc}")) from None
    ws = open_workspace(args.workspace, create=True)
    try:
        if kind == EXPORT_FORMAT:
            counts = import_workspace(ws, args.file)
            print("imported " + ", ".join(f"{n} {t}" for t, n in counts.items() if n))
        else:
            did, uid = import_user(ws, args.file, dataset_id=args.dataset)
            print(f"imported user {uid} into dataset {did}")
        return 0
    finally:
        ws.close()
