"""Curation actions as edit payloads (see :mod:`core.stages.curation`) and readable audit lines.

Pages turn a button press into ``(op, payload)`` with these helpers and hand it to
:func:`core.stages.edits.apply_edit`; nothing here writes to the workspace.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from core.stages.curation import factor_ref, reapply_actions, ref_label
from core.stages.profile import Profile
from core.stages.types import NOISE_ID, Factor

NOISE_REF = {"factor_id": NOISE_ID, "members": [], "name": "Unclustered"}


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


def describe_edit(edit: dict[str, Any]) -> str:
    """Return one audit line for an edit ``{"id", "op", "payload", ...}``.

    Factors read as they were *when the edit was made* (name and id stored in the edit), never as
    whatever factor holds that id now: "rename X (F6) → “Y”" keeps X after the rename and after rebuilds.
    """
    op, p = edit.get("op"), edit.get("payload") or {}
    if op == "rename":
        return f"rename {ref_label(p.get('factor'))} → “{p.get('name', '')}”"
    if op == "describe":
        return f"describe {ref_label(p.get('factor'))}: “{p.get('description', '')}”"
    if op == "pin":
        return f"{'pin' if p.get('pinned', True) else 'unpin'} {ref_label(p.get('factor'))}"
    if op == "merge":
        refs = ", ".join(ref_label(r) for r in p.get("factors") or [])
        return f"merge {refs}" + (f" as “{p['name']}”" if p.get("name") else "")
    if op == "split":
        return (f"split {len(p.get('feature_ids') or [])} features off {ref_label(p.get('factor'))}"
                + (f" as “{p['name']}”" if p.get("name") else ""))
    if op == "delete":
        return f"delete {ref_label(p.get('factor'))}"
    if op == "move":
        target = ref_label(p.get("target"))
        named = f" “{p['name']}”" if p.get("name") and p.get("target") is None else ""
        return f"move {len(p.get('feature_ids') or [])} features to {target}{named}"
    return f"{op} {p}"


def edit_state(edit: dict[str, Any], log: dict[Any, dict[str, Any]]) -> str:
    """Return ``undone``, ``applied`` (with a note such as "already one factor") or ``not replayed: why``."""
    if edit.get("undone"):
        return "undone"
    entry = log.get(edit.get("id"))
    if entry is None or entry.get("applied"):
        note = (entry or {}).get("reason")
        return f"applied ({note})" if note else "applied"
    return f"not replayed: {entry.get('reason', '')}"


def not_replayed(profile: Profile, edits: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the active edits the last replay could not apply, oldest first, for the banner.

    Each row: ``{"id", "text", "reason", "can_reapply"}`` (``can_reapply``: :func:`reapply_actions`
    has something to record).
    """
    known = {f.id for f in profile.all_features()}
    log = {e["id"]: e for e in profile.edit_log}
    rows = []
    for e in edits:
        entry = log.get(e["id"])
        if e.get("undone") or entry is None or entry.get("applied"):
            continue
        rows.append({"id": e["id"], "text": describe_edit(e), "reason": entry.get("reason", ""),
                     "can_reapply": bool(reapply_actions(e, known))})
    return rows


def factors_revision(profile: Profile) -> str:
    """Return a short digest of the factors as shown (ids, names, pins, sizes).

    Pages put it in the keys of widgets that list factors, so an edit makes a new widget whose
    labels are the current names (a kept widget would show the labels it was first drawn with).
    """
    shown = "|".join(f"{f.id}:{f.name}:{int(f.pinned)}:{len(f.feature_ids)}" for f in profile.factors)
    return hashlib.sha1(shown.encode("utf-8")).hexdigest()[:10]
