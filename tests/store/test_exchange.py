import json

import numpy as np
import pytest

from core.errors import InputError
from core.store.exchange import export_user, export_workspace, import_user, import_workspace, workspace_to_dict
from core.store.workspace import Workspace, text_hash
from tests.store.test_workspace import _dataset


def _filled(path) -> Workspace:
    ws = Workspace(path)
    ws.add_dataset(_dataset())
    rid = ws.start_run("features", {"x": 1}, dataset_id="d", user_id="u1")
    ws.put_artifact(rid, "item:a", [{"phrase": "kettle"}])
    ws.finish_run(rid)
    ws.cache_put("k", {"text": "5"}, backend="openai", model="m")
    ws.embeddings_put("hash", {text_hash("kettle"): np.ones(3, dtype=np.float32)})
    ws.add_trace({"run_id": rid, "stage": "features", "output": "[]"})
    ws.add_summary_version("d", "u1", "Hates breakage.", source="generated")
    ws.add_edit("d", "u1", "rename", {"factor": "F0", "name": "Durability"})
    ws.add_eval_run({"task": "t"}, {"n": 1})
    ws.set_pool("d", "u1", [{"id": "P1", "text": "Be brief."}])
    return ws


def test_workspace_export_import_round_trip(tmp_path):
    a = _filled(tmp_path / "a.sqlite")
    out = export_workspace(a, tmp_path / "a.json")
    b = Workspace(tmp_path / "b.sqlite")
    counts = import_workspace(b, out)
    assert counts["items"] == 3 and counts["embed_cache"] == 1
    assert workspace_to_dict(a) == workspace_to_dict(b)
    assert np.array_equal(b.embeddings_get("hash", [text_hash("kettle")])[text_hash("kettle")], np.ones(3))


def test_import_rejects_foreign_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": 1}))
    ws = Workspace(tmp_path / "w.sqlite")
    with pytest.raises(InputError) as e:
        import_workspace(ws, bad)
    assert e.value.file == str(bad) and e.value.field == "format"
    notjson = tmp_path / "x.json"
    notjson.write_text("{nope")
    with pytest.raises(InputError):
        import_workspace(ws, notjson)


def test_user_export_round_trip(tmp_path):
    a = _filled(tmp_path / "a.sqlite")
    pool = [{"id": "p1", "kind": "demo", "text": "Mention durability first.", "factor_id": None, "item_id": None,
             "source": "user"}]
    a.set_pool("d", "u1", pool)
    out = export_user(a, "d", "u1", tmp_path / "u1.json", profile={"factors": []})
    b = Workspace(tmp_path / "b.sqlite")
    did, uid = import_user(b, out)
    assert (did, uid) == ("d", "u1")
    assert [i.to_dict() for i in b.get_items("d", "u1")] == [i.to_dict() for i in a.get_items("d", "u1")]
    assert b.latest_summary("d", "u1")["text"] == "Hates breakage."
    assert b.list_edits("d", "u1")[0]["payload"] == {"factor": "F0", "name": "Durability"}
    assert json.loads(out.read_text())["profile"] == {"factors": []}
    assert b.get_pool("d", "u1") == pool


def test_user_import_checks_the_pool_before_storing_anything(tmp_path):
    a = _filled(tmp_path / "a.sqlite")
    a.set_pool("d", "u1", [{"id": "p1", "kind": "snippet", "text": "Mention durability first."},
                           {"id": "p1", "text": "  "}])  # written around save_pool: only a hand-made file has this
    out = export_user(a, "d", "u1", tmp_path / "u1.json")
    b = Workspace(tmp_path / "b.sqlite")
    with pytest.raises(InputError) as err:
        import_user(b, out)
    assert [(p.row, p.field) for p in err.value.problems] == [(1, "kind"), (2, "id"), (2, "text")]
    assert str(err.value.problems[0]).startswith(f"{out} (pool):1:kind: kind 'snippet' is neither")
    assert not b.has_dataset("d")  # nothing half-imported
