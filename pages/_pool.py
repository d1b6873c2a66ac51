"""The "Prompt pool" panel (PILLOW): view the pool in use, edit it in a table, import / export JSON, reset.

Drawn inside an expander by the Reasoning page; the logic is in core.methods.pool_store and core.views.pool_view.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from core.data.pool_schema import parse_pool_json
from core.errors import InputError
from core.methods.pool import default_pool
from core.methods.pool_store import pool_payload, reset_pool, save_pool
from core.views.pool_view import EDITOR_COLUMNS, editor_rows, pool_in_use, rows_from_editor
from pages._shared import AppContext, show_problems

# {(ws, dataset, user): {"rows", "v", "base"}}: the editor's starting rows, its key version and the pool they came
# from. A new base (saved, reset, rebuilt profile) starts a new draft under a new editor key, so old edits never
# re-apply to new rows.
DRAFTS = "_inflow_pool_drafts"


def _signature(entries: list[Any]) -> tuple:
    return tuple(tuple(row.values()) for row in editor_rows(entries))


def _draft(key: tuple, rows: list[dict[str, Any]], base: tuple, *, force: bool = False) -> dict[str, Any]:
    drafts = st.session_state.setdefault(DRAFTS, {})
    d = drafts.get(key)
    if d is None or force or d["base"] != base:
        d = {"rows": rows, "v": (d["v"] + 1) if d else 0, "base": base}
        drafts[key] = d
    return d


def _column_config(profile: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    factor_ids = [f.id for f in profile.factors if not f.is_noise]
    factor_ids += sorted({r["factor_id"] for r in rows if r.get("factor_id") and r["factor_id"] not in factor_ids})
    cc = st.column_config
    return {
        "id": cc.TextColumn("id", width="small", help="Unique within the pool; left blank, it becomes U1, U2, …"),
        "kind": cc.SelectboxColumn("kind", options=["instruction", "demo"], required=True, default="instruction",
                                   width="small", help="instruction: a note about the user; demo: a past example"),
        "text": cc.TextColumn("text", width="large", required=True, help="What is prepended to the prompt"),
        "factor_id": cc.SelectboxColumn("factor", options=factor_ids, width="small",
                                        help="The factor this entry speaks for (optional): switching the factor off "
                                             "in an ablation also drops the entry"),
        "item_id": cc.TextColumn("item", width="small",
                                 help="The history item a demo was taken from (optional): it is never shown when "
                                      "that item is the query"),
        "source": cc.TextColumn("source", width="small", disabled=True),
    }


def pool_panel(c: AppContext, profile: Any) -> None:
    """Draw the prompt pool panel for the active user's profile."""
    key = (c.ws.path, profile.dataset_id, profile.user_id)
    try:
        in_use = pool_in_use(c.ws, profile)
    except InputError as exc:
        show_problems(exc, "The stored pool is invalid")
        return
    st.caption(in_use.caption + " The **pool** method scores every entry against the query and prepends the best "
               "k (instructions first).")
    d = _draft(key, editor_rows(in_use.entries), ("stored" if in_use.stored else "default", _signature(in_use.entries)))
    edit_tab, json_tab = st.tabs(["Edit", "Import / export JSON"])
    with edit_tab:
        frame = pd.DataFrame(d["rows"], columns=list(EDITOR_COLUMNS))
        edited = st.data_editor(frame, key=f"pool_editor_{d['v']}", num_rows="dynamic", hide_index=True,
                                width="stretch", column_config=_column_config(profile, d["rows"]),
                                height=min(38 + 35 * (len(frame) + 1), 400))
        rows = rows_from_editor(edited.to_dict("records"))
        unsaved = rows != rows_from_editor(d["rows"])
        st.caption(("**Unsaved changes.** " if unsaved else "")
                   + "Add an entry with **+** (top right of the table) or in the empty last row; select rows by "
                     "their left edge and press the bin to delete them. Blank ids are numbered on save.")
        b1, b2, b3 = st.columns(3)
        if b1.button("Save as this user's pool", type="primary", key="pool_save", width="stretch",
                     help="Validate and store the table; the pool method then uses it on every page and in the CLI."):
            _save(c, profile, rows, "pool editor")
        if b2.button("Load the default pool", key="pool_default", width="stretch",
                     help="Replace the table with the pool built from the profile (press Save to keep it)."):
            _draft(key, editor_rows(default_pool(profile, profile.task)), d["base"], force=True)
            st.rerun()
        if b3.button("Delete this user's pool", key="pool_reset", width="stretch", disabled=not in_use.stored,
                     help="Go back to the default pool built from the profile."):
            reset_pool(c.ws, profile.dataset_id, profile.user_id)  # the next run starts a new draft (new base)
            st.toast("Deleted: the default pool applies again.")
            st.rerun()
    with json_tab:
        st.download_button("Download the pool in use (JSON)", json.dumps(pool_payload(in_use.entries), indent=2,
                                                                          ensure_ascii=False),
                           file_name=f"{profile.dataset_id}_{profile.user_id}_pool.json", mime="application/json",
                           key="pool_download")
        pasted = st.text_area("Paste a pool", key="pool_json", height=140,
                              placeholder='[{"text": "Breakage always means a low score.", "kind": "instruction"},\n'
                                          ' {"id": "my-demo", "text": "Input: …\\nResponse: 1", "kind": "demo"}]',
                              help='A JSON list of {"id"?, "text", "kind"}: the same file `python -m core answer '
                                   '--pool FILE.json` takes.')
        if st.button("Import and save", key="pool_import"):
            try:
                data = parse_pool_json(pasted or "", source="pasted JSON")  # the parsing --pool FILE.json gets
            except InputError as exc:
                show_problems(exc, "The pool was not saved")
            else:
                _save(c, profile, data, "pasted JSON")


def _save(c: AppContext, profile: Any, rows: list[Any], source: str) -> None:
    """Validate and store ``rows``; the next run starts a new draft from the stored pool (a new editor key)."""
    try:
        saved = save_pool(c.ws, profile.dataset_id, profile.user_id, rows, source=source)
    except InputError as exc:
        show_problems(exc, "The pool was not saved")
        return
    st.toast(f"Saved: {len(saved)} entries. The pool method now uses this user's own pool.")
    st.rerun()
