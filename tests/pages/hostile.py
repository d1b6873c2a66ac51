"""A workspace whose every shown text is hostile Markdown: for the markup-injection tests (AppTest and browser).

Item texts, an item id, the user id, a factor name and description, the summary and a listed build
failure carry Markdown and Streamlit markup: a heading, an image and a link to a loopback "pixel"
address, LaTeX, ``:red[...]``, ``:material/...:``, HTML, code, a table and a list. Each carries
:data:`MARK`, so a test can find where the data went.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.data.model import Dataset, User
from core.embed.hashing import HashingEmbedder
from core.stages.edits import apply_edit
from core.stages.failures import StageFailure
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings
from core.stages.summary import edit_summary
from core.store.workspace import Workspace
from core.views import curation_view as cv
from tests.stages.conftest import durability_dataset

MARK = "zqx"
DATASET = "hostile"


def payloads(pixel: str) -> list[str]:
    """The hostile texts; ``pixel`` is the base URL of a loopback server that counts requests."""
    return [
        f"# Heading {MARK}",
        f"![{MARK}]({pixel}/img-{MARK}.png)",
        f"[{MARK} link](javascript:alert(1)) and [{MARK}]({pixel}/link)",
        f"$ {MARK}^2 $ and $${MARK}$$",
        f":red[{MARK} red] :material/{MARK}: :material/home:",
        f"<img src='{pixel}/html-{MARK}.png'> <b>{MARK}</b>",
        f"`{MARK} code` **{MARK} bold**",
        f"| {MARK} | b |\n|---|---|\n| 1 | 2 |",
        f"- {MARK} item\n1. {MARK} numbered\n> {MARK} quote",
    ]


def user_id(pixel: str) -> str:
    return f"ava :red[{MARK}] ![u]({pixel}/user-{MARK}.png)"


def item_id(pixel: str) -> str:
    return f"r00 ![i]({pixel}/item-{MARK}.png) :material/{MARK}:"


def hostile_workspace(path: Path, pixel: str) -> tuple[str, str]:
    """Write the workspace (dataset, a deterministic profile, a hostile rename, summary and failure).

    Returns:
        The dataset id and the user id.
    """
    base = durability_dataset(n=30)
    attacks = payloads(pixel)
    items = list(base.users[0].items)
    items[0] = replace(items[0], id=item_id(pixel), input=items[0].input + " " + " ".join(attacks))
    for i, attack in enumerate(attacks, start=1):
        items[i * 3] = replace(items[i * 3], input=f"{attack}\n{items[i * 3].input}")
    items[-1] = replace(items[-1], input="\n".join([items[-1].input, *attacks]))  # the pages' default query
    user = user_id(pixel)
    ws = Workspace(path)
    try:
        ws.add_dataset(Dataset(name=DATASET, task=base.task, users=[User(user, items)]), dataset_id=DATASET)
        profile = build_profile(ws, DATASET, user, client=None, embedder=HashingEmbedder(),
                                settings=PipelineSettings(hdbscan_min_cluster_size=4, embedder="hash"))
        factor = next(f for f in profile.factors if not f.is_noise)
        profile = apply_edit(ws, profile, *cv.rename(profile, factor.id, f"{attacks[1]} {attacks[4]}"))
        apply_edit(ws, profile, *cv.describe(profile, factor.id, f"{attacks[0]} {attacks[3]}"))
        edit_summary(ws, DATASET, user, " ".join(attacks))
        ws.put_artifact(profile.run_ids["features"], "failures", [StageFailure(  # as a failed model call leaves
            "features", "item", item_id(pixel), "failed", f"HTTP 500: {attacks[1]}").to_dict()])
    finally:
        ws.close()
    return DATASET, user
