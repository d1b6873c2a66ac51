"""Summary versions for the summary editor: labels and a diff between any two versions."""

from __future__ import annotations

import difflib
import time
from typing import Any


def version_label(version: dict[str, Any]) -> str:
    """Return a one-line label such as ``v3 · edited · 2026-11-02 17:40``."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(version.get("created_at") or 0.0)))
    note = f" · {version['note']}" if version.get("note") else ""
    return f"v{version['version']} · {version.get('source', '')} · {when}{note}"


def unified_summary_diff(old: str, new: str, *, old_name: str = "old", new_name: str = "new") -> str:
    """Return a unified line diff between two summary texts ("" when they are equal).

    Sentences are put on their own lines first, so an edit inside a paragraph shows as the changed
    sentence rather than the whole paragraph.
    """
    a, b = _sentences(old), _sentences(new)
    return "\n".join(difflib.unified_diff(a, b, fromfile=old_name, tofile=new_name, lineterm=""))


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        parts = [p.strip() for p in _split_sentences(line)]
        out.extend(p for p in parts if p)
        if not line.strip():
            out.append("")
    return out


def _split_sentences(line: str) -> list[str]:
    pieces, start = [], 0
    for i, ch in enumerate(line):
        if ch in ".!?" and (i + 1 == len(line) or line[i + 1] == " "):
            pieces.append(line[start:i + 1])
            start = i + 1
    pieces.append(line[start:])
    return pieces


def diff_stats(old: str, new: str) -> dict[str, int]:
    """Return ``{added, removed}`` sentence counts between two summary texts."""
    added = removed = 0
    for op in difflib.ndiff(_sentences(old), _sentences(new)):
        if op.startswith("+ "):
            added += 1
        elif op.startswith("- "):
            removed += 1
    return {"added": added, "removed": removed}
