"""``python -m core export`` / ``import``: a workspace or one user moves as one JSON file."""

from __future__ import annotations

import json

from core.__main__ import main
from core.store.workspace import Workspace
from tests.cli.test_build import reviews_csv  # noqa: F401


def _built(tmp_path, reviews_csv):  # noqa: F811
    ws_path = tmp_path / "ws.sqlite"
    assert main(["build", str(reviews_csv), "--workspace", str(ws_path), "--user", "ava", "--extractor", "lexicon",
                 "--min-cluster-size", "4"]) == 0
    return ws_path


def test_user_export_then_import_into_a_new_workspace(reviews_csv, tmp_path, capsys):  # noqa: F811
    ws_path = _built(tmp_path, reviews_csv)
    ws = Workspace(ws_path)
    dataset = ws.list_datasets()[0]["id"]
    ws.set_pool(dataset, "ava", [{"id": "p1", "kind": "instruction", "text": "Lead with durability."}])
    n_items = len(ws.get_items(dataset, "ava"))
    ws.close()
    out = tmp_path / "ava.json"
    assert main(["export", str(out), "--workspace", str(ws_path), "--user", "ava"]) == 0
    data = json.loads(out.read_text())
    assert data["format"] == "inflow-user" and data["profile"]["factors"]
    fresh = tmp_path / "fresh.sqlite"
    assert main(["import", str(out), "--workspace", str(fresh)]) == 0
    assert "imported user ava" in capsys.readouterr().out
    ws2 = Workspace(fresh)
    assert len(ws2.get_items(dataset, "ava")) == n_items
    assert ws2.get_pool(dataset, "ava")[0]["text"] == "Lead with durability."
    assert ws2.latest_summary(dataset, "ava") is not None
    ws2.close()


def test_workspace_export_round_trips_through_the_cli(reviews_csv, tmp_path):  # noqa: F811
    ws_path = _built(tmp_path, reviews_csv)
    out = tmp_path / "all.json"
    assert main(["export", str(out), "--workspace", str(ws_path)]) == 0
    copy = tmp_path / "copy.sqlite"
    assert main(["import", str(out), "--workspace", str(copy)]) == 0
    a, b = Workspace(ws_path), Workspace(copy)
    assert [d["id"] for d in a.list_datasets()] == [d["id"] for d in b.list_datasets()]
    assert len(a.list_runs()) == len(b.list_runs())
    a.close()
    b.close()


def test_bad_export_files_are_reported_not_raised(tmp_path, capsys):
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert main(["import", str(junk), "--workspace", str(tmp_path / "w.sqlite")]) == 2
    assert "junk.json" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text('{"format": "something-else"}')
    assert main(["import", str(other), "--workspace", str(tmp_path / "w.sqlite")]) == 2
    assert "not an Inflow user export" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "o.json"), "--workspace", str(tmp_path / "missing.sqlite")]) == 2
    assert "no such workspace file" in capsys.readouterr().err


def test_user_export_names_the_problem_when_the_user_is_unknown(reviews_csv, tmp_path, capsys):  # noqa: F811
    ws_path = _built(tmp_path, reviews_csv)
    assert main(["export", str(tmp_path / "x.json"), "--workspace", str(ws_path), "--user", "nobody"]) == 2
    assert "no user 'nobody'" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
