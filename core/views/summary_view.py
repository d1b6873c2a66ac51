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


def summary_staleness(versions: list[dict[str, Any]], basis_digest: str | None, current_digest: str) -> dict[str, Any]:
    """Say whether the newest summary version was written from factors that have changed since.

    An edited version counts as written from the factors of the generated version before it (the
    analyst edited that text).

    Args:
        versions: ``ws.list_summary_versions`` (oldest first).
        basis_digest: The ``factors`` digest of the ``summary`` run of :func:`generated_basis`'s version,
            None when no generated version has a run.
        current_digest: :func:`core.stages.summary.factors_digest` of the profile's current factors.

    Returns:
        ``{"stale": bool, "version": newest version number or None, "edited": the newest is the analyst's,
        "message": what to show when stale}``.
    """
    if not versions:
        return {"stale": False, "version": None, "edited": False, "message": ""}
    latest = versions[-1]
    edited = latest.get("source") == "edited"
    stale = basis_digest is not None and basis_digest != current_digest
    message = ""
    if stale:
        message = (f"v{latest['version']} was written from factors that have changed since (curation edits or a "
                   "rebuild): it may name factors that no longer exist or miss new ones.")
        if edited:
            message += (f" Regenerating writes a new version from the current factors; your edited v{latest['version']}"
                        " stays in the version history.")
    return {"stale": stale, "version": latest["version"], "edited": edited, "message": message}


def generated_basis(versions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the newest generated version with a run (what the newest version was written from), or None."""
    return next((v for v in reversed(versions) if v.get("source") == "generated" and v.get("run_id")), None)
