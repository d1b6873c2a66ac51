"""The Upload page's per-session folder: one folder, its files replaced, removed with the session."""

from __future__ import annotations

import gc

from core.views.upload_view import UploadFolder


def test_one_folder_whose_files_are_replaced(tmp_path):
    folder = UploadFolder(root=tmp_path)
    first = folder.replace([("a.csv", b"x"), ("LaMP_3_questions.json", b"[]")])
    assert [p.name for p in first] == ["a.csv", "LaMP_3_questions.json"]
    again = folder.replace([("b.csv", b"y")])
    assert sorted(p.name for p in folder.path.iterdir()) == ["b.csv"] and again[0].read_bytes() == b"y"
    folder.replace([])
    assert list(folder.path.iterdir()) == []
    assert list(tmp_path.iterdir()) == [folder.path]  # never a second folder


def test_removed_explicitly_or_when_the_session_state_is_dropped(tmp_path):
    folder = UploadFolder(root=tmp_path)
    folder.replace([("a.csv", b"x")])
    folder.remove()
    assert not folder.alive and list(tmp_path.iterdir()) == []
    state = {"upload": UploadFolder(root=tmp_path)}
    state["upload"].replace([("a.csv", b"x")])
    assert len(list(tmp_path.iterdir())) == 1
    state.clear()  # what Streamlit does with a session's state when the session ends
    gc.collect()
    assert list(tmp_path.iterdir()) == []
