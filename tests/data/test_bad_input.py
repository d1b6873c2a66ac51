"""Bad input raises InputError whose problems name the file, row (or JSON path) and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.data.load import load
from core.data.model import Task
from core.errors import InputError

from .helpers import located, only


def fails(paths, **kwargs):
    with pytest.raises(InputError) as exc:
        load(paths, **kwargs)
    return exc.value


# -- whole-file problems ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "content"), [("e.csv", ""), ("e.json", "  \n\n"), ("e.jsonl", b"\xef\xbb\xbf\n")])
def test_empty_file(write, name, content):
    p = only(fails([write(name, content)]).problems)
    located(p, name, None, None)
    assert p.message == "file is empty"


def test_wrong_encoding_reports_line_and_column(write):
    path = write("latin.csv", "user,text,score\na,fine,5\nb,caf\xe9 ok,4\n".encode("latin-1"))
    p = only(fails([path]).problems)
    located(p, "latin.csv", "line 3", None)
    assert "not UTF-8" in p.message and "line 3, column 6" in p.message


def test_utf8_with_bom_loads(write):
    path = write("bom.csv", "\ufeffuser,text,score\na,caf\u00e9,5\n".encode())
    ds = load([path]).dataset
    assert ds.user("a").items[0].input == "caf\u00e9"


def test_utf16_is_reported(write):
    p = only(fails([write("u16.csv", "user,text,score\na,b,5\n".encode("utf-16"))]).problems)
    located(p, "u16.csv", None, None)
    assert "UTF-16" in p.message


def test_invalid_json_reports_line_and_column(write):
    p = only(fails([write("bad.json", '{"u1": [\n  {"text": "a", "score": 5,}\n]}')]).problems)
    located(p, "bad.json", "line 2", None)
    assert "invalid JSON at line 2, column" in p.message


def test_invalid_csv_unclosed_quote(write):
    p = only(fails([write("q.csv", 'user,text,score\na,"never closed,5\nb,x,4\n')]).problems)
    located(p, "q.csv", "line 3", None)
    assert p.message.startswith("invalid CSV at line 3")


def test_invalid_csv_text_after_closing_quote(write):
    p = only(fails([write("q2.csv", 'user,text,score\na,"abc"def,5\n')]).problems)
    located(p, "q2.csv", "line 2", None)
    assert 'write quotes inside a quoted field as ""' in p.message


def test_csv_row_with_wrong_field_count(write):
    p = only(fails([write("w.csv", "user,text,score\na,x,5\nb,y,4,extra\n")]).problems)
    located(p, "w.csv", 2, None)
    assert "4 fields but the header has 3" in p.message


def test_csv_duplicate_header(write):
    p = only(fails([write("d.csv", "user,text,text,score\na,x,y,5\n")]).problems)
    located(p, "d.csv", None, "text")


def test_csv_header_only(write):
    p = only(fails([write("h.csv", "user,text,score\n")]).problems)
    assert "no data rows" in p.message


def test_invalid_jsonl_line(write):
    path = write("x.jsonl", '{"text": "a", "score": 5}\n{"text": "b", score: 4}\n[1, 2]\n')
    problems = fails([path]).problems
    assert len(problems) == 2
    located(problems[0], "x.jsonl", 2, None)
    assert "invalid JSON at line 2, column" in problems[0].message
    located(problems[1], "x.jsonl", 3, None)
    assert "expected a JSON object" in problems[1].message


def test_file_over_size_limit(write):
    p = only(fails([write("big.csv", "user,text,score\n" + "a,xxxxxxxxxx,5\n" * 100)], max_bytes=1000).problems)
    located(p, "big.csv", None, None)
    assert "size limit" in p.message


def test_missing_file_and_unsupported_type(tmp_path, write):
    problems = fails([tmp_path / "nope.csv", write("sheet.xlsx", b"PK\x03\x04")]).problems
    assert [p.message for p in problems] == ["no such file",
                                             "unsupported file type .xlsx; export it as CSV or JSON"]


def test_json_wrong_shapes(write_json):
    p = only(fails([write_json("n.json", 42)]).problems)
    located(p, "n.json", "$", None)
    problems = fails([write_json("s.json", {"u1": "not a list", "u 2": [1]})]).problems
    located(problems[0], "s.json", "$.u1", None)
    located(problems[1], "s.json", '$["u 2"][0]', None)


# -- columns and mapping ------------------------------------------------------------------------------
def test_missing_required_column(write):
    p = only(fails([write("nc.csv", "user,text,comment\na,x,y\n")]).problems)
    located(p, "nc.csv", None, "output")
    assert "missing required column for output" in p.message and "user, text, comment" in p.message


def test_mapping_to_unknown_column(write):
    p = only(fails([write("m.csv", "user,text,score\na,x,5\n")], mapping={"input": "body"}).problems)
    located(p, "m.csv", None, "input")
    assert "input=body" in p.message and "columns: user, text, score" in p.message


def test_mapping_of_unknown_field(write):
    p = only(fails([write("m.csv", "user,text,score\na,x,5\n")], mapping={"rating": "score"}).problems)
    located(p, "m.csv", None, "rating")
    assert "unknown field" in p.message


def test_json_record_missing_key_and_object_value(write_json):
    data = {"u1": [{"id": "1", "text": "ok", "score": "5"}, {"id": "2", "score": "4"},
                   {"id": "3", "text": {"nested": True}, "score": "3"}]}
    problems = fails([write_json("k.json", data)]).problems
    located(problems[0], "k.json", "$.u1[1]", "text")
    assert problems[0].message == "missing field 'text'"
    located(problems[1], "k.json", "$.u1[2]", "text")
    assert "got an object" in problems[1].message


# -- row checks ---------------------------------------------------------------------------------------
def test_duplicate_item_ids_within_a_user(write):
    path = write("dup.csv", "user,id,text,score\na,r1,x,5\nb,r1,y,4\na,r1,z,3\n")
    p = only(fails([path]).problems)
    located(p, "dup.csv", 3, "id")
    assert "duplicate item id 'r1' for user 'a' (first at row 1)" in p.message


def test_empty_text(write):
    p = only(fails([write("t.csv", "user,review,score\na,fine,5\na,  ,4\n")]).problems)
    located(p, "t.csv", 2, "review")
    assert p.message == "empty text"


def test_empty_output(write_json):
    p = only(fails([write_json("o.json", [{"text": "a", "label": "x"}, {"text": "b", "label": ""}])]).problems)
    located(p, "o.json", "$[1]", "label")
    assert p.message == "empty output"


def test_score_outside_range_with_explicit_task(write):
    task = Task(kind="score", score_min=1, score_max=5)
    p = only(fails([write("r.csv", "user,text,rating\na,x,5\na,y,7\n")], task=task).problems)
    located(p, "r.csv", 2, "rating")
    assert p.message == "score 7 is outside the task's range 1-5"


def test_score_outside_inferred_range(write):
    rows = "".join(f"a,t{i},{1 + i % 5}\n" for i in range(12)) + "a,odd,9\n"
    p = only(fails([write("r.csv", "user,text,rating\n" + rows)]).problems)
    located(p, "r.csv", 13, "rating")
    assert "outside the task's range 1-5" in p.message


def test_non_numeric_score(write_json):
    data = {"u1": [{"id": "1", "text": "a", "score": "5"}, {"id": "2", "text": "b", "score": "five"},
                   {"id": "3", "text": "c", "score": "4"}]}
    p = only(fails([write_json("s.json", data)]).problems)
    located(p, "s.json", "$.u1[1]", "score")
    assert p.message == "score 'five' is not a number (expected 1-5)"


def test_label_outside_the_task_labels(write_json):
    q = write_json("LaMP_2_x_questions.json", [{"id": "1", "input": "description: x", "profile": [
        {"id": "a", "description": "space opera", "tag": "space"}]}])
    p = only(fails([q]).problems)
    located(p, "LaMP_2_x_questions.json", "$[0].profile[0]", "tag")
    assert "label 'space' is not one of the task's labels" in p.message


def test_empty_user_id(write):
    p = only(fails([write("u.csv", "user,text,score\n,x,5\n")]).problems)
    located(p, "u.csv", 1, "user")


# -- LaMP -----------------------------------------------------------------------------------------------
def test_mismatched_lamp_ids_name_both_files(write_json):
    q = write_json("LaMP_3_d_questions.json", [
        {"id": "1", "input": "review: a", "profile": [{"id": "p", "text": "t", "score": "5"}]},
        {"id": "2", "input": "review: b", "profile": [{"id": "p", "text": "t", "score": "5"}]}])
    o = write_json("LaMP_3_d_outputs.json", {"task": "LaMP_3", "golds": [{"id": "1", "output": "4"},
                                                                         {"id": "9", "output": "3"}]})
    problems = fails([q, o]).problems
    assert len(problems) == 2
    located(problems[0], "LaMP_3_d_questions.json", "$[1]", "id")
    assert "question id '2' has no gold output in" in problems[0].message
    assert "LaMP_3_d_outputs.json" in problems[0].message
    located(problems[1], "LaMP_3_d_outputs.json", "$.golds[1]", "id")
    assert "gold id '9' has no question in" in problems[1].message
    assert "LaMP_3_d_questions.json" in problems[1].message


def test_lamp_gold_checked_against_task(write_json):
    q = write_json("LaMP_3_g_questions.json", [{"id": "1", "input": "review: a", "profile": []}])
    o = write_json("LaMP_3_g_outputs.json", {"task": "LaMP_3", "golds": [{"id": "1", "output": "6"}]})
    p = only(fails([q, o]).problems)
    located(p, "LaMP_3_g_outputs.json", "$.golds[0]", "output")


def test_lamp_question_without_profile(write_json):
    q = write_json("LaMP_3_p_questions.json", [{"id": "1", "input": "review: a", "profile": "none"}])
    p = only(fails([q]).problems)
    located(p, "LaMP_3_p_questions.json", "$[0]", "profile")


def test_lamp_outputs_without_questions(write_json):
    p = only(fails([write_json("LaMP_3_z_outputs.json", {"task": "LaMP_3", "golds": []})]).problems)
    located(p, "LaMP_3_z_outputs.json", None, None)
    assert "LaMP_3_z_questions.json" in p.message


# -- collecting, cap, keep_valid --------------------------------------------------------------------------
BAD_ROWS = "user,id,text,score\na,1,ok,5\na,2,,4\na,3,fine,x\na,1,dup,3\nb,1,good,2\n"


def test_all_row_errors_are_reported_together(write):
    problems = fails([write("many.csv", BAD_ROWS)], task=Task(kind="score")).problems
    assert [(p.row, p.field) for p in problems] == [(2, "text"), (3, "score"), (4, "id")]
    assert all(str(p).startswith(str(p.file) + f":{p.row}:{p.field}: ") for p in problems)


def test_problem_cap_sets_truncated(write):
    rows = "".join(f"a,{i},,5\n" for i in range(10))
    err = fails([write("cap.csv", "user,id,text,score\n" + rows)], max_errors=3)
    assert len(err.problems) == 3 and err.truncated
    assert str(err).endswith("... more problems not shown")


def test_keep_valid_loads_the_valid_rows(write):
    result = load([write("many.csv", BAD_ROWS)], task=Task(kind="score"), keep_valid=True)
    assert [(u.id, [i.id for i in u.items]) for u in result.dataset.users] == [("a", ["1"]), ("b", ["1"])]
    assert len(result.problems) == 3 and not result.ok
    (counts,) = result.files
    assert (counts.rows, counts.items, counts.skipped) == (5, 2, 3)


def test_keep_valid_skips_a_broken_file_but_loads_the_others(write):
    good = write("good.csv", "user,text,score\na,x,5\n")
    bad = write("bad.json", "{oops")
    result = load([good, bad], keep_valid=True)
    assert result.dataset.n_items == 1
    located(only(result.problems), "bad.json", "line 1", None)


def test_keep_valid_still_raises_when_nothing_is_valid(write):
    with pytest.raises(InputError):
        load([write("none.csv", "user,text,score\na,,5\n")], keep_valid=True)


def test_problems_render_one_line_each(write):
    err = fails([write("many.csv", BAD_ROWS)], task=Task(kind="score"))
    assert len(str(err).splitlines()) == 3
    assert json.dumps([str(p) for p in err.problems])  # plain strings


def test_different_lamp_tasks_in_one_load():
    sample = Path(__file__).resolve().parents[2] / "sample_data"
    err = fails([sample / "lamp2_tags_questions.json", sample / "lamp3_reviews_questions.json"], keep_valid=True)
    p = only(err.problems)
    located(p, "lamp3_reviews_questions.json", None, None)
    assert "is LaMP_3 but" in p.message and "lamp2_tags_questions.json is LaMP_2" in p.message


@pytest.mark.parametrize("name", ["deep.json", "deep.jsonl"])
def test_json_nested_too_deeply_is_an_error_not_a_crash(write, name):
    problems = fails([write(name, "[" * 100_000 + "\n")]).problems
    assert problems and all(p.file.endswith(name) for p in problems)
    assert any("nested too deeply" in p.message for p in problems), [str(p) for p in problems]


def test_csv_cell_longer_than_csv_default_limit_loads(write):
    long_review = "great value " * 20_000  # 240 000 characters, over csv's default 131 072
    ds = load([write("long.csv", f"user,text,score\na,{long_review.strip()},5\na,short one,3\n")])
    assert len(ds.dataset.users[0].items[0].input) > 200_000


def test_size_limit_from_the_environment(write, monkeypatch):
    from core.data.loaders.source import DEFAULT_MAX_BYTES, default_max_bytes

    path = write("big2.csv", "user,text,score\n" + "a,xxxxxxxxxx,5\n" * 200)  # about 3 KB
    assert default_max_bytes({}) == DEFAULT_MAX_BYTES == 200 * 1024 * 1024
    monkeypatch.setenv("INFLOW_MAX_MB", "0.001")  # about 1 KB
    p = only(fails([path]).problems)
    assert "size limit" in p.message and "big2.csv" in str(p)
    monkeypatch.setenv("INFLOW_MAX_MB", "lots")
    bad = only(fails([path]).problems)
    assert bad.field == "INFLOW_MAX_MB" and "positive number" in bad.message
    monkeypatch.setenv("INFLOW_MAX_MB", "5")
    assert load([path]).dataset.n_items == 200
