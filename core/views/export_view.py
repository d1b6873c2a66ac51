"""Bytes for the export page's downloads: JSON and CSV renderings of profiles, traces, evals and selections."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.evaluate.harness import export_csv, export_metrics_csv
from core.evaluate.result import EvalResult
from core.stages.profile import Profile, profile_to_json
from core.store.exchange import export_user, export_workspace
from core.store.files import json_safe
from core.store.workspace import Workspace


def json_bytes(obj: Any) -> bytes:
    """Render JSON-ready data as indented UTF-8 JSON (NaN and infinities become ``null``)."""
    return json.dumps(json_safe(obj), ensure_ascii=False, indent=2, default=str).encode("utf-8")


def csv_bytes(rows: Sequence[dict[str, Any]]) -> bytes:
    """Render rows (dicts) as CSV with the union of their keys as the header."""
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k) for k in cols})
    return buf.getvalue().encode("utf-8")


def selection_rows(profile: Profile, feature_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Return the selected features with their factor, position, item and the item's response."""
    feats = {f.id: f for f in profile.all_features()}
    names = {f.id: f.name for f in profile.factors}
    outputs = {it.id: it.output for it in profile.items}
    rows = []
    for fid in feature_ids:
        f = feats.get(fid)
        if f is None:
            continue
        xy = profile.coords2d.get(fid, (None, None))
        factor = profile.assignments.get(fid)
        rows.append({"feature_id": fid, "item_id": f.item_id, "phrase": f.phrase, "aspect": f.aspect,
                     "direction": f.direction, "strength": f.strength, "evidence": f.evidence,
                     "factor_id": factor, "factor": names.get(factor or "", ""), "x": xy[0], "y": xy[1],
                     "response": outputs.get(f.item_id, "")})
    return rows


def eval_csv_bytes(result: EvalResult, *, metrics: bool = False) -> bytes:
    """Render an evaluation result with the harness's CSV exporters (per query, or the metric table)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "eval.csv"
        (export_metrics_csv if metrics else export_csv)(result, path)
        return path.read_bytes()


def llm_call_records(ws: Workspace, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Return the LLM call traces (prompt messages, output, tokens, latency) recorded under the given runs."""
    out: list[dict[str, Any]] = []
    for rid in run_ids:
        out.extend(ws.list_traces(rid))
    return out


def user_bundle_bytes(ws: Workspace, profile: Profile) -> bytes:
    """Return one user's export (history, summary versions, edits, profile) as written by the exchange module."""
    with tempfile.TemporaryDirectory() as tmp:
        path = export_user(ws, profile.dataset_id, profile.user_id, Path(tmp) / "user.json",
                           profile=profile_to_json(profile))
        return Path(path).read_bytes()


def workspace_bytes(ws: Workspace) -> bytes:
    """Return the whole workspace as one JSON file (the exchange module's format)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = export_workspace(ws, Path(tmp) / "workspace.json")
        return Path(path).read_bytes()
