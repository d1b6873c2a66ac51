"""The engine options shared by ``build`` and ``eval``, and the one-line progress over users."""

from __future__ import annotations

import argparse
import time
from typing import Any, TextIO

from core.engine import make_engine
from core.engine.base import ENGINES, EngineProgress
from core.engine.budget import BudgetLimits, LocalBudget
from core.llm.client import LLMClient


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``--engine``, ``--address``, ``--num-cpus`` and ``--worker-cpus``."""
    group = parser.add_argument_group("engine (how users are spread over processes or machines)")
    group.add_argument("--engine", choices=ENGINES, default="local",
                       help="local: users one after another in this process (default); ray: one Ray task per user")
    group.add_argument("--address", default=None, metavar="auto|ray://HOST:PORT",
                       help="Ray cluster to join (default: start a local Ray instance)")
    group.add_argument("--num-cpus", type=int, default=None,
                       help="CPUs of the local Ray instance (default: this machine's)")
    group.add_argument("--worker-cpus", type=float, default=1.0,
                       help="CPUs each user's Ray task reserves (default 1; below 1 runs more users per core)")


def make_cli_engine(args: argparse.Namespace) -> Any:
    """Return the engine the arguments ask for.

    Raises:
        core.errors.InputError: Bad engine options (field named).
    """
    if args.engine == "local":
        return make_engine("local", address=args.address)
    return make_engine("ray", address=args.address, num_cpus=args.num_cpus, worker_cpus=args.worker_cpus)


def budget_local_client(client: LLMClient | None, environ: dict[str, str] | None = None) -> Any | None:
    """Give the client of the local path a budget when ``INFLOW_MAX_RPM`` / ``INFLOW_MAX_TPM`` are set.

    The engines hold these limits themselves; this makes them hold for today's local loop too.

    Returns:
        The :class:`core.engine.budget.LocalBudget` attached, or None (no client, or no limit set).

    Raises:
        core.errors.InputError: A limit that is not a positive integer (the variable is named).
    """
    if client is None:
        return None
    limits = BudgetLimits.from_env(client.max_concurrency, environ)
    if limits.rpm is None and limits.tpm is None:
        return None
    client.limiter = LocalBudget(limits)
    return client.limiter


class UsersLine:
    """Progress over users on a stream: redrawn in place on a terminal, a line every few seconds otherwise."""

    def __init__(self, stream: TextIO, every_s: float = 2.0) -> None:
        """Create the display."""
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every_s = every_s
        self._last = 0.0
        self._finished = -1

    def __call__(self, p: EngineProgress) -> None:
        """Show one progress snapshot."""
        now = time.monotonic()
        if self.tty:
            self.stream.write(f"\r{p.line()}\033[K")
        elif p.finished == p.total != self._finished or now - self._last >= self.every_s:
            self.stream.write(p.line() + "\n")
        else:
            return
        self._last, self._finished = now, p.finished
        self.stream.flush()

    def close(self) -> None:
        """End the display's line."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
