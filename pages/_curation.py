"""The replay banner shown on the Factors and Factor map pages: edits the last rebuild could not replay."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.errors import InputError
from core.stages.edits import reapply_edit, undo_edit
from core.views import curation_view as cv
from pages._shared import AppContext, set_profile, show_problems


def replay_banner(c: AppContext, profile: Any, where: str) -> None:
    """Warn about every active edit the latest replay could not apply, each with Re-apply and Drop.

    ``where`` keeps the button keys of the two pages apart.
    """
    rows = cv.not_replayed(profile, c.ws.list_edits(profile.dataset_id, profile.user_id))
    if not rows:
        return
    with st.container(border=True):
        st.warning(f"**{len(rows)} curation edit{'s' if len(rows) > 1 else ''} could not be replayed** on the "
                   "current clustering. They are not in effect. **Re-apply** gathers the features the edit acted "
                   "on into one factor again and applies it there; **Drop** marks it undone (it stays in the "
                   "edit list).", icon=":material/sync_problem:")
        for r in rows:
            text, act, drop = st.columns([6, 1, 1], vertical_alignment="center")
            text.markdown(f"`#{r['id']}` {r['text']}  \n_{r['reason']}_")
            if act.button("Re-apply", key=f"{where}_reapply_{r['id']}", disabled=not r["can_reapply"],
                          width="stretch", help=None if r["can_reapply"] else "None of its features exists now."):
                try:
                    set_profile(c, reapply_edit(c.ws, profile, r["id"]))
                except InputError as exc:
                    show_problems(exc, "Not re-applied")
                else:
                    st.rerun()
            if drop.button("Drop", key=f"{where}_drop_{r['id']}", width="stretch"):
                set_profile(c, undo_edit(c.ws, profile, r["id"]))
                st.rerun()
