"""Errors a user can cause, carrying where the problem is (file, row or JSON path, field).

One exception type, :class:`InputError`, is raised for bad files, bad settings and unreachable
endpoints. It holds one or more :class:`Problem` records, so a loader can collect every row error
(up to a cap) and report them together. Pages and the CLI print ``str(problem)`` lines; nobody
shows a traceback for these.
"""

from __future__ import annotations

from dataclasses import dataclass

QUOTE_LIMIT = 200
"""Most characters of a cell quoted in a message (a 1 MB cell must not become 1 MB of stderr)."""
MESSAGE_LIMIT = 1000
"""Most characters of any problem message (and of its file/row/field parts); a last guard."""


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """Cut ``text`` to ``limit`` characters, saying how long it was: ``"abc... (1048576 characters)"``."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """Quote a value from the data for a message, like ``repr``, but at most ``limit`` characters of it."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input.

    Attributes:
        file: The file name (or setting / endpoint name) at fault.
        row: 1-based data row, a JSON path like ``$.u1[3]``, or ``None`` for the whole file.
        field: The column / key at fault, or ``None``.
        message: One human line saying what is wrong and, where possible, how to fix it.
    """

    file: str
    row: int | str | None
    field: str | None
    message: str

    def __post_init__(self) -> None:
        """Bound every part: a message quoting a whole cell or header stays readable."""
        object.__setattr__(self, "file", clip(str(self.file), MESSAGE_LIMIT))
        if isinstance(self.row, str):
            object.__setattr__(self, "row", clip(self.row, MESSAGE_LIMIT))
        if self.field is not None:
            object.__setattr__(self, "field", clip(str(self.field), QUOTE_LIMIT))
        object.__setattr__(self, "message", clip(self.message, MESSAGE_LIMIT))

    def __str__(self) -> str:
        """Render as ``file:row:field: message`` (empty parts kept, so the shape is fixed)."""
        row = "" if self.row is None else str(self.row)
        fld = self.field or ""
        return f"{self.file}:{row}:{fld}: {self.message}"


class InputError(Exception):
    """Bad user input: a file, a setting or an endpoint. Holds one or more :class:`Problem`."""

    def __init__(self, problems: list[Problem] | Problem, *, truncated: bool = False) -> None:
        """Create the error.

        Args:
            problems: What is wrong (at least one).
            truncated: True when more problems existed than were collected.
        """
        self.problems: list[Problem] = [problems] if isinstance(problems, Problem) else list(problems)
        if not self.problems:
            raise ValueError("InputError needs at least one problem")
        self.truncated = truncated
        super().__init__(self._render())

    @property
    def file(self) -> str:
        """File of the first problem."""
        return self.problems[0].file

    @property
    def row(self) -> int | str | None:
        """Row of the first problem."""
        return self.problems[0].row

    @property
    def field(self) -> str | None:
        """Field of the first problem."""
        return self.problems[0].field

    def _render(self) -> str:
        lines = [str(p) for p in self.problems]
        if self.truncated:
            lines.append("... more problems not shown")
        return "\n".join(lines)


class BackendError(InputError):
    """A model endpoint failed after its retries (endpoint, status and message in the problem)."""


class Cancelled(Exception):
    """A job the user cancelled stopped before it finished (a run it held ends ``cancelled``, not ``failed``)."""
