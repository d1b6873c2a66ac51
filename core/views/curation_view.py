"""Curation actions as edit payloads (see :mod:`core.stages.curation`) and readable audit lines.

Pages turn a button press into ``(op, payload)`` with these helpers and hand it to
:func:`core.stages.profile.apply_edit`; nothing here writes to the workspace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.stages.curation import factor_ref
from core.stages.types import NOISE_ID, Factor

if TYPE_CHECKING:
    from core.stages.profile import Profile

NOISE_REF = {"factor_id": NOISE_ID, "members": []}


def _factor(profile: Profile, factor_id: str) -> Factor:
    for f in profile.factors:
        if f.id == factor_id:
            return f
    raise KeyError(f"no factor {factor_id!r}")


def selection_new_factor(feature_ids: Sequence[str], name: str | None = None) -> tuple[str, dict[str, Any]]:
    """Selected features become a new factor."""
    return "move", {"feature_ids": list(feature_ids), "target": None, "name": (name or "").strip() or None}


def selection_move(profile: Profile, feature_ids: Sequence[str], target_id: str) -> tuple[str, dict[str, Any]]:
    """Selected features move to an existing factor (``noise`` = Unclustered)."""
    target = NOISE_REF if target_id == NOISE_ID else factor_ref(_factor(profile, target_id))
    return "move", {"feature_ids": list(feature_ids), "target": target, "name": None}


def selection_delete(feature_ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """Selected features are taken out of their factors (they go to Unclustered)."""
    return "move", {"feature_ids": list(feature_ids), "target": dict(NOISE_REF), "name": None}


def rename(profile: Profile, factor_id: str, name: str) -> tuple[str, dict[str, Any]]:
    """Rename a factor."""
    return "rename", {"factor": factor_ref(_factor(profile, factor_id)), "name": name.strip()}


def describe(profile: Profile, factor_id: str, description: str) -> tuple[str, dict[str, Any]]:
    """Set a factor's one-line description."""
    return "describe", {"factor": factor_ref(_factor(profile, factor_id)), "description": description.strip()}


def merge(profile: Profile, factor_ids: Sequence[str], name: str | None = None) -> tuple[str, dict[str, Any]]:
    """Merge factors into the first one."""
    return "merge", {"factors": [factor_ref(_factor(profile, f)) for f in factor_ids],
                     "name": (name or "").strip() or None}


def split(profile: Profile, factor_id: str, feature_ids: Sequence[str],
          name: str | None = None) -> tuple[str, dict[str, Any]]:
    """Split the listed features of a factor off into a new factor."""
    return "split", {"factor": factor_ref(_factor(profile, factor_id)), "feature_ids": list(feature_ids),
                     "name": (name or "").strip() or None}


def delete(profile: Profile, factor_id: str) -> tuple[str, dict[str, Any]]:
    """Delete a factor (its features go to Unclustered)."""
    return "delete", {"factor": factor_ref(_factor(profile, factor_id))}


def pin(profile: Profile, factor_id: str, pinned: bool = True) -> tuple[str, dict[str, Any]]:
    """Pin (or unpin) a factor."""
    return "pin", {"factor": factor_ref(_factor(profile, factor_id)), "pinned": bool(pinned)}


def _ref_text(ref: Any, names: dict[str, str]) -> str:
    if ref is None:
        return "a new factor"
    fid = ref.get("factor_id") if isinstance(ref, dict) else str(ref)
    if fid == NOISE_ID:
        return "Unclustered"
    return f"{names[fid]} ({fid})" if fid in names else str(fid)


def describe_edit(edit: dict[str, Any], names: dict[str, str] | None = None) -> str:
    """Return one audit line for an edit ``{"id", "op", "payload", ...}``.

    Args:
        edit: The edit as listed by ``ws.list_edits``.
        names: Current factor names by id, to show names next to ids.
    """
    names = names or {}
    op, p = edit.get("op"), edit.get("payload") or {}
    if op == "rename":
        return f"rename {_ref_text(p.get('factor'), names)} → “{p.get('name', '')}”"
    if op == "describe":
        return f"describe {_ref_text(p.get('factor'), names)}: “{p.get('description', '')}”"
    if op == "pin":
        return f"{'pin' if p.get('pinned', True) else 'unpin'} {_ref_text(p.get('factor'), names)}"
    if op == "merge":
        refs = ", ".join(_ref_text(r, names) for r in p.get("factors") or [])
        return f"merge {refs}" + (f" as “{p['name']}”" if p.get("name") else "")
    if op == "split":
        return (f"split {len(p.get('feature_ids') or [])} features off {_ref_text(p.get('factor'), names)}"
                + (f" as “{p['name']}”" if p.get("name") else ""))
    if op == "delete":
        return f"delete {_ref_text(p.get('factor'), names)}"
    if op == "move":
        target = _ref_text(p.get("target"), names)
        named = f" “{p['name']}”" if p.get("name") and p.get("target") is None else ""
        return f"move {len(p.get('feature_ids') or [])} features to {target}{named}"
    return f"{op} {p}"
