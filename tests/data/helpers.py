"""Assertion helpers for the loader tests."""

from __future__ import annotations

from core.errors import Problem


def only(problems: list[Problem]) -> Problem:
    """The single problem of a list (fails otherwise)."""
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def located(problem: Problem, file: str, row: int | str | None, field: str | None) -> None:
    """Assert a problem names this file, row and field, and that its rendered line shows them."""
    assert problem.file.endswith(file), str(problem)
    assert problem.row == row, str(problem)
    assert problem.field == field, str(problem)
    line = str(problem)
    assert file in line
    if row is not None:
        assert f":{row}:" in line
    if field is not None:
        assert f":{field}: " in line
    assert "\n" not in problem.message and problem.message.strip()
