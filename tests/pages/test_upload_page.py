"""The Upload page: samples, uploads with validation errors listed by file, row and field, keep-valid loading."""

from __future__ import annotations

import gc

from core.ui_state import Keys
from tests.pages.conftest import shown, texts

BAD_CSV = b"user_id,review_text,rating\nu1,Great thing,5\nu1,Broke fast,seven\nu1,,3\nu1,Fine,4\nu2,Lovely,4\n"


def test_upload_lists_problems_then_keeps_valid_rows(make_app):
    at = make_app()
    at.run()
    at.file_uploader(key="up_files").upload("my_reviews.csv", BAD_CSV, "text/csv")
    at.run()
    assert not at.exception
    preview = at.dataframe[1].value  # [0] is the workspace table
    assert list(preview.columns) == ["user_id", "review_text", "rating"] and len(preview) == 5
    assert at.selectbox(key="up_map_input").value == "review_text"
    assert at.selectbox(key="up_map_output").value == "rating"
    assert at.text_input(key="up_name").value == "my_reviews"
    at.button(key="up_load").click().run()
    assert not at.exception
    err = " ".join(shown(str(e.value)) for e in at.error)
    assert "my_reviews.csv:2:rating: score 'seven' is not a number" in err
    assert "my_reviews.csv:3:review_text: empty text" in err
    assert "/tmp" not in err  # the upload folder is not shown
    assert "my_reviews" not in set(at.dataframe[0].value["dataset"])  # nothing was loaded
    at.checkbox(key="up_keep_valid").check()
    at.button(key="up_load").click().run()
    assert not at.exception
    assert at.session_state[Keys.DATASET] == "my_reviews"
    assert at.sidebar.selectbox(key="sb_dataset").value == "my_reviews"
    assert set(at.sidebar.selectbox(key="sb_user").options) == {"u1", "u2"}
    page = texts(at)
    assert "Last load: my_reviews" in page and "my_reviews.csv:2:rating" in page


def test_column_mapping_is_applied(make_app):
    at = make_app()
    at.run()
    data = b"who,said,stars,when\na,Nice one,4,2020-01-01\na,Awful,1,2020-01-02\n"
    at.file_uploader(key="up_files").upload("odd.csv", data, "text/csv").run()
    assert at.selectbox(key="up_map_user").value is None or at.selectbox(key="up_map_user").value == "(none)"
    at.selectbox(key="up_map_user").select("who")
    at.selectbox(key="up_map_input").select("said")
    at.button(key="up_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[Keys.DATASET] == "odd"
    assert at.sidebar.selectbox(key="sb_user").options == ["a"]


def test_load_lamp_sample(make_app):
    at = make_app()
    at.run()
    at.selectbox(key="up_sample").select("lamp3_reviews")
    at.button(key="up_load_sample").click().run()
    assert not at.exception
    assert at.session_state[Keys.DATASET] == "lamp3_reviews"
    table = at.dataframe[0].value.set_index("dataset")
    assert table.loc["lamp3_reviews", "queries"] > 0


def test_upload_lamp_pair(make_app):
    from core.ui_state import SAMPLE_DIR

    at = make_app()
    at.run()
    uploader = at.file_uploader(key="up_files")
    for name in ("lamp2_tags_questions.json", "lamp2_tags_outputs.json"):
        uploader.upload(name, (SAMPLE_DIR / name).read_bytes(), "application/json")
    at.run()
    assert not at.exception
    labels = [e.label for e in at.expander]
    assert any("LaMP file" in x for x in labels) and any("LaMP outputs" in x for x in labels)
    assert not [s for s in at.selectbox if s.key and s.key.startswith("up_map_")]  # no mapping for LaMP
    assert at.text_input(key="up_name").value == "lamp2_tags"
    at.button(key="up_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value.set_index("dataset")
    assert table.loc["lamp2_tags", "task"] == "label" and table.loc["lamp2_tags", "queries"] > 0


def test_reruns_reuse_one_upload_folder_and_hostile_json_previews(make_app):
    at = make_app()
    at.run()
    hostile = ('[{"user_id": "u\\ud800", "text": "half \\udfff", "score": 4, "note": ' + "9" * 5000 + "},"
               ' {"user_id": "v", "text": "fine", "score": 3, "score": 5}]').encode()
    at.file_uploader(key="up_files").upload("hostile.json", hostile, "application/json").run()
    assert not at.exception, [e.value for e in at.exception]
    folder = at.session_state[Keys.UPLOAD_FOLDER]
    for _ in range(3):
        at.run()
    assert at.session_state[Keys.UPLOAD_FOLDER] is folder and folder.alive
    assert sorted(p.name for p in folder.path.iterdir()) == ["hostile.json"]
    assert at.dataframe[1].value["text"][0] == "half \ufffd"
    at.button(key="up_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    err = " ".join(shown(str(e.value)) for e in at.error)
    assert "hostile.json:$[0]:note: integer with 5000 digits" in err
    assert "hostile.json:$[1]:score: key 'score' appears more than once" in err
    path = folder.path
    del folder, at  # the session ends: its state, and with it the folder, goes
    gc.collect()
    assert not path.exists()
