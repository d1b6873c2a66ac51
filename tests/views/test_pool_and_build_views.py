"""Prompt-pool view logic, and the cancellable profile build (nothing finished is lost on cancel)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data.model import Dataset, Item, Task, User
from core.embed.hashing import HashingEmbedder
from core.methods.context import PoolEntry
from core.methods.pool_store import save_pool
from core.methods.types import PoolMatch, Step, StepDetail
from core.store.workspace import Workspace
from core.ui_state import ensure_sample_data
from core.views.build_view import (
    BuildCancelled,
    auto_build_allowed,
    auto_build_enabled,
    build_cancellable,
    cancelled_note,
    is_sample_dataset,
    start_build_job,
    stored_feature_items,
)
from core.views.pool_view import editor_rows, pool_in_use, pool_step_tables, rows_from_editor
from core.views.trace_view import step_card


# -- the prompt pool ------------------------------------------------------------------------------------------
def test_editor_rows_round_trip_and_blank_rows():
    entries = [PoolEntry("S1", "Hates breakage.", "instruction", "F1", None, "summary"),
               PoolEntry("D:a", "Input: x\nResponse: 1", "demo", "F1", "a", "demo")]
    rows = editor_rows(entries)
    assert rows[0] == {"id": "S1", "kind": "instruction", "text": "Hates breakage.", "factor_id": "F1",
                       "item_id": None, "source": "summary"}
    edited = [*rows, {"id": None, "kind": None, "text": float("nan"), "factor_id": "", "item_id": None,
                      "source": None},  # an added row never filled in
              {"id": float("nan"), "kind": "demo", "text": "Input: y\nResponse: 5", "factor_id": None,
               "item_id": "  ", "source": None, "_index": 3}]
    back = rows_from_editor(edited)
    assert back[0] == {"id": "S1", "kind": "instruction", "text": "Hates breakage.", "factor_id": "F1",
                       "source": "summary"}
    assert len(back) == 3 and back[2] == {"kind": "demo", "text": "Input: y\nResponse: 5"}


def test_pool_in_use_default_then_stored(profile):
    ws = Workspace(":memory:")
    ws.add_dataset(Dataset(name="ds", task=profile.task, users=[User("u", profile.items)]), dataset_id="ds")
    default = pool_in_use(ws, profile)
    assert not default.stored and default.entries
    assert {e.source for e in default.entries} >= {"summary", "factor"}
    assert "default pool built from the profile" in default.caption
    save_pool(ws, "ds", "u", [{"text": "Likes deals."}, {"text": "Input: x\nResponse: 5", "kind": "demo"}])
    stored = pool_in_use(ws, profile)
    assert stored.stored and [e.id for e in stored.entries] == ["U1", "U2"]
    assert stored.caption.startswith("In use: this user's own pool (2 entries: 1 instructions, 1 demonstrations)")


def test_pool_step_tables_and_card_title():
    detail = {"entries": [{"id": "F:F1", "kind": "instruction", "text": "Durability matters.", "source": "factor",
                           "factor_id": "F1", "item_id": None, "similarity": 0.51234, "score": 0.9}],
              "candidates": [{"id": "F:F1", "kind": "instruction", "text": "Durability matters.", "source": "factor",
                              "factor_id": "F1", "similarity": 0.51234, "score": 0.9},
                             {"id": "U1", "kind": "demo", "text": "x", "source": "user", "factor_id": None,
                              "similarity": 0.1, "score": 0.2}],
              "pool_size": 7, "pool_source": "stored", "ranking": "reranker",
              "reranker": {"weights": {"similarity": 1.5, "is_demo": -0.25}, "bias": 0.1, "n_pairs": 40,
                           "n_positive": 12}}
    t = pool_step_tables(PoolMatch(**detail), {"F1": "Durability"})
    assert t["chosen"] == [{"rank": 1, "id": "F:F1", "kind": "instruction", "source": "factor line",
                            "factor": "Durability", "similarity": 0.512, "score": 0.9, "text": "Durability matters."}]
    assert [r["source"] for r in t["candidates"]] == ["factor line", "written by hand"]
    assert t["caption"].startswith("Picked from this user's own pool (7 entries), ranked by the re-ranker")
    assert "40 training pairs" in t["caption"] and t["weights"] == {"similarity": 1.5, "is_demo": -0.25}
    plain = pool_step_tables(PoolMatch(entries=[], candidates=[], pool_size=3, pool_source="default"))
    assert "default pool" in plain["caption"] and "embedding similarity" in plain["caption"]
    stored = StepDetail.from_dict(detail)  # the flat form traces store the pool step's detail in
    assert stored.pool == PoolMatch(**detail) and stored.to_dict() == detail and not stored.extra
    card = step_card(Step(kind="retrieve", name="Match pool entries to the query", detail=stored), 0)
    assert card.kind_title == "Pool entries" and card.more == {}
    assert step_card(Step(kind="retrieve", name="Retrieve"), 0).kind_title == "Retrieved items"


# -- building -------------------------------------------------------------------------------------------------
def test_sample_datasets_and_auto_build_switch(tmp_path: Path):
    ws = Workspace(tmp_path / "ws.sqlite")
    assert ensure_sample_data(ws) == ["reviews", "movie_tags"]
    rows = {d["id"]: d for d in ws.list_datasets()}
    assert is_sample_dataset(rows["reviews"]) and is_sample_dataset(rows["movie_tags"])
    assert not is_sample_dataset({**rows["reviews"], "source": "my_reviews.csv"})
    assert not is_sample_dataset({**rows["reviews"], "id": "reviews_copy"})
    assert auto_build_enabled({}) and auto_build_enabled({"INFLOW_AUTO_BUILD": "1"})
    assert not auto_build_enabled({"INFLOW_AUTO_BUILD": "0"}) and not auto_build_enabled({"INFLOW_AUTO_BUILD": "off"})
    assert auto_build_allowed(ws, "reviews", "ava", environ={})
    assert not auto_build_allowed(ws, "reviews", "ava", environ={"INFLOW_AUTO_BUILD": "0"})
    assert not auto_build_allowed(ws, "reviews", "nobody", environ={})
    assert not auto_build_allowed(ws, None, "ava", environ={})
    ws.close()


# 20 items (two feature chunks of 16 + 4); only a few carry features, so the projection stays PCA (no numba).
TASK = Task(kind="score", name="rating")
SALIENT = {0: "The battery died, terrible.", 5: "Gorgeous screen, I love it.", 17: "Awful battery, it broke."}


@pytest.fixture
def small_ws(tmp_path: Path) -> Workspace:
    items = [Item(f"i{n:02d}", SALIENT.get(n, f"Order number {n}."), "1" if n in (0, 17) else "4") for n in range(20)]
    ws = Workspace(tmp_path / "build.sqlite")
    ws.add_dataset(Dataset(name="mini", task=TASK, users=[User("u", items)]), dataset_id="mini")
    yield ws
    ws.close()


def _settings():
    from core.stages.profile import PipelineSettings

    return PipelineSettings(extractor="lexicon", namer="keywords", summarizer="template", paths="template")


def test_cancel_keeps_finished_items_and_a_rebuild_resumes(small_ws: Workspace):
    seen: list[tuple[str, int, int]] = []

    def cancelled() -> bool:  # cancel once the first chunk (16 items) has been reported
        return ("features", 16, 20) in seen

    with pytest.raises(BuildCancelled, match="extracting features"):
        build_cancellable(small_ws, "mini", "u", client=None, embedder=HashingEmbedder(dim=64), settings=_settings(),
                          progress=lambda *report: seen.append(report), cancelled=cancelled)
    assert stored_feature_items(small_ws, "mini", "u") == (16, 20)
    run = small_ws.list_runs("features", dataset_id="mini", user_id="u")[0]
    assert run.status == "cancelled"  # the run protocol: a user's cancel is not a failure
    assert small_ws.list_runs("profile", dataset_id="mini", user_id="u") == []
    assert "features of 16 of 20 items are stored" in cancelled_note(small_ws, "mini", "u")
    stored_before = small_ws.get_artifacts(run.id, "item:")

    reports: list[tuple[str, int, int]] = []
    profile = build_cancellable(small_ws, "mini", "u", client=None, embedder=HashingEmbedder(dim=64),
                                settings=_settings(), progress=lambda *report: reports.append(report))
    assert profile.run_ids["features"] == run.id  # the cancelled run was resumed, not restarted
    assert small_ws.get_run(run.id).status == "done"
    assert reports[0] == ("features", 16, 20)  # started where it stopped
    after = small_ws.get_artifacts(run.id, "item:")
    assert len(after) == 20 and all(after[k] == v for k, v in stored_before.items())
    assert [f.phrase for f in profile.features["i00"]] and profile.features["i17"]
    assert stored_feature_items(small_ws, "mini", "u") == (20, 20)


def test_build_job_reports_progress_and_returns_the_profile(small_ws: Workspace):
    job = start_build_job(small_ws, "mini", "u", client=None, embedder=HashingEmbedder(dim=64), settings=_settings())
    assert job.target == (small_ws.path, "mini", "u")
    assert job.wait(120)
    assert job.error is None, job.error
    assert job.result.user_id == "u" and job.progress.fraction == 1.0
    assert job.progress.label == "Step 6 of 6 · Writing reasoning paths: done (20 items)"
    snap = job.snapshot()
    assert [s.status for s in snap.stages] == ["done"] * 6 and snap.stage("features").done == 20
