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
    options = at.sidebar.selectbox(key="sb_user").options  # "user (n items)": the history sizes show
    assert {o.split(" (")[0] for o in options} == {"u1", "u2"} and all(o.endswith(" items)") or o.endswith(" item)")
                                                                       for o in options)
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
    assert at.sidebar.selectbox(key="sb_user").options == ["a (2 items)"]


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


GOOD_CSV = b"user_id,review_text,rating\nu1,Great thing,5\nu1,Fine,4\nu2,Lovely,4\n"
LABEL_CSV = b"user_id,text,label\nz1,Space opera,scifi\nz1,Murder at noon,crime\n"


def _table_ids(at) -> set[str]:
    return set(at.dataframe[0].value["dataset"])


def test_a_clashing_id_asks_and_replaces_nothing_until_answered(make_app):
    at = make_app()
    at.run()
    ws = at.session_state["_inflow_ctx"].ws
    n_items = next(d for d in ws.list_datasets() if d["id"] == "reviews")["n_items"]
    at.file_uploader(key="up_files").upload("labels.csv", LABEL_CSV, "text/csv").run()
    assert at.text_input(key="up_name").value == "labels"
    at.text_input(key="up_name").input("reviews")
    at.button(key="up_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    warning = " ".join(shown(str(w.value)) for w in at.warning)
    assert "A dataset **reviews** is already in this workspace (score task" in warning
    assert "Nothing has been loaded yet." in warning
    info = next(d for d in ws.list_datasets() if d["id"] == "reviews")
    assert info["n_items"] == n_items and info["task"].kind == "score"  # nothing replaced while asking
    assert shown(at.button(key="up_clash_new").label) == "Load as reviews_2"
    at.button(key="up_clash_cancel").click().run()
    assert "up_clash_new" not in [b.key for b in at.button]
    assert "reviews_2" not in {d["id"] for d in ws.list_datasets()}
    # ask again, load under the new id: the old dataset is untouched
    at.button(key="up_load").click().run()
    at.button(key="up_clash_new").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[Keys.DATASET] == "reviews_2"
    assert next(d for d in ws.list_datasets() if d["id"] == "reviews")["n_items"] == n_items
    # ask again, replace: now it is the label dataset
    at.button(key="up_load").click().run()
    at.button(key="up_clash_replace").click().run()
    assert next(d for d in ws.list_datasets() if d["id"] == "reviews")["task"].kind == "label"
    # a new file resets the suggested id (a typed id does not survive a file swap)
    at.file_uploader(key="up_files").clear()
    at.file_uploader(key="up_files").upload("other_reviews.csv", GOOD_CSV, "text/csv").run()
    assert at.text_input(key="up_name").value == "other_reviews"


def test_delete_asks_then_removes_the_dataset_and_its_builds(make_app):
    at = make_app()
    at.run()
    ws = at.session_state["_inflow_ctx"].ws
    ws.add_edit("movie_tags", "u1", "rename", {"factor": "F1", "name": "x"})
    ws.add_summary_version("movie_tags", "u1", "text", source="edited")
    ws.start_run("features", {}, dataset_id="movie_tags", user_id="u1")
    at.run()
    at.selectbox(key="up_del_pick").select("movie_tags")
    at.button(key="up_del").click().run()
    assert "Delete **movie_tags**" in " ".join(shown(str(w.value)) for w in at.warning)
    assert ws.has_dataset("movie_tags")  # only asked so far
    at.button(key="up_del_yes").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not ws.has_dataset("movie_tags") and "movie_tags" not in _table_ids(at)
    assert ws.list_edits("movie_tags", "u1") == [] and ws.list_summary_versions("movie_tags", "u1") == []
    assert ws.list_runs("features", dataset_id="movie_tags") == []
    assert ws.has_dataset("reviews")


def test_evaluation_datasets_stay_out_of_the_lists(make_app):
    from core.store.workspace import EVALUATION_SOURCE

    at = make_app()
    at.run()
    ws = at.session_state["_inflow_ctx"].ws
    ws.add_dataset(ws.get_dataset("reviews"), dataset_id="eval-internal", source=EVALUATION_SOURCE)
    at.run()
    assert "eval-internal" not in _table_ids(at)
    assert "eval-internal" not in at.sidebar.selectbox(key="sb_dataset").options
