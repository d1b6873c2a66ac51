"""Queries the reasoning and compare pages offer: the dataset's own queries and held-out history items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.stages.profile import Profile
from core.store.workspace import Workspace

HELD_OUT_DEFAULT = 8


@dataclass(frozen=True)
class QueryOption:
    """A query to answer.

    Attributes:
        key: Unique key (``q:<id>`` for dataset queries, ``i:<item id>`` for history items).
        label: What the picker shows.
        input: The query text.
        gold: The user's true response, when known.
        item_id: For a history item: its id (left out of retrieval so it cannot answer itself).
    """

    key: str
    label: str
    input: str
    gold: str | None
    item_id: str | None = None


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def query_options(ws: Workspace, profile: Profile, *, held_out: int = HELD_OUT_DEFAULT,
                  extra_items: Sequence[str] = ()) -> list[QueryOption]:
    """Return the user's dataset queries (true held-out, e.g. LaMP questions) then their last history items.

    Args:
        ws: The workspace.
        profile: The user's profile (its items are the history).
        held_out: How many of the newest history items to offer.
        extra_items: History item ids to offer as well (e.g. one sent by an evaluation drill-down).
    """
    out: list[QueryOption] = []
    ds = ws.get_dataset(profile.dataset_id, user_ids=[profile.user_id])
    for q in ds.queries:
        gold = f" · true: {q.gold}" if q.gold else ""
        out.append(QueryOption(key=f"q:{q.id}", label=f"query {q.id}{gold} · {_short(q.input)}", input=q.input,
                               gold=q.gold))
    newest = list(reversed(profile.items[-held_out:] if held_out > 0 else []))
    shown = {it.id for it in newest}
    extra = [it for it in profile.items if it.id in set(extra_items) and it.id not in shown]
    for it in extra + newest:
        out.append(QueryOption(key=f"i:{it.id}", label=f"history item {it.id} · true: {_short(it.output, 30)} · "
                                                       f"{_short(it.input)}", input=it.input, gold=it.output,
                               item_id=it.id))
    return out
