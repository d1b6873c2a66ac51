"""One ``ast.parse`` at a time in this process: a guard against a CPython 3.11 threading bug.

Python before 3.13 keeps the AST constructor's recursion counter in interpreter-wide state. When two
threads build AST objects at once (a thread switch can happen mid-build: a garbage collection runs
finalisers and callbacks), each resets the other's counter and one fails with ``SystemError: AST
constructor recursion depth mismatch`` (CPython gh-106905). The workbench does this without asking
for it: its background threads import numpy.ma and others (``inspect.signature`` parses text
signatures) and format tracebacks (``traceback`` parses the failing line), while another thread
does the same. :func:`install` serialises ``ast.parse`` behind one re-entrant lock. Streamlit's
"magic", which also turns ASTs back into code (``compile`` of a tree, not covered by the lock), is
switched off in ``.streamlit/config.toml`` for the same reason.
"""

from __future__ import annotations

import ast
import functools
import sys
import threading
from collections.abc import Callable
from typing import Any

# gh-106905's repair (a per-call recursion record) is in 3.13; older versions need the guard.
NEEDED = sys.version_info < (3, 13)
_LOCK = threading.RLock()


def guarded(parse: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``parse`` so that calls from different threads run one at a time."""

    @functools.wraps(parse)
    def parse_one_at_a_time(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return parse(*args, **kwargs)

    parse_one_at_a_time.__inflow_guarded__ = True  # type: ignore[attr-defined]
    return parse_one_at_a_time


def install(force: bool = False) -> bool:
    """Replace ``ast.parse`` with its guarded form (once); return whether the guard is in place.

    Args:
        force: install even on a Python that does not need it (for tests).
    """
    if getattr(ast.parse, "__inflow_guarded__", False):
        return True
    if not (NEEDED or force):
        return False
    ast.parse = guarded(ast.parse)
    return True
