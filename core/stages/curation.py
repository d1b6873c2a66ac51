"""Manual curation of factors, stored as edits and replayed over a freshly clustered result.

Curation is data: every operation is an edit ``{"id", "op", "payload"}`` in the workspace
(``ws.add_edit``), and :func:`apply_edits` is a pure function replaying them in order over the
factors of the latest clustering. Undo marks an edit undone (``ws.set_edit_undone``) and replays
the rest. Statistics are recomputed by the caller after replay.

**Payloads survive a rebuild.** Features are named by feature id (``"<item_id>#<k>"``, stable as
long as the features run is reused). A factor is named by a *reference*
``{"factor_id": id, "members": [feature ids at edit time]}`` (see :func:`factor_ref`). On replay a
reference resolves to:

1. the Unclustered factor when ``factor_id`` is :data:`~core.stages.types.NOISE_ID`;
2. otherwise the current factor sharing the most features with ``members`` (ties: the factor with
   the same id, then the earlier factor). A rebuild that renumbers clusters therefore maps an old
   factor to the new cluster holding most of its features;
3. when no factor shares a feature: the factor with the same id, if any; else the edit is skipped
   (and reported in ``log``).

Factors created by an edit (split, move to a new factor) get the id ``E<edit id>``, which is stable
across rebuilds.

Operations and payloads:

* ``rename``   ``{"factor": ref, "name": str}``
* ``describe`` ``{"factor": ref, "description": str}``
* ``merge``    ``{"factors": [ref, ...], "name": str | None}`` (into the first)
* ``split``    ``{"factor": ref, "feature_ids": [...], "name": str | None}`` (the listed features become a
  new factor; :func:`kmeans_split` computes them from embeddings when the analyst asks for an
  automatic split, so the stored payload is always explicit)
* ``delete``   ``{"factor": ref}`` (its features go to Unclustered)
* ``move``     ``{"feature_ids": [...], "target": ref | None, "name": str | None}`` (``None`` = a new factor)
* ``pin``      ``{"factor": ref, "pinned": bool}``
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from core.stages.factors import noise_factor
from core.stages.naming import assign_keywords, keyword_name
from core.stages.types import NOISE_ID, Factor, Feature

OPS = ("rename", "describe", "merge", "split", "delete", "move", "pin")


def factor_ref(factor: Factor) -> dict[str, Any]:
    """Return a rebuild-proof reference to a factor (its id and current member features)."""
    return {"factor_id": factor.id, "members": list(factor.feature_ids)}


def resolve(ref: dict[str, Any] | str | None, factors: list[Factor]) -> Factor | None:
    """Find the factor a reference points to (see the module docstring), or None.

    A bare string is taken as a factor id.
    """
    if ref is None:
        return None
    if isinstance(ref, str):
        ref = {"factor_id": ref, "members": []}
    fid = ref.get("factor_id")
    if fid == NOISE_ID:
        return next((f for f in factors if f.is_noise), None)
    members = set(ref.get("members") or [])
    best: Factor | None = None
    best_key: tuple[int, int] = (0, 0)
    if members:
        for f in factors:
            if f.is_noise:
                continue
            overlap = len(members.intersection(f.feature_ids))
            key = (overlap, int(f.id == fid))
            if overlap > 0 and key > best_key:
                best, best_key = f, key
    if best is not None:
        return best
    return next((f for f in factors if f.id == fid and not f.is_noise), None)


def _noise(factors: list[Factor]) -> Factor:
    for f in factors:
        if f.is_noise:
            return f
    nf = noise_factor()
    factors.append(nf)
    return nf


def _remove_features(factors: list[Factor], fids: set[str]) -> None:
    for f in factors:
        if fids.intersection(f.feature_ids):
            f.feature_ids = [x for x in f.feature_ids if x not in fids]


def _new_factor(edit_id: Any, name: str | None, fids: list[str]) -> Factor:
    return Factor(id=f"E{edit_id}", name=name or "", description="Created by curation.", feature_ids=list(fids))


def _apply_one(edit: dict[str, Any], factors: list[Factor], known: set[str]) -> tuple[bool, str]:
    op, p, eid = edit.get("op"), edit.get("payload") or {}, edit.get("id")
    if op == "rename" or op == "describe" or op == "pin":
        f = resolve(p.get("factor"), factors)
        if f is None:
            return False, "factor not found"
        if op == "rename":
            f.name = str(p.get("name", "")).strip() or f.name
        elif op == "describe":
            f.description = str(p.get("description", "")).strip()
        else:
            f.pinned = bool(p.get("pinned", True))
        return True, ""
    if op == "merge":
        targets: list[Factor] = []
        for ref in p.get("factors") or []:
            f = resolve(ref, factors)
            if f is not None and f not in targets:
                targets.append(f)
        if len(targets) < 2:
            return False, "fewer than two factors found"
        keep = targets[0]
        if keep.is_noise:
            keep, targets = targets[1], [targets[1], targets[0], *targets[2:]]
        for other in targets[1:]:
            keep.feature_ids.extend(x for x in other.feature_ids if x not in keep.feature_ids)
            other.feature_ids = []
            keep.pinned = keep.pinned or other.pinned
        if p.get("name"):
            keep.name = str(p["name"]).strip()
        return True, ""
    if op == "split":
        f = resolve(p.get("factor"), factors)
        if f is None:
            return False, "factor not found"
        part = [x for x in f.feature_ids if x in set(p.get("feature_ids") or [])]
        if not part or len(part) == len(f.feature_ids):
            return False, "split would leave a side empty"
        f.feature_ids = [x for x in f.feature_ids if x not in set(part)]
        name = p.get("name") or (f"{f.name} (split)" if f.name else None)
        factors.append(_new_factor(eid, name, part))
        return True, ""
    if op == "delete":
        f = resolve(p.get("factor"), factors)
        if f is None or f.is_noise:
            return False, "factor not found" if f is None else "the Unclustered group cannot be deleted"
        noise = _noise(factors)
        noise.feature_ids.extend(x for x in f.feature_ids if x not in noise.feature_ids)
        f.feature_ids = []
        return True, ""
    if op == "move":
        fids = [x for x in dict.fromkeys(p.get("feature_ids") or []) if x in known]
        if not fids:
            return False, "no known features to move"
        target = resolve(p.get("target"), factors) if p.get("target") else None
        _remove_features(factors, set(fids))
        if target is None:
            factors.append(_new_factor(eid, p.get("name"), fids))
        else:
            target.feature_ids.extend(fids)
        return True, ""
    return False, f"unknown operation {op!r}"


def apply_edits(factors: list[Factor], assignments: dict[str, str], edits: Iterable[dict[str, Any]], *,
                features: dict[str, Feature] | None = None,
                log: list[dict[str, Any]] | None = None) -> tuple[list[Factor], dict[str, str]]:
    """Replay curation edits over clustered factors (pure: the inputs are not modified).

    Args:
        factors: Factors of the latest clustering (statistics are not updated here).
        assignments: ``{feature_id: factor_id}`` of those factors.
        edits: Edits in order, each ``{"id", "op", "payload"}`` (undone edits already left out).
        features: All features by id; when given (and an edit applied), keywords are recomputed and
            factors created by an edit without a name are named from their keywords.
        log: When given, one ``{"id", "op", "applied", "reason"}`` per edit is appended.

    Returns:
        The curated factors (empty factors dropped, Unclustered present and last) and assignments.
    """
    out = [replace(f, feature_ids=list(f.feature_ids), keywords=list(f.keywords), stats=copy.deepcopy(f.stats))
           for f in factors]
    known = set(assignments)
    for f in out:
        known.update(f.feature_ids)
    _noise(out)
    changed = False
    for edit in edits:
        applied, reason = _apply_one(edit, out, known)
        changed = changed or applied
        out = [f for f in out if f.feature_ids or f.is_noise]
        if log is not None:
            log.append({"id": edit.get("id"), "op": edit.get("op"), "applied": applied, "reason": reason})
    if features is not None and changed:
        assign_keywords(out, features)
    for f in out:
        if not f.name:
            f.name = keyword_name(f.keywords) if f.keywords else "New factor"
    noise = [f for f in out if f.is_noise]
    out = [f for f in out if not f.is_noise] + noise
    new_assign = {fid: f.id for f in out for fid in f.feature_ids}
    return out, new_assign


def kmeans_split(feature_ids: list[str], vectors: dict[str, np.ndarray], seed: int = 42) -> list[str]:
    """Split a factor's features in two with KMeans on their embeddings; return the part to split off.

    The part returned is the smaller cluster (ties: the one not holding the first feature), so the
    original factor keeps its core.

    Raises:
        ValueError: Fewer than two features have vectors.
    """
    from sklearn.cluster import KMeans

    fids = [f for f in feature_ids if f in vectors]
    if len(fids) < 2:
        raise ValueError("a split needs at least two features with embeddings")
    x = np.stack([vectors[f] for f in fids]).astype(np.float64)
    if len(np.unique(x.round(6), axis=0)) < 2:  # identical vectors: split by position
        return fids[len(fids) // 2:]
    labels = KMeans(n_clusters=2, n_init=10, random_state=seed).fit_predict(x)
    a = [f for f, lab in zip(fids, labels, strict=True) if lab == labels[0]]
    b = [f for f, lab in zip(fids, labels, strict=True) if lab != labels[0]]
    return b if len(b) <= len(a) else a


def selection_to_feature_ids(points: Any) -> list[str]:
    """Map a plotly selection (lasso / box) back to feature ids.

    The feature map puts the feature id first in each point's ``customdata``. Accepts the
    selection event (``{"selection": {"points": [...]}}``), ``{"points": [...]}`` or a list of points;
    a point's ``customdata`` may be the id itself or a list starting with it.

    Returns:
        Feature ids in selection order, without duplicates.
    """
    if isinstance(points, dict):
        if "selection" in points:
            points = points["selection"]
        points = points.get("points", []) if isinstance(points, dict) else points
    out: list[str] = []
    for pt in points or []:
        cd = pt.get("customdata") if isinstance(pt, dict) else getattr(pt, "customdata", None)
        if isinstance(cd, (list, tuple)):
            cd = cd[0] if cd else None
        if cd is not None and str(cd) not in out:
            out.append(str(cd))
    return out
