"""Collecting problems up to a cap."""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import InputError, Problem


class ProblemLog:
    """Problems (and warnings) found while loading, keeping the first ``cap`` and counting the rest.

    Args:
        cap: Most problems kept; later ones only set :attr:`truncated`.
    """

    def __init__(self, cap: int = 50) -> None:
        self.cap = max(1, int(cap))
        self.problems: list[Problem] = []
        self.count = 0
        self.warnings: list[Problem] = []

    def warn(self, problem: Problem) -> None:
        """Record something worth saying that does not make the data invalid (kept up to ``cap``)."""
        if len(self.warnings) < self.cap:
            self.warnings.append(problem)

    def add(self, problem: Problem) -> None:
        """Record one problem."""
        self.count += 1
        if len(self.problems) < self.cap:
            self.problems.append(problem)

    def extend(self, problems: Iterable[Problem], *, truncated: bool = False) -> None:
        """Record several problems; ``truncated`` says the list was already cut short (counts one more)."""
        for p in problems:
            self.add(p)
        if truncated:
            self.count += 1

    @property
    def truncated(self) -> bool:
        """True when more problems were found than kept."""
        return self.count > len(self.problems)

    def __bool__(self) -> bool:
        return self.count > 0

    def error(self) -> InputError:
        """Return an :class:`InputError` holding the kept problems (the log must not be empty)."""
        return InputError(self.problems, truncated=self.truncated)
