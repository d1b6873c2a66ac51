"""Command-line interface: ``python -m core <command> ...``.

Each command lives in its own module under :mod:`core.cli` and exposes ``add_arguments(parser)``
and ``run(args) -> int``. User-caused errors (:class:`core.errors.InputError`) print as
``file:row:field: message`` lines and exit 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from core.errors import InputError

COMMANDS = {
    "validate": "Load files and report counts or problems.",
    "build": "Run stages 1-4 (features, factors, summary, paths) for a dataset.",
    "answer": "Answer a query for a user with one method and print its trace.",
    "ablate": "Re-run a method with one factor, path or the summary removed.",
    "stage": "Re-run one stage of a stored run (same parameters and parents) as a new run.",
    "eval": "Score methods on a dataset with the LaMP metrics.",
    "export": "Write the whole workspace, or one user, to one JSON file.",
    "import": "Read a workspace or user export into a workspace.",
}
MODULES = {"export": ("transfer", "add_export_arguments", "run_export"),
           "import": ("transfer", "add_import_arguments", "run_import")}
"""Commands that share a module: name -> (module, arguments function, run function)."""


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one command; return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # Import only the chosen command's module: some pull in heavy libraries (scipy, umap).
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = argparse.ArgumentParser(prog="python -m core", description="Inflow command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name != chosen:
            continue
        module_name, add_fn, run_fn = MODULES.get(name, (name, "add_arguments", "run"))
        try:
            module = importlib.import_module(f"core.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"core.cli.{module_name}":
                raise
            p.set_defaults(_missing=name)
            continue
        getattr(module, add_fn)(p)
        p.set_defaults(_run=getattr(module, run_fn))
    args = parser.parse_args(argv)
    if getattr(args, "_missing", None):
        print(f"command {args._missing!r} is not available in this build", file=sys.stderr)
        return 2
    try:
        return int(args._run(args))
    except InputError as exc:
        for problem in exc.problems:
            print(str(problem), file=sys.stderr)
        if exc.truncated:
            print("... more problems not shown", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished items are saved in the workspace", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
