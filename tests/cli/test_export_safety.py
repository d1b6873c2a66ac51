"""``export`` never destroys data: not the workspace, not an existing file, not on a full disk; strict JSON out."""

from __future__ import annotations

import errno
import json
import os
import sqlite3

import pytest

from core.__main__ import main
from core.data.load import load
from core.store import files
from core.store.workspace import Workspace

ITEMS = ('[{"user_id": "ava", "id": "a1", "text": "Sturdy and cheap", "score": 5, "weight": NaN},'
         ' {"user_id": "ava", "id": "a2", "text": "Broke in a week", "score": 1, "weight": Infinity}]')


@pytest.fixture
def ws_path(tmp_path):
    data = tmp_path / "reviews.json"
    data.write_text(ITEMS)
    path = tmp_path / "ws.sqlite"
    ws = Workspace(path)
    ws.add_dataset(load([data]).dataset, dataset_id="reviews")
    ws.close()
    return path


def _strict(text: str):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def _intact(path) -> None:
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert c.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 2


def test_export_onto_the_workspace_is_refused_even_with_force(ws_path, capsys):
    for extra in ([], ["--force"]):
        assert main(["export", str(ws_path), "--workspace", str(ws_path), *extra]) == 2
        assert "workspace itself" in capsys.readouterr().err
    assert main(["export", str(ws_path) + "-wal", "--workspace", str(ws_path), "--force"]) == 2
    os.link(ws_path, ws_path.with_name("alias.sqlite"))
    assert main(["export", str(ws_path.with_name("alias.sqlite")), "--workspace", str(ws_path), "--force"]) == 2
    _intact(ws_path)


def test_existing_file_needs_force_and_is_replaced_atomically(ws_path, tmp_path, capsys):
    out = tmp_path / "all.json"
    out.write_text("precious")
    assert main(["export", str(out), "--workspace", str(ws_path)]) == 2
    assert "--force" in capsys.readouterr().err and out.read_text() == "precious"
    assert main(["export", str(out), "--workspace", str(ws_path), "--force"]) == 0
    assert _strict(out.read_text())["format"] == "inflow-workspace"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.json", "reviews.json", "ws.sqlite"]


@pytest.mark.parametrize("target, words", [("folder", "is a folder"), ("new/", "is a folder"),
                                           ("missing/out.json", "does not exist")])
def test_bad_targets_are_clear_messages(ws_path, tmp_path, capsys, target, words):
    (tmp_path / "folder").mkdir()
    assert main(["export", f"{tmp_path}/{target}", "--workspace", str(ws_path)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "new").exists()


def test_full_disk_leaves_the_old_file_and_no_temp_file(ws_path, tmp_path, capsys, monkeypatch):
    out = tmp_path / "all.json"
    out.write_text("old export")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", full)
    assert main(["export", str(out), "--workspace", str(ws_path), "--force"]) == 2
    err = capsys.readouterr().err
    assert "disk is full" in err and "nothing was written" in err and "Traceback" not in err
    assert out.read_text() == "old export"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("content", [b"not a database, just text", b"{\"format\": \"inflow-workspace\"}"])
def test_a_non_sqlite_workspace_is_a_clear_message(tmp_path, capsys, content):
    fake = tmp_path / "notes.txt"
    fake.write_bytes(content)
    assert main(["export", str(tmp_path / "o.json"), "--workspace", str(fake)]) == 2
    assert "not an Inflow workspace" in capsys.readouterr().err
    assert main(["import", str(fake), "--workspace", str(fake)]) == 2
    data = tmp_path / "r.csv"
    data.write_text("text,score\ngood,5\n")
    assert main(["build", str(data), "--workspace", str(fake)]) == 2
    assert "not an Inflow workspace" in capsys.readouterr().err
    assert fake.read_bytes() == content  # untouched


def test_missing_workspace_and_fifo_import_are_clear_messages(tmp_path, capsys):
    assert main(["export", str(tmp_path / "o.json"), "--workspace", str(tmp_path / "none.sqlite")]) == 2
    assert "no such workspace" in capsys.readouterr().err
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert main(["import", str(fifo), "--workspace", str(tmp_path / "w.sqlite")]) == 2  # returns, never blocks
    assert "not a regular file" in capsys.readouterr().err


def test_nan_metadata_is_exported_as_null(ws_path, tmp_path):
    user = tmp_path / "ava.json"
    assert main(["export", str(user), "--workspace", str(ws_path), "--user", "ava"]) == 0
    items = _strict(user.read_text())["dataset"]["users"][0]["items"]
    assert [it["meta"]["weight"] for it in items] == [None, None]
    everything = tmp_path / "all.json"
    assert main(["export", str(everything), "--workspace", str(ws_path)]) == 0
    _strict(everything.read_text())
