"""Manual curation of factors, stored as edits and replayed over a freshly clustered result.

Curation is data: every operation is an edit ``{"id", "op", "payload"}`` in the workspace
(``ws.add_edit``), and :func:`apply_edits` is a pure function replaying them in order over the
factors of the latest clustering. Undo marks an edit undone (``ws.set_edit_undone``) and replays
the rest. Statistics are recomputed by the caller after replay.

**Payloads survive a rebuild.** Features are named by feature id (``"<item_id>#<k>"``, stable as
long as the features run is reused). A factor is named by a *reference*
``{"factor_id": id, "members": [feature ids at edit time], "name": name at edit time}`` (see
:func:`factor_ref`): the edit is anchored to the features it acted on, not to the factor id, which a
rebuild reassigns. On replay a reference resolves (:func:`locate`) to:

1. the Unclustered factor when ``factor_id`` is :data:`~core.stages.types.NOISE_ID`;
2. with members: the current factor holding the most of them (ties: the factor with the same id,
   then the earlier factor), provided it holds at least half of the members that still exist.
   Otherwise the edit is *not replayable* and ``log`` says why (none of the features is in a
   factor, or they are spread over several factors / Unclustered): it is never applied to whatever
   factor now carries the old id;
3. without members (a bare id, from the command line or an old workspace): the factor with that id.

A merge whose factors a rebuild already put into one factor is applied (its name, if any, is set).

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
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from core.stages.factors import noise_factor
from core.stages.naming import assign_keywords, keyword_name
from core.stages.types import NOISE_ID, Factor, Feature

OPS = ("rename", "describe", "merge", "split", "delete", "move", "pin")


def factor_ref(factor: Factor) -> dict[str, Any]:
    """Return a rebuild-proof reference to a factor (its id, current member features and current name)."""
    return {"factor_id": factor.id, "members": list(factor.feature_ids), "name": factor.name}


def locate(ref: dict[str, Any] | str | None, factors: list[Factor]) -> tuple[Factor | None, str]:
    """Find the factor a reference points to (see the module docstring).

    A bare string is taken as a factor id.

    Returns:
        The factor and ``""``, or None and the reason it was not found (for the audit trail).
    """
    if ref is None:
        return None, "no factor given"
    if isinstance(ref, str):
        ref = {"factor_id": ref, "members": []}
    fid = ref.get("factor_id")
    if fid == NOISE_ID:
        return next((f for f in factors if f.is_noise), None), ""
    members = set(ref.get("members") or [])
    if not members:  # a bare id: nothing else to go by
        found = next((f for f in factors if f.id == fid and not f.is_noise), None)
        return found, "" if found is not None else f"no factor {fid}"
    present = members.intersection(x for f in factors for x in f.feature_ids)
    best: Factor | None = None
    best_key: tuple[int, int] = (0, 0)
    holders = 0
    for f in factors:
        if f.is_noise:
            continue
        overlap = len(members.intersection(f.feature_ids))
        holders += overlap > 0
        key = (overlap, int(f.id == fid))
        if overlap > 0 and key > best_key:
            best, best_key = f, key
    what = f"its {len(members)} features"
    if best is None:
        return None, f"none of {what} is in a factor now"
    # A minority share is a different factor: acting on it would silently change the wrong thing.
    if 2 * best_key[0] < len(present):
        if holders == 1:
            return None, f"only {best_key[0]} of {what} are in a factor now ({best.id}); the rest are Unclustered"
        return None, (f"{what} are now spread over {holders} factors and Unclustered "
                      f"(the largest share: {best_key[0]} in {best.id})")
    return best, ""


def resolve(ref: dict[str, Any] | str | None, factors: list[Factor]) -> Factor | None:
    """Find the factor a reference points to (see :func:`locate`), or None."""
    return locate(ref, factors)[0]


def ref_label(ref: Any) -> str:
    """Return how an edit's reference reads in the audit trail: the name and id *at the time of the edit*."""
    if ref is None:
        return "a new factor"
    if not isinstance(ref, dict):
        return str(ref)
    fid = ref.get("factor_id")
    if fid == NOISE_ID:
        return "Unclustered"
    return f"{ref['name']} ({fid})" if ref.get("name") else str(fid)


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
        f, why = locate(p.get("factor"), factors)
        if f is None:
            return False, f"{ref_label(p.get('factor'))}: {why}"
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
            f, why = locate(ref, factors)
            if f is None:  # all or nothing: a partial merge is not what the analyst asked for
                return False, f"{ref_label(ref)}: {why}"
            if f not in targets:
                targets.append(f)
        if len(targets) == 1:  # the rebuild already put them together
            if p.get("name") and not targets[0].is_noise:
                targets[0].name = str(p["name"]).strip()
            return True, "already one factor"
        if len(targets) < 2:
            return False, "fewer than two factors given"
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
        f, why = locate(p.get("factor"), factors)
        if f is None:
            return False, f"{ref_label(p.get('factor'))}: {why}"
        part = [x for x in f.feature_ids if x in set(p.get("feature_ids") or [])]
        if not part or len(part) == len(f.feature_ids):
            return False, "split would leave a side empty"
        f.feature_ids = [x for x in f.feature_ids if x not in set(part)]
        name = p.get("name") or (f"{f.name} (split)" if f.name else None)
        factors.append(_new_factor(eid, name, part))
        return True, ""
    if op == "delete":
        f, why = locate(p.get("factor"), factors)
        if f is None or f.is_noise:
            return False, f"{ref_label(p.get('factor'))}: {why}" if f is None else \
                "the Unclustered group cannot be deleted"
        noise = _noise(factors)
        noise.feature_ids.extend(x for x in f.feature_ids if x not in noise.feature_ids)
        f.feature_ids = []
        return True, ""
    if op == "move":
        fids = [x for x in dict.fromkeys(p.get("feature_ids") or []) if x in known]
        if not fids:
            return False, "no known features to move"
        target = None
        if p.get("target"):
            target, why = locate(p.get("target"), factors)
            if target is None:
                return False, f"{ref_label(p.get('target'))}: {why}"
        _remove_features(factors, set(fids))
        if target is None:
            factors.append(_new_factor(eid, p.get("name"), fids))
        else:
            target.feature_ids.extend(fids)
        return True, ""
    return False, f"unknown operation {op!r}"


_COUNT = re.compile(r"^\d+ features\b")


def _recount(description: str, n: int) -> str:
    """Keep a generated description's leading feature count ("45 features such as ...") true after an edit."""
    return _COUNT.sub(f"{n} features", description, count=1)


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
    sizes = {f.id: len(f.feature_ids) for f in out}
    changed = False
    for edit in edits:
        applied, reason = _apply_one(edit, out, known)
        changed = changed or applied
        out = [f for f in out if f.feature_ids or f.is_noise]
        if log is not None:
            log.append({"id": edit.get("id"), "op": edit.get("op"), "applied": applied, "reason": reason})
    for f in out:
        if len(f.feature_ids) != sizes.get(f.id, -1):
            f.description = _recount(f.description, len(f.feature_ids))
    if features is not None and changed:
        assign_keywords(out, features)
    for f in out:
        if not f.name:
            f.name = keyword_name(f.keywords) if f.keywords else "New factor"
    noise = [f for f in out if f.is_noise]
    out = [f for f in out if not f.is_noise] + noise
    new_assign = {fid: f.id for f in out for fid in f.feature_ids}
    return out, new_assign


def _members(ref: Any, known: set[str]) -> list[str]:
    members = ref.get("members") if isinstance(ref, dict) else None
    return [x for x in members or [] if x in known]


def _to_new(members: list[str], name: str | None) -> tuple[str, dict[str, Any]]:
    return "move", {"feature_ids": list(members), "target": None, "name": name or None}


def _anchor(members: list[str], name: str | None) -> dict[str, Any]:
    # Resolved by its members alone (it is the factor the preceding move creates).
    return {"factor_id": "", "members": list(members), "name": name}


def reapply_actions(edit: dict[str, Any], known: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """Return the edits that re-apply a not-replayable edit to the features it acted on.

    The features the edit was anchored to (those that still exist) are first gathered into one new
    factor (a ``move``), so the edit means what it meant when it was made; then the edit's own
    change is applied to that factor. Record them in order, then mark the original edit undone.

    Args:
        edit: The edit as listed by ``ws.list_edits``.
        known: Feature ids of the current profile.

    Returns:
        ``[(op, payload), ...]``, empty when none of its features exists any more.
    """
    op, p = edit.get("op"), edit.get("payload") or {}
    ref = p.get("factor")
    if op == "merge":
        refs = p.get("factors") or []
        members = list(dict.fromkeys(x for r in refs for x in _members(r, known)))
        name = p.get("name") or next((r.get("name") for r in refs if isinstance(r, dict) and r.get("name")), None)
        return [_to_new(members, name)] if members else []
    if op == "split":
        part = [x for x in p.get("feature_ids") or [] if x in known]
        return [_to_new(part, p.get("name"))] if part else []
    if op == "move":
        fids = [x for x in p.get("feature_ids") or [] if x in known]
        target = p.get("target")
        if not fids:
            return []
        if target is None or (isinstance(target, dict) and target.get("factor_id") == NOISE_ID):
            return [("move", {**p, "feature_ids": fids})]
        members = list(dict.fromkeys([*_members(target, known), *fids]))
        return [_to_new(members, target.get("name") if isinstance(target, dict) else None)]
    members = _members(ref, known)
    if not members or op not in ("rename", "describe", "pin", "delete"):
        return []
    old_name = ref.get("name") if isinstance(ref, dict) else None
    if op == "delete":
        return [("move", {"feature_ids": members, "target": {"factor_id": NOISE_ID, "members": []}, "name": None})]
    if op == "rename":
        return [_to_new(members, p.get("name"))]
    first = _to_new(members, old_name)
    if op == "describe":
        return [first, ("describe", {"factor": _anchor(members, old_name), "description": p.get("description", "")})]
    return [first, ("pin", {"factor": _anchor(members, old_name), "pinned": bool(p.get("pinned", True))})]


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
