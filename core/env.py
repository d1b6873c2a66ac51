"""Whole numbers read from environment variables, with an error that names the variable.

Settings come from the environment in several layers (the LLM backend, the call budget, the
local model's threads, ``rpm``'s prompt cap); one reader keeps their rules and messages alike.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.errors import InputError, Problem

SOURCE = "settings"


def env_int(env: Mapping[str, str], var: str, field_name: str, *, minimum: int = 0) -> int | None:
    """The whole number in ``env[var]``, or None when it is unset or empty.

    Args:
        env: The environment (``os.environ`` or a mapping standing in for it).
        var: The variable's name.
        field_name: The setting it feeds, named in the error.
        minimum: The smallest value allowed.

    Raises:
        InputError: The value is not a whole number, or is below ``minimum`` (the problem names
            ``field_name`` and its message names ``var``).
    """
    value = (env.get(var) or "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < minimum:
        kind = "a positive integer" if minimum >= 1 else "a whole number"
        raise InputError(Problem(SOURCE, None, field_name, f"{var} must be {kind}, got {value!r}"))
    return int(value)
