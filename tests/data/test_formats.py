"""Every supported format loads into the same Dataset shape."""

from __future__ import annotations

import json

import pytest

from core.data.load import load, plan_sources
from core.data.model import Task
from core.data.tasks import LAMP2_TAGS, LAMP_SPECS

CSV = """userId,Review Text,Rating,Date,product
u1,Great kettle,5,2021-01-02,kettle
u1,Lid broke,1,2021-03-01,kettle
u2,Fine lamp,4,2020-05-05,lamp
"""


def test_csv_auto_detects_columns_and_keeps_other_columns_as_meta(write):
    result = load([write("reviews.csv", CSV)])
    ds = result.dataset
    assert [u.id for u in ds.users] == ["u1", "u2"]
    first = ds.user("u1").items[0]
    assert (first.id, first.input, first.output, first.timestamp) == ("u1_0", "Great kettle", "5", "2021-01-02")
    assert first.meta == {"product": "kettle"}
    assert ds.task.kind == "score" and (ds.task.score_min, ds.task.score_max) == (1, 5)
    assert ds.task.instruction == "What is the score of the following review on a scale of 1 to 5?"
    assert ds.name == "reviews" and not ds.queries
    (counts,) = result.files
    assert (counts.format, counts.users, counts.items, counts.queries, counts.skipped) == ("csv", 2, 3, 0, 0)
    assert result.ok and not result.problems


def test_csv_explicit_mapping_wins_over_detection(write):
    path = write("m.csv", "who,body,text,verdict,when\na,hello there,ignored,yes,2020\nb,bye now,ignored,no,2021\n")
    ds = load([path], mapping={"user": "who", "input": "body", "output": "verdict", "timestamp": "when"}).dataset
    item = ds.user("a").items[0]
    assert (item.input, item.output, item.timestamp) == ("hello there", "yes", "2020")
    assert item.meta == {"text": "ignored"}


@pytest.mark.parametrize(("name", "sep"), [("t.tsv", "\t"), ("s.csv", ";"), ("p.csv", "|"), ("t2.csv", "\t")])
def test_csv_delimiters(write, name, sep):
    rows = [["user", "text", "label"], ["a", '"x, y; z"', "pos"], ["a", "w", "neg"], ["b", "v", "pos"]]
    path = write(name, "\n".join(sep.join(r) for r in rows) + "\n")
    ds = load([path]).dataset
    assert ds.n_items == 3
    assert ds.user("a").items[0].input == "x, y; z"


def test_csv_quoted_multiline_field_and_crlf(write):
    path = write("q.csv", 'user,text,score\r\na,"line one\r\nline two, with comma",3\r\nb,"say ""hi""",4\r\n')
    ds = load([path]).dataset
    assert ds.user("a").items[0].input == "line one\r\nline two, with comma"
    assert ds.user("b").items[0].input == 'say "hi"'


def test_csv_without_user_column_is_one_user_named_after_the_file(write):
    ds = load([write("alice.csv", "text,rating\nnice,5\nbad,2\n")]).dataset
    assert [u.id for u in ds.users] == ["alice"]
    assert [i.id for i in ds.users[0].items] == ["alice_0", "alice_1"]


def test_jsonl(write):
    lines = [{"user_id": "a", "review": "good", "score": 4, "id": "r1"}, {"user_id": "a", "review": "meh",
             "score": 3.0, "id": "r2", "extra": {"k": 1}}]
    path = write("x.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    result = load([path])
    items = result.dataset.user("a").items
    assert [(i.id, i.input, i.output) for i in items] == [("r1", "good", "4"), ("r2", "meh", "3")]
    assert items[1].meta == {"extra": {"k": 1}}
    assert result.files[0].format == "jsonl"


def test_json_user_map_like_the_lamp3_user_histories(write_json):
    data = {"u1": [{"id": "u1_0", "text": "Loved it", "score": "5"}, {"id": "u1_1", "text": "Meh", "score": "3"}],
            "u2": [{"id": "u2_0", "text": "Broke fast", "score": "1"}]}
    result = load([write_json("hist.json", data)])
    ds = result.dataset
    assert [(u.id, len(u.items)) for u in ds.users] == [("u1", 2), ("u2", 1)]
    assert ds.user("u2").items[0].output == "1" and ds.task.kind == "score"
    assert result.files[0].format == "json"


def test_json_list_of_records(write_json):
    data = [{"author": "x", "content": "a poem", "title": "Dawn"}, {"author": "y", "content": "an essay",
            "title": "Dusk"}]
    ds = load([write_json("recs.json", data)]).dataset
    assert [(u.id, u.items[0].input, u.items[0].output) for u in ds.users] == [("x", "a poem", "Dawn"),
                                                                                ("y", "an essay", "Dusk")]
    assert ds.task.kind == "text"


def test_json_file_holding_json_lines_is_read_as_jsonl(write):
    path = write("lines.json", '{"user": "a", "text": "t1", "label": "x"}\n{"user": "a", "text": "t2", "label": "y"}\n')
    result = load([path])
    assert result.dataset.n_items == 2 and result.files[0].format == "jsonl"


def test_unknown_extension_is_sniffed(write):
    assert load([write("data.txt", "user,text,score\na,b,5\n")]).dataset.n_items == 1
    assert load([write("data.dat", '[{"text": "b", "score": 5}]')]).dataset.n_items == 1


def test_users_merge_across_files_and_items_sort_by_timestamp(write):
    a = write("a.csv", "user,text,score,date\nu,late,5,2022-06-01\nu,early,4,2021-01-01\n")
    b = write("b.jsonl", '{"user": "u", "text": "middle", "score": 3, "date": "2021-06-01T10:00:00Z"}\n')
    ds = load([a, b]).dataset
    assert [i.input for i in ds.user("u").items] == ["early", "middle", "late"]


def test_items_keep_file_order_when_a_timestamp_is_missing(write):
    ds = load([write("a.csv", "user,text,score,date\nu,first,5,2022\nu,second,4,\n")]).dataset
    assert [i.input for i in ds.user("u").items] == ["first", "second"]


def test_explicit_task_is_used(write):
    task = Task(kind="score", name="ten", score_min=0, score_max=10)
    ds = load([write("a.csv", "text,score\nx,9\ny,0\n")], task=task).dataset
    assert ds.task is task and ds.n_items == 2


def test_folder_is_expanded_to_its_data_files(tmp_path, write):
    write("one.csv", "user,text,score\na,x,1\n")
    write("two.csv", "user,text,score\nb,y,2\n")
    write("notes.md", "not data")
    ds = load([tmp_path]).dataset
    assert [u.id for u in ds.users] == ["a", "b"]


# -- LaMP ------------------------------------------------------------------------------------------
LAMP3_PROMPT = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
                "without further explanation. review: ")


def lamp3_files(write_json, stem="LaMP_3_dev"):
    questions = [
        {"id": "310", "input": LAMP3_PROMPT + "Works great, sturdy.",
         "profile": [{"id": "3100", "text": "Broke in a week", "score": "1"},
                     {"id": "3101", "text": "Solid and cheap", "score": "5"}]},
        {"id": "311", "input": LAMP3_PROMPT + "Too pricey.", "profile": [{"id": "3110", "text": "ok", "score": "3"}]},
    ]
    outputs = {"task": "LaMP_3", "golds": [{"id": "311", "output": "2"}, {"id": "310", "output": "4"}]}
    return write_json(f"{stem}_questions.json", questions), write_json(f"{stem}_outputs.json", outputs)


def test_lamp_pair_questions_become_queries_with_profiles_as_histories(write_json):
    q, o = lamp3_files(write_json)
    result = load([q, o])
    ds = result.dataset
    assert ds.task.name == "LaMP_3" and ds.task.kind == "score"
    assert ds.task.instruction.startswith("What is the score of the following review on a scale of 1 to 5?")
    assert [(u.id, [i.id for i in u.items]) for u in ds.users] == [("310", ["3100", "3101"]), ("311", ["3110"])]
    assert ds.user("310").items[0].input == "Broke in a week" and ds.user("310").items[0].output == "1"
    query = ds.queries[0]
    assert (query.id, query.user_id, query.input, query.gold) == ("310", "310", "Works great, sturdy.", "4")
    assert query.meta["raw_input"].startswith("What is the score")
    (counts,) = result.files
    assert (counts.format, counts.users, counts.items, counts.queries) == ("lamp", 2, 3, 2)
    assert counts.companion and counts.companion.endswith("LaMP_3_dev_outputs.json")


def test_lamp_partner_is_found_next_to_either_file(write_json):
    q, o = lamp3_files(write_json)
    for given in ([q], [o]):
        sources = plan_sources(given)
        assert len(sources) == 1 and sources[0].format == "lamp" and sources[0].outputs == o
        assert [x.gold for x in load(given).dataset.queries] == ["4", "2"]


def test_lamp_questions_alone_give_queries_without_gold(write_json):
    q = write_json("LaMP_3_test_questions.json", [{"id": "1", "input": "review: hi", "profile": [
        {"id": "a", "text": "t", "score": "4"}]}])
    ds = load([q]).dataset
    assert ds.queries[0].gold is None and ds.task.name == "LaMP_3"


def _lamp_profile(number: int) -> dict[str, str]:
    spec = LAMP_SPECS[number]
    output = {"score": "4", "tag": "comedy", "text": f"input of {number}"}.get(spec.output_key, "A Title")
    return {"id": f"p{number}", spec.input_key: f"input of {number}", spec.output_key: output}


@pytest.mark.parametrize("number", range(1, 8))
def test_every_lamp_task_maps_its_profile_fields(write_json, number):
    spec = LAMP_SPECS[number]
    gold = {1: "[2]", 2: "comedy", 3: "5"}.get(number, "some text")
    q = write_json(f"LaMP_{number}_x_questions.json",
                   [{"id": "q1", "input": f"question {number}", "profile": [_lamp_profile(number)]}])
    o = write_json(f"LaMP_{number}_x_outputs.json", {"task": f"LaMP_{number}", "golds": [{"id": "q1",
                                                                                          "output": gold}]})
    ds = load([q, o]).dataset
    assert ds.task.name == f"LaMP_{number}" and ds.task.kind == spec.kind
    item = ds.user("q1").items[0]
    assert item.input == f"input of {number}"
    if spec.input_key != spec.output_key:
        assert item.output == _lamp_profile(number)[spec.output_key]
    else:  # LaMP_7: the tweet is both
        assert item.output == item.input
    assert ds.queries[0].gold == gold


def test_lamp_task_is_told_from_profile_keys_when_unnamed(write_json):
    q = write_json("mystery_questions.json", [{"id": "1", "input": "description: a film", "profile": [
        {"id": "a", "description": "a heist movie", "tag": "Action"}]}])
    ds = load([q]).dataset
    assert ds.task.name == "LaMP_2" and ds.task.labels == LAMP2_TAGS
    assert ds.user("1").items[0].output == "action"  # label spelling normalised to the task's


def test_lamp_user_id_extension_merges_profiles(write_json):
    q = write_json("LaMP_3_u_questions.json", [
        {"id": "q1", "user_id": "ann", "input": "review: a", "profile": [{"id": "1", "text": "x", "score": "5"}]},
        {"id": "q2", "user_id": "ann", "input": "review: b", "profile": [{"id": "1", "text": "x", "score": "5"},
                                                                         {"id": "2", "text": "y", "score": "2"}]},
    ])
    ds = load([q]).dataset
    assert [u.id for u in ds.users] == ["ann"]
    assert [i.id for i in ds.user("ann").items] == ["1", "2"]
    assert [x.user_id for x in ds.queries] == ["ann", "ann"]
