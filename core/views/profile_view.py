"""Views of a built :class:`~core.stages.profile.Profile`: map points, factor tables, factor bars."""

from __future__ import annotations

from typing import Any

from core.stages.directions import direction_report
from core.stages.profile import Profile
from core.stages.types import NOISE_ID, Factor
from core.viz.factor_map import NOISE_NAME, MapPoint
from core.viz.factor_stats import FactorBar


def _factor_names(profile: Profile) -> dict[str, str]:
    names = {f.id: (NOISE_NAME if f.is_noise else (f.name or f.id)) for f in profile.factors}
    names.setdefault(NOISE_ID, NOISE_NAME)
    return names


def map_points(profile: Profile) -> list[MapPoint]:
    """Return one map point per feature that has 2-D coordinates, with its factor and item response."""
    names = _factor_names(profile)
    responses = {it.id: it.output for it in profile.items}
    points: list[MapPoint] = []
    for item_id, feats in profile.features.items():
        for f in feats:
            xy = profile.coords2d.get(f.id)
            if xy is None:
                continue
            fid = profile.assignments.get(f.id, NOISE_ID)
            points.append(MapPoint(feature_id=f.id, x=float(xy[0]), y=float(xy[1]), factor_id=fid,
                                   factor_name=names.get(fid, fid), phrase=f.phrase, evidence=f.evidence,
                                   response=str(responses.get(item_id, "")), direction=f.direction,
                                   item_id=item_id, is_noise=fid == NOISE_ID))
    return points


def real_factors(profile: Profile) -> list[Factor]:
    """Return the factors other than Unclustered, strongest first (see :func:`factor_order`)."""
    by_id = {f.id: f for f in profile.factors}
    return [by_id[i] for i in factor_order(profile)]


def _strength(f: Factor) -> float:
    s = f.stats
    if s.influence is not None:
        return abs(s.influence)
    if s.mutual_info is not None:
        return float(s.mutual_info)
    return float(s.coverage)


def factor_order(profile: Profile) -> list[str]:
    """Return non-noise factor ids, pinned first, then by |influence| (or MI, or coverage), largest first."""
    facs = [f for f in profile.factors if not f.is_noise]
    facs.sort(key=lambda f: (not f.pinned, -_strength(f), f.id))
    return [f.id for f in facs]


def factor_bars(profile: Profile) -> list[FactorBar]:
    """Return the statistics of every non-noise factor, for :func:`core.viz.factor_stats.factor_stats_figure`."""
    return [FactorBar(factor_id=f.id, name=f.name or f.id, coverage=f.stats.coverage, influence=f.stats.influence,
                      ci_low=f.stats.ci_low, ci_high=f.stats.ci_high, polarity=f.stats.polarity,
                      mutual_info=f.stats.mutual_info, n_features=len(f.feature_ids))
            for f in real_factors(profile)]


def _round(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(float(x), nd)


def factor_rows(profile: Profile) -> list[dict[str, Any]]:
    """Return one table row per factor (Unclustered last) with its statistics, for ``st.dataframe``."""
    score = profile.task.kind == "score"
    label = profile.task.kind == "label"
    rows = []
    noise = [f for f in profile.factors if f.is_noise]
    for f in real_factors(profile) + noise:
        s = f.stats
        row: dict[str, Any] = {"id": f.id, "factor": NOISE_NAME if f.is_noise else f.name,
                               "pinned": f.pinned, "features": len(f.feature_ids), "items": s.n_items,
                               "coverage": _round(s.coverage, 3)}
        if score:
            row["influence"] = _round(s.influence)
            row["95% CI"] = (f"{s.ci_low:+.2f} … {s.ci_high:+.2f}" if s.ci_low is not None and s.ci_high is not None
                             else "")
        if label:
            row["top label"] = s.top_label or ""
            row["lift"] = _round(s.lift.get(s.top_label)) if s.top_label else None
            row["MI (nats)"] = _round(s.mutual_info, 4)
        row["polarity"] = _round(s.polarity)
        row["consistency"] = _round(s.consistency)
        row["keywords"] = ", ".join(f.keywords[:6])
        row["description"] = f.description
        rows.append(row)
    return rows


def factor_feature_rows(profile: Profile, factor_id: str) -> list[dict[str, Any]]:
    """Return the features of one factor with their item's response, for a drill-down table.

    ``checked`` names the extractor's direction when it disagreed with the item's score relative to
    the user's usual one (see :mod:`core.stages.directions`).
    """
    factor = next((f for f in profile.factors if f.id == factor_id), None)
    if factor is None:
        return []
    feats = {f.id: f for fs in profile.features.values() for f in fs}
    responses = {it.id: it.output for it in profile.items}
    rows = []
    for fid in factor.feature_ids:
        f = feats.get(fid)
        if f is None:
            continue
        rows.append({"feature": f.phrase, "aspect": f.aspect, "direction": f.direction,
                     "checked": f"extracted {f.extracted_direction}" if f.extracted_direction else "",
                     "strength": round(float(f.strength), 2), "evidence": f.evidence, "item": f.item_id,
                     "response": responses.get(f.item_id, ""), "id": f.id})
    return rows


def profile_caption(profile: Profile) -> str:
    """Return ``"38 items · 152 features · 7 factors · 21 unclustered"``."""
    n_feat = sum(len(v) for v in profile.features.values())
    n_fac = sum(1 for f in profile.factors if not f.is_noise)
    noise = sum(len(f.feature_ids) for f in profile.factors if f.is_noise)
    return f"{len(profile.items)} items · {n_feat} features · {n_fac} factors · {noise} unclustered"


def unclustered_share(profile: Profile) -> float:
    """Return the share of the profile's features in the Unclustered group (0 without features)."""
    n_feat = sum(len(v) for v in profile.features.values())
    noise = sum(len(f.feature_ids) for f in profile.factors if f.is_noise)
    return noise / n_feat if n_feat else 0.0


def direction_note(profile: Profile) -> str:
    """Return one line on the direction check, e.g. "29 of 1,407 directed features disagreed ... (29 corrected)".

    Empty for tasks without directions to check.
    """
    if profile.task.kind != "score":
        return ""
    rep = direction_report(profile.all_features())
    if not rep["directed"]:
        return ""
    fixed = (f"; {rep['corrected']:,} set to the data's direction (sentiment-lexicon features)"
             if rep["corrected"] else "; kept as extracted" if rep["disagree"] else "")
    return (f"Direction check: {rep['disagree']:,} of {rep['directed']:,} raised/lowered features disagreed with "
            f"their item's score relative to the user's usual score{fixed}.")


def subfactor_rows(profile: Profile, factor_id: str) -> list[dict[str, Any]]:
    """Return the finer clusters a factor was merged from (members it still holds), for a drill-down table."""
    factor = next((f for f in profile.factors if f.id == factor_id), None)
    if factor is None:
        return []
    current = set(factor.feature_ids)
    rows = []
    for sub in factor.subfactors:
        members = [fid for fid in sub.get("feature_ids", []) if fid in current]
        if members:
            rows.append({"id": sub.get("id", ""), "sub-factor": sub.get("name", ""), "features": len(members),
                         "keywords": ", ".join(sub.get("keywords", [])[:5]), "feature_ids": members})
    return rows
