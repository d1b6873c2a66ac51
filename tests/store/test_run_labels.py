"""Readable run labels (``features-001``): numbered per stage within (dataset, user), never colliding."""

from __future__ import annotations

import sqlite3

import pytest

from core.data.model import Dataset, Item, Task, User
from core.store.exchange import export_workspace, import_workspace
from core.store.schema import MIGRATIONS
from core.store.shards import ingest_rows, load_seed, new_rows, seed_rows
from core.store.workspace import Workspace


def _dataset() -> Dataset:
    users = [User(uid, [Item(f"{uid}{k}", f"text {k}", "3") for k in range(2)]) for uid in ("u", "v")]
    return Dataset("d", Task(kind="score"), users)


def test_labels_count_per_stage_within_dataset_and_user():
    ws = Workspace(":memory:")
    a = ws.start_run("features", {"x": 1}, dataset_id="d", user_id="u")
    b = ws.start_run("features", {"x": 2}, dataset_id="d", user_id="u")
    c = ws.start_run("features", {"x": 1}, dataset_id="d", user_id="v")
    d = ws.start_run("factors", {}, dataset_id="d", user_id="u", parents=[a])
    with ws.run("eval", {}, dataset_id="d") as e:
        assert e.label == "eval-001"
    assert [ws.run_label(r) for r in (a, b, c, d)] == ["features-001", "features-002", "features-001", "factors-001"]
    assert a.startswith("features-") and len(a) == len("features-") + 8  # the id stays the random key
    assert ws.get_run(b).label == "features-002"
    with ws.run("features", {"x": 2}, dataset_id="d", user_id="u", reuse=True) as fresh:
        assert not fresh.reused and fresh.label == "features-003"  # b is still running: not reusable
    with ws.run("features", {"x": 2}, dataset_id="d", user_id="u", reuse=True) as again:
        assert again.reused and again.id == fresh.id and again.label == "features-003"


def test_resolve_run_by_id_or_label_and_clear_errors():
    ws = Workspace(":memory:")
    a = ws.start_run("features", {}, dataset_id="d", user_id="u")
    ws.start_run("features", {}, dataset_id="d", user_id="v")
    assert ws.resolve_run(a).id == a
    assert ws.resolve_run("features-001", user_id="u").id == a
    with pytest.raises(KeyError, match="names 2 runs"):
        ws.resolve_run("features-001")
    with pytest.raises(KeyError, match=r"no run 'features-009'.*latest features runs: features-001"):
        ws.resolve_run("features-009")


def test_two_scratch_workspaces_ingest_without_collision():
    driver = Workspace(":memory:")
    driver.add_dataset(_dataset())
    first = driver.start_run("features", {"n": 0}, dataset_id="d", user_id="u")
    driver.finish_run(first)
    seed = seed_rows(driver, "d", "u")
    made = []
    for n in (1, 2):  # two workers given the same seed: both number their new run features-002
        scratch = Workspace(":memory:")
        load_seed(scratch, seed)
        with scratch.run("features", {"n": n}, dataset_id="d", user_id="u") as r:
            scratch.put_artifact(r.id, "item:u0", [])
        assert r.label == "features-002"
        made.append((r.id, new_rows(scratch, seed)))
    other = Workspace(":memory:")  # a third worker, another user
    vseed = seed_rows(driver, "d", "v")
    load_seed(other, vseed)
    with other.run("features", {"n": 9}, dataset_id="d", user_id="v") as vrun:
        pass
    for _, shard in made:
        ingest_rows(driver, shard)
    ingest_rows(driver, new_rows(other, vseed))
    ingest_rows(driver, made[0][1])  # ingesting a shard twice changes nothing
    runs = driver.list_runs("features", dataset_id="d", user_id="u")
    assert sorted(r.id for r in runs) == sorted([first, made[0][0], made[1][0]])
    assert {r.id: r.label for r in runs} == {first: "features-001", made[0][0]: "features-002",
                                                   made[1][0]: "features-003"}
    assert driver.get_artifact(made[1][0], "item:u0") == []  # artifacts follow the id, untouched
    assert driver.get_run(vrun.id).label == "features-001"


def test_old_workspaces_get_labels_in_creation_order_and_keep_their_ids(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for version in range(3):  # a v3 file, as the previous release wrote it
        for stmt in MIGRATIONS[version]:
            conn.execute(stmt)
    conn.execute("PRAGMA user_version=3")
    rows = [("features-aaaa0001", "features", "u", 2.0), ("features-ffff0002", "features", "u", 1.0),
            ("factors-00000003", "factors", "u", 3.0), ("features-00000004", "features", "v", 4.0)]
    conn.executemany("INSERT INTO runs(id,stage,dataset_id,user_id,params_json,params_hash,status,created_at)"
                     " VALUES (?,?,'d',?,'{}','h','done',?)", rows)
    conn.commit()
    conn.close()
    ws = Workspace(path)
    assert {r.id: r.label for r in ws.list_runs()} == {
        "features-ffff0002": "features-001", "features-aaaa0001": "features-002", "factors-00000003": "factors-001",
        "features-00000004": "features-001"}
    assert ws.run_label(ws.start_run("features", {}, dataset_id="d", user_id="u")) == "features-003"
    ws.close()


def test_labels_survive_export_and_import(tmp_path):
    ws = Workspace(tmp_path / "a.sqlite")
    ws.add_dataset(_dataset())
    rid = ws.start_run("summary", {}, dataset_id="d", user_id="u")
    export_workspace(ws, tmp_path / "a.json")
    other = Workspace(tmp_path / "b.sqlite")
    import_workspace(other, tmp_path / "a.json")
    assert other.run_label(rid) == "summary-001"
    ws.close()
    other.close()
