"""Data: load CSV / JSON / JSONL / LaMP files or a sample dataset into the workspace, list and delete datasets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.data.load import LoadResult
from core.data.loaders.records import FIELDS
from core.errors import InputError
from core.ui_state import Keys, dataset_caption, load_files, sample_choices
from core.views.upload_view import (
    UploadFolder,
    clash_message,
    dataset_id_for,
    display_problem,
    explicit_mapping,
    files_signature,
    free_dataset_id,
    guess_mapping,
    preview,
    user_datasets,
)
from pages._shared import build_running, ctx, forget_profiles, maybe_auto_build, safe, show_problems

c = ctx()
ws = c.ws
st.title("Data")
st.caption("Histories of users: each item is an input the user saw or wrote and their response (a score, a "
           "label or text). Load files or a sample dataset; the sidebar picks the active dataset and user.")

def _delete_panel(listed: list[dict]) -> None:
    """Delete a dataset with everything built from it, after a confirmation."""
    ss = st.session_state
    with st.expander("Delete a dataset"):
        ids = [d["id"] for d in listed]
        target = st.selectbox("Dataset to delete", ids, key="up_del_pick")
        if ss.get("_up_del") != target:
            if st.button("Delete…", key="up_del", help="Asks for confirmation first."):
                ss["_up_del"] = target
                st.rerun()
            return
        info = next(d for d in listed if d["id"] == target)
        st.warning(f"Delete **{safe(target)}** ({info['n_users']:,} users, {info['n_items']:,} items) together "
                   "with its profiles, summaries, curation edits and prompt pools? This cannot be undone.")
        yes, no = st.columns(2)
        if yes.button(f"Delete {safe(target)} and its builds", key="up_del_yes", type="primary", width="stretch"):
            ws.delete_dataset(target, builds=True)
            ss.pop("_up_del", None)
            if ss.get(Keys.DATASET) == target:
                ss.pop(Keys.DATASET, None)
                ss.pop(Keys.USER, None)
            forget_profiles()
            st.rerun()
        if no.button("Cancel", key="up_del_no", width="stretch"):
            ss.pop("_up_del", None)
            st.rerun()


# -- what the workspace holds --------------------------------------------------------------------------------
datasets = user_datasets(ws.list_datasets())  # an evaluation's internal copies are not the user's data
st.subheader("In this workspace")
if datasets:
    st.dataframe(pd.DataFrame([{"dataset": d["id"], "task": d["task"].kind, "task name": d["task"].name,
                                "users": d["n_users"], "items": d["n_items"], "queries": d["n_queries"],
                                "source": d["source"] or ""} for d in datasets]),
                 hide_index=True, width="stretch")
    if c.dataset_id and c.user_id:
        st.success(f"Active: **{safe(c.dataset_id)}**, user **{safe(c.user_id)}**. Next: see this user's factors "
                   "on the map.", icon=":material/check_circle:")
        maybe_auto_build(c)  # a sample user's first profile builds in the background while this page is read
        build_running(c)
        st.page_link("pages/factor_map.py", label="Open the factor map", icon=":material/scatter_plot:")
    _delete_panel(datasets)
else:
    st.info("The workspace is empty: load a sample dataset or upload files below.")


def _activate(dataset_id: str) -> None:
    st.session_state[Keys.DATASET] = dataset_id
    st.session_state.pop(Keys.USER, None)
    forget_profiles()


def _report(result: LoadResult, dataset_id: str, folder: Path | None = None) -> None:
    rows = [{"file": Path(f.file).name, "format": f.format, "users": f.users, "items": f.items, "queries": f.queries,
             "rows read": f.rows, "skipped": f.skipped} for f in result.files]
    st.session_state[Keys.UPLOAD] = {**st.session_state.get(Keys.UPLOAD, {}), "last": {
        "dataset": dataset_id, "files": rows,
        "problems": [display_problem(p, folder) for p in result.problems]
        + [f"warning: {display_problem(p, folder)}" for p in result.warnings],
        "truncated": result.truncated}}


def _do_load(req: dict) -> None:
    """Load files as asked (the clash question, if any, was answered) and make the dataset active."""
    folder = Path(req["folder"]) if req.get("folder") else None
    try:
        did, result = load_files(ws, [Path(p) for p in req["paths"]], dataset_id=req["dataset_id"],
                                 keep_valid=bool(req.get("keep_valid")), mapping=req.get("mapping"))
    except InputError as exc:
        show_problems(exc, req.get("what", "Nothing was loaded"), folder=folder)
    else:
        _report(result, did, folder)
        _activate(did)
        st.rerun()


def _request_load(req: dict) -> None:
    """Load at once when the id is free; otherwise keep the request and ask (replace / new id / cancel)."""
    if ws.has_dataset(req["dataset_id"]):
        st.session_state["_up_pending"] = req
        st.rerun()
    else:
        st.session_state.pop("_up_pending", None)
        _do_load(req)


# -- sample datasets --------------------------------------------------------------------------------------------
st.subheader("Sample datasets")
samples = sample_choices()
if samples:
    names = list(samples)
    col1, col2 = st.columns([3, 1])
    choice = col1.selectbox("Sample", names, key="up_sample",
                            format_func=lambda n: f"{n}  ({', '.join(p.name for p in samples[n])})")
    col2.write("")
    if col2.button("Load sample", key="up_load_sample", width="stretch"):
        _request_load({"paths": [str(p) for p in samples[choice]], "dataset_id": choice,
                       "what": "The sample did not load"})
else:
    st.caption("No sample_data/ folder found.")

# -- upload -------------------------------------------------------------------------------------------------------
st.subheader("Upload files")
files = st.file_uploader("CSV, TSV, JSON, JSONL or a LaMP pair (*_questions.json + *_outputs.json)",
                         type=["csv", "tsv", "json", "jsonl", "ndjson"], accept_multiple_files=True, key="up_files")
upload_folder: UploadFolder | None = st.session_state.get(Keys.UPLOAD_FOLDER)
if files:
    if upload_folder is None or not upload_folder.alive:  # one folder per session, not one per rerun
        upload_folder = st.session_state[Keys.UPLOAD_FOLDER] = UploadFolder()
    folder = upload_folder.path
    paths = upload_folder.replace([(f.name, f.getvalue()) for f in files])
    guessed: dict[str, str | None] = {}
    columns: list[str] = []
    for p in paths:
        cols, rows, note = preview(p)
        with st.expander(f"{safe(p.name)} · {safe(note)} · first {len(rows)} rows", expanded=len(paths) == 1):
            if rows:
                st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
            else:
                st.warning(safe(note))
        if not columns and cols and "LaMP" not in note:
            columns, guessed = cols, guess_mapping(cols)
    mapping: dict[str, str] = {}
    if columns:
        st.markdown("**Column mapping** (auto-detected; change any field the guess got wrong)")
        mcols = st.columns(len(FIELDS))
        form: dict[str, str | None] = {}
        for i, fld in enumerate(FIELDS):
            opts = ["(none)", *columns]
            cur = guessed.get(fld)
            pick = mcols[i].selectbox(fld, opts, index=opts.index(cur) if cur in opts else 0, key=f"up_map_{fld}")
            form[fld] = None if pick == "(none)" else pick
        mapping = explicit_mapping(form, guessed)
    c1, c2 = st.columns([2, 1])
    # The suggested id follows the files: a new set of files resets a typed id (seeded here, no value=).
    sig = files_signature(p.name for p in paths)
    if st.session_state.get("_up_sig") != sig or "up_name" not in st.session_state:
        st.session_state["_up_sig"] = sig
        st.session_state["up_name"] = dataset_id_for(paths)
        st.session_state.pop("_up_pending", None)  # a question about other files no longer applies
    name = c1.text_input("Dataset id", key="up_name")
    keep_valid = c2.checkbox("Keep valid rows", key="up_keep_valid",
                             help="Load the rows without problems and list the others, instead of refusing the file.")
    if st.button("Validate and load", type="primary", key="up_load"):
        _request_load({"paths": [str(p) for p in paths], "dataset_id": name.strip() or dataset_id_for(paths),
                       "keep_valid": keep_valid, "mapping": mapping or None, "folder": str(folder),
                       "what": "Nothing was loaded: fix these rows, or tick “Keep valid rows”"})
elif upload_folder is not None and upload_folder.alive:
    upload_folder.replace([])  # the files were taken off the uploader: their copies go too

# -- an id clash asks before anything is replaced -------------------------------------------------------------------
pending = st.session_state.get("_up_pending")
if pending:
    taken = [d["id"] for d in ws.list_datasets()]
    new_id = free_dataset_id(taken, pending["dataset_id"])
    info = next((d for d in ws.list_datasets() if d["id"] == pending["dataset_id"]), None)
    if info is not None:
        st.warning(clash_message(info, safe) + " Nothing has been loaded yet.", icon=":material/warning:")
    r1, r2, r3 = st.columns(3)
    if r1.button(f"Replace {safe(pending['dataset_id'])}", key="up_clash_replace", width="stretch"):
        st.session_state.pop("_up_pending", None)
        _do_load(pending)
    if r2.button(f"Load as {safe(new_id)}", key="up_clash_new", type="primary", width="stretch"):
        st.session_state.pop("_up_pending", None)
        _do_load({**pending, "dataset_id": new_id})
    if r3.button("Cancel", key="up_clash_cancel", width="stretch"):
        st.session_state.pop("_up_pending", None)
        st.rerun()

# -- the last load ------------------------------------------------------------------------------------------------
last = st.session_state.get(Keys.UPLOAD, {}).get("last")
if last:
    st.subheader(f"Last load: {safe(last['dataset'])}")
    st.dataframe(pd.DataFrame(last["files"]), hide_index=True, width="stretch")
    if last["problems"]:
        more = "\n- … more problems not shown" if last["truncated"] else ""
        st.warning("**Rows left out:**\n" + "\n".join(f"- {safe(p)}" for p in last["problems"]) + more)
    info = next((d for d in ws.list_datasets() if d["id"] == last["dataset"]), None)
    if info:
        st.caption(safe(dataset_caption(info)))
