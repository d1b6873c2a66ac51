import sqlite3

import numpy as np
import pytest

from core.data.model import Dataset, Item, Query, Task, User
from core.store.schema import MIGRATIONS, SCHEMA_VERSION
from core.store.workspace import Workspace, stable_hash, text_hash


def _dataset(name: str = "d") -> Dataset:
    task = Task(kind="score", name="rating", instruction="Rate 1-5")
    users = [
        User("u1", [Item("a", "great kettle", "5", "2024-01-01", {"product": "kettle"}),
                    Item("b", "broke in a week", "1")]),
        User("u2", [Item("c", "fine", "3")]),
    ]
    return Dataset(name=name, task=task, users=users, queries=[Query("q1", "u1", "new kettle", "4")])


def test_new_workspace_is_at_current_schema(tmp_path):
    ws = Workspace(tmp_path / "w.sqlite")
    assert ws.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
    mode = ws._query("PRAGMA journal_mode")[0][0]
    assert mode == "wal"
    assert ws._query("PRAGMA foreign_keys")[0][0] == 1


def test_migrates_forward_from_v1(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for stmt in MIGRATIONS[0]:
        conn.execute(stmt)
    conn.execute("PRAGMA user_version=1")
    conn.execute("INSERT INTO llm_cache(key,backend,model,value_json,created_at) VALUES ('k','b','m','{\"x\":1}',0)")
    conn.commit()
    conn.close()
    ws = Workspace(path)
    assert ws.schema_version() == SCHEMA_VERSION
    assert ws.cache_get("k") == {"x": 1}  # old data survives
    ws.add_summary_version("d", "u", "hello", source="edited")  # v2 table exists
    assert ws.latest_summary("d", "u")["text"] == "hello"


def test_refuses_newer_schema(tmp_path):
    path = tmp_path / "new.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="schema"):
        Workspace(path)


def test_dataset_round_trip_and_replace(tmp_path):
    ws = Workspace(tmp_path / "w.sqlite")
    ds = _dataset()
    did = ws.add_dataset(ds, source="x.csv")
    back = ws.get_dataset(did)
    assert back.to_dict() == ds.to_dict()
    assert ws.list_users(did) == ["u1", "u2"]
    info = ws.list_datasets()[0]
    assert (info["n_users"], info["n_items"], info["n_queries"]) == (2, 3, 1)
    ds.users[0].items.pop()
    ws.add_dataset(ds)
    assert len(ws.get_items(did, "u1")) == 1
    with pytest.raises(ValueError):
        ws.add_dataset(ds, replace=False)
    ws.delete_dataset(did)
    assert ws.list_datasets() == []
    with pytest.raises(KeyError):
        ws.get_dataset(did)


def test_runs_artifacts_and_reuse(tmp_path):
    ws = Workspace(tmp_path / "w.sqlite")
    rid = ws.start_run("features", {"extractor": "lexicon"}, dataset_id="d", user_id="u1")
    assert rid.startswith("features-")
    ws.put_artifact(rid, "item:a", [{"phrase": "x"}])
    ws.put_artifact(rid, "item:b", [])
    ws.put_artifact(rid, "meta", {"n": 2})
    assert ws.find_run("features", {"extractor": "lexicon"}, dataset_id="d", user_id="u1") is None  # running
    ws.finish_run(rid)
    found = ws.find_run("features", {"extractor": "lexicon"}, dataset_id="d", user_id="u1")
    assert found is not None and found.id == rid and found.status == "done"
    assert ws.find_run("features", {"extractor": "llm"}, dataset_id="d", user_id="u1") is None
    assert set(ws.get_artifacts(rid, "item:")) == {"item:a", "item:b"}
    assert ws.get_artifact(rid, "meta") == {"n": 2}
    child = ws.start_run("factors", {"k": 1}, dataset_id="d", user_id="u1", parents=[rid])
    assert ws.get_run(child).parents == [rid]


def test_caches_traces_summaries_edits_evals(tmp_path):
    ws = Workspace(tmp_path / "w.sqlite")
    ws.cache_put("key1", {"text": "hi"}, backend="openai", model="m")
    assert ws.cache_get("key1") == {"text": "hi"} and ws.cache_get("nope") is None
    v = np.arange(4, dtype=np.float32)
    ws.embeddings_put("hash", {text_hash("a"): v})
    got = ws.embeddings_get("hash", [text_hash("a"), text_hash("b")])
    assert list(got) == [text_hash("a")] and np.array_equal(got[text_hash("a")], v)
    tid = ws.add_trace({"run_id": "r", "stage": "answer", "messages": [{"role": "user", "content": "q"}],
                        "output": "5", "tokens_in": 3, "tokens_out": 1, "cache_hit": True})
    tr = ws.list_traces("r")[0]
    assert tr["id"] == tid and tr["cache_hit"] is True and tr["messages"][0]["content"] == "q"
    assert ws.add_summary_version("d", "u", "one", source="generated") == 1
    assert ws.add_summary_version("d", "u", "two", source="edited") == 2
    assert [s["text"] for s in ws.list_summary_versions("d", "u")] == ["one", "two"]
    e1 = ws.add_edit("d", "u", "rename", {"factor": "F0", "name": "Durability"})
    ws.add_edit("d", "u", "pin", {"factor": "F0"})
    ws.set_edit_undone(e1)
    assert [e["op"] for e in ws.list_edits("d", "u")] == ["pin"]
    assert len(ws.list_edits("d", "u", include_undone=True)) == 2
    assert ws.get_pool("d", "u") is None
    ws.set_pool("d", "u", [{"id": "P1", "text": "Be brief.", "kind": "instruction"}])
    assert ws.get_pool("d", "u")[0]["text"] == "Be brief."
    ws.delete_pool("d", "u")
    assert ws.get_pool("d", "u") is None
    eid = ws.add_eval_run({"task": "t"}, {"n": 3})
    assert ws.get_eval_run(eid)["result"] == {"n": 3}


def test_stable_hash_is_order_independent():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_failed_transaction_rolls_back(tmp_path):
    ws = Workspace(tmp_path / "w.sqlite")
    with pytest.raises(RuntimeError):
        with ws.transaction() as c:
            c.execute("INSERT INTO llm_cache(key,value_json,created_at) VALUES ('x','{}',0)")
            raise RuntimeError("boom")
    assert ws.cache_get("x") is None
