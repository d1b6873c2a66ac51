"""Curation edits of a built profile: record one, undo, redo or re-apply it, and re-derive the profile.

Edits are stored in the workspace (``ws.add_edit``) as rebuild-proof references
(:mod:`core.stages.curation`) and replayed over the built factors by
:func:`core.stages.pipeline.rederive`, so every function here returns the profile as the analyst
now sees it. :func:`regenerate_summary` writes a new summary version from the curated factors.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.errors import InputError, Problem
from core.llm.client import LLMClient
from core.stages.curation import OPS, factor_ref, kmeans_split, reapply_actions
from core.stages.pipeline import make_summarizer, rederive, stored_vectors
from core.stages.profile import PipelineSettings, Profile
from core.stages.summary import run_summary
from core.store.workspace import Workspace


def _ref(profile: Profile, value: Any) -> Any:
    """Turn a factor id (or a ref) into a rebuild-proof reference."""
    if isinstance(value, dict):
        return value
    if value is None:
        return None
    try:
        return factor_ref(profile.factor(str(value)))
    except KeyError as exc:
        raise InputError(Problem("edit", None, "factor", f"no factor {value!r}")) from exc


def normalise_edit(ws: Workspace, profile: Profile, op: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Validate an edit and turn factor ids into references (and automatic splits into explicit ones).

    Raises:
        InputError: Unknown operation, factor or missing field.
    """
    if op not in OPS:
        raise InputError(Problem("edit", None, "op", f"unknown curation operation {op!r}; use one of {', '.join(OPS)}"))
    p = dict(payload)
    if "factor" in p:
        p["factor"] = _ref(profile, p["factor"])
    if op == "merge":
        p["factors"] = [_ref(profile, f) for f in p.get("factors") or []]
        if len(p["factors"]) < 2:
            raise InputError(Problem("edit", None, "factors", "merge needs at least two factors"))
    if op == "move":
        p["target"] = _ref(profile, p.get("target"))
        if not p.get("feature_ids"):
            raise InputError(Problem("edit", None, "feature_ids", "move needs feature ids"))
    if op in ("rename", "describe", "split", "delete", "pin") and "factor" not in p:
        raise InputError(Problem("edit", None, "factor", f"{op} needs a factor"))
    if op == "split" and not p.get("feature_ids"):
        members = p["factor"].get("members") or []
        feats = [profile.feature(fid) for fid in members]
        vectors = stored_vectors(ws, profile.settings.get("embedder_name", ""), feats)
        try:
            p["feature_ids"] = kmeans_split(members, vectors, seed=int(profile.settings.get("seed", 42)))
        except ValueError as exc:
            raise InputError(Problem("edit", None, "factor", str(exc))) from exc
        p["method"] = "kmeans"
    return p


def apply_edit(ws: Workspace, profile: Profile, op: str, payload: dict[str, Any]) -> Profile:
    """Record one curation edit and return the re-derived profile.

    Factor fields (``factor``, ``factors``, ``target``) may be given as factor ids; they are stored as
    rebuild-proof references (see :mod:`core.stages.curation`). A ``split`` without ``feature_ids``
    is computed with KMeans on the factor's embeddings and stored explicitly.
    """
    p = normalise_edit(ws, profile, op, payload)
    ws.add_edit(profile.dataset_id, profile.user_id, op, p)
    return rederive(ws, profile)


def undo_edit(ws: Workspace, profile: Profile, edit_id: int) -> Profile:
    """Mark an edit undone (it stays in the audit list) and return the re-derived profile."""
    ws.set_edit_undone(edit_id, True)
    return rederive(ws, profile)


def redo_edit(ws: Workspace, profile: Profile, edit_id: int) -> Profile:
    """Re-activate an undone edit and return the re-derived profile."""
    ws.set_edit_undone(edit_id, False)
    return rederive(ws, profile)


def reapply_edit(ws: Workspace, profile: Profile, edit_id: int) -> Profile:
    """Re-apply an edit a rebuild could not replay to the features it was anchored to, then re-derive.

    Records :func:`core.stages.curation.reapply_actions` as new edits and marks the original undone
    (it stays in the audit list).

    Raises:
        InputError: No such active edit, or none of its features exists any more (drop it instead).
    """
    edit = next((e for e in ws.list_edits(profile.dataset_id, profile.user_id) if e["id"] == edit_id), None)
    if edit is None:
        raise InputError(Problem("edit", None, "id", f"no active edit #{edit_id}"))
    actions = reapply_actions(edit, {f.id for f in profile.all_features()})
    if not actions:
        raise InputError(Problem("edit", None, "id", f"edit #{edit_id} acted on features that no longer exist; "
                                                     "drop it"))
    for op, payload in actions:
        ws.add_edit(profile.dataset_id, profile.user_id, op, normalise_edit(ws, profile, op, payload))
    ws.set_edit_undone(edit_id, True)
    return rederive(ws, profile)


def regenerate_summary(ws: Workspace, profile: Profile, *, client: LLMClient | None = None) -> Profile:
    """Write a new summary version from the current (curated) factors."""
    settings = PipelineSettings.from_dict(profile.settings)
    sm_id, text, version = run_summary(ws, profile.run_ids["factors"], profile.factors, profile.items, profile.task,
                                       make_summarizer(settings, client), dataset_id=profile.dataset_id,
                                       user_id=profile.user_id)
    latest = ws.latest_summary(profile.dataset_id, profile.user_id)
    if latest and latest["version"] != version:  # reused an older generated run: make it the newest again
        version = ws.add_summary_version(profile.dataset_id, profile.user_id, text, source="generated", run_id=sm_id,
                                         note="regenerated")
    return replace(profile, summary=text, summary_version=version, run_ids={**profile.run_ids, "summary": sm_id})
