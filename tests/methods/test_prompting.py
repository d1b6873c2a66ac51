from __future__ import annotations

import json

import pytest

from core.data.model import Task
from core.methods.choices import answer_choices
from core.methods.prompting import (
    answer_format,
    answer_schema,
    build_messages,
    parse_answer,
)

SCORE = Task(kind="score", name="rating", instruction="Rate it.", score_min=1, score_max=5)
LABEL = Task(kind="label", name="genre", labels=("drama", "comedy", "sci-fi"))
TEXT = Task(kind="text", name="headline")


@pytest.mark.parametrize("text, expected", [
    ('{"answer": "4"}', 4.0),
    ("4", 4.0),
    ("I would say 2 stars.", 2.0),
    ("Rating: 9 out of 10, so 5", 5.0),
    ("3.5", 3.5),
    ("no idea", None),
    ("", None),
])
def test_parse_score(text, expected):
    assert parse_answer(text, SCORE) == expected


@pytest.mark.parametrize("text, expected", [
    ('{"answer": "comedy"}', "comedy"),
    ("Comedy", "comedy"),
    ("I think it is sci-fi, not drama", "sci-fi"),
    ("western", None),
])
def test_parse_label(text, expected):
    assert parse_answer(text, LABEL) == expected


def test_parse_label_uses_given_choices_when_task_has_none():
    task = Task(kind="label")
    assert parse_answer("probably POSITIVE.", task, ["negative", "positive"]) == "positive"


def test_parse_text_strips_prefix_and_quotes():
    assert parse_answer('Answer: "A quiet win for the home team"', TEXT) == "A quiet win for the home team"


def test_choices_and_schema_are_closed_sets():
    assert answer_choices(SCORE) == ["1", "2", "3", "4", "5"]
    assert answer_choices(Task(kind="score", score_min=0, score_max=1000)) is None
    assert answer_choices(LABEL) == ["drama", "comedy", "sci-fi"]
    assert answer_choices(Task(kind="label"), ["b", "a", "b", " "]) == ["b", "a"]
    assert answer_choices(TEXT) is None
    schema = answer_schema(SCORE, answer_choices(SCORE)).model_json_schema()
    assert schema["properties"]["answer"]["enum"] == ["1", "2", "3", "4", "5"]
    assert answer_schema(Task(kind="score", score_max=1000), None).model_json_schema()["properties"]["answer"][
        "type"] == "number"
    assert answer_schema(TEXT, None) is None


def test_messages_hold_sections_in_order_and_skip_empty_ones():
    msgs = build_messages(SCORE, "new phone", [("A", "alpha"), ("Empty", "  "), ("B", "beta")], ["1", "2"])
    user = msgs[-1]["content"]
    assert msgs[0]["role"] == "system" and msgs[-1]["role"] == "user"
    assert user.index("## A\n\"alpha\"") < user.index("## B\n\"beta\"") < user.index('Input: "new phone"')
    assert "Empty" not in user
    assert user.endswith(answer_format(SCORE, ["1", "2"]))


def test_prompts_are_fitted_to_the_budget():
    from core.llm.tokens import count_message_tokens
    from core.methods.prompting import fit_messages

    examples = "\n\n".join(f"Example {i}\nInput: " + "great phone " * 40 + f"\nThe user's response: {i % 5 + 1}"
                           for i in range(8))
    sections = [("Summary", "Likes phones. " * 5), ("Examples", examples)]
    full, trimmed = fit_messages(SCORE, "a new phone " * 50, sections, ["1", "2"], budget=100_000)
    assert not trimmed and json.dumps(examples) in full[-1]["content"]  # fenced as one JSON string
    msgs, trimmed = fit_messages(SCORE, "a new phone " * 50, sections, ["1", "2"], budget=400)
    assert trimmed and count_message_tokens(msgs) <= 400
    user = msgs[-1]["content"]
    assert "Likes phones." in user and "Example 0" in user and "Example 7" not in user  # the longest section shrank
    assert user.endswith(answer_format(SCORE, ["1", "2"]))


def test_shared_sections_are_cut_last_so_the_cached_prefix_stays_the_same():
    from core.llm.tokens import count_message_tokens
    from core.methods.prompting import fit_messages

    factors = "\n".join(f"- factor {i}: " + "a long description " * 8 for i in range(10)).strip()  # the longest
    demos = "\n\n".join(f"Example {i}\nInput: " + "fine phone " * 30 for i in range(4))
    sections = [("Factors", factors), ("Examples", demos)]
    prefixes = set()
    for query in ("short query", "a much longer query " * 30):
        msgs, trimmed = fit_messages(SCORE, query, sections, ["1", "2"], budget=700, shared=1)
        assert trimmed and count_message_tokens(msgs) <= 700
        user = msgs[-1]["content"]
        assert json.dumps(factors) in user  # the shared section is whole; the demonstrations were cut
        prefixes.add(user.split("## Examples")[0])
    assert len(prefixes) == 1
    plain, _ = fit_messages(SCORE, "short query", sections, ["1", "2"], budget=700)
    assert json.dumps(factors) not in plain[-1]["content"]  # without shared=1 the longest section goes first


def test_late_budget_caps_what_follows_the_shared_prefix_whatever_the_room_left():
    from core.llm.tokens import count_message_tokens
    from core.methods.prompting import fit_messages, shared_tokens

    factors = "\n".join(f"- factor {i}: likes sturdy cases" for i in range(6))
    demos = "\n\n".join(f"Example {i}\nInput: " + "fine phone " * 30 for i in range(6))
    sections = [("Factors", factors), ("Examples", demos)]
    query = "a new phone with a bright screen " * 8
    whole, trimmed = fit_messages(SCORE, query, sections, ["1", "2"], budget=100_000, shared=1)
    assert not trimmed
    head = shared_tokens(sections[:1])
    capped, trimmed = fit_messages(SCORE, query, sections, ["1", "2"], budget=100_000, shared=1, late_budget=300)
    assert trimmed and count_message_tokens(capped) <= head + 300 < count_message_tokens(whole)
    user = capped[-1]["content"]
    assert json.dumps(factors) in user and "Example 0" in user and "Example 5" not in user  # demonstrations cut first
    assert query.strip() in user  # the input is whole: the demonstrations were long enough to give way
    tight, _ = fit_messages(SCORE, query, sections, ["1", "2"], budget=head + 200, shared=1, late_budget=300)
    assert count_message_tokens(tight) <= head + 200  # the whole budget still binds


def test_content_free_messages_replaces_only_the_input():
    from core.data.model import Task
    from core.methods.prompting import build_messages, content_free_messages

    task = Task(kind="score", name="r", instruction="Rate it.")
    choices = ["1", "2", "3", "4", "5"]
    msgs = build_messages(task, "The kettle broke.\n\nAwful.", [("Summary", "Hates breakage.")], choices)
    cf = content_free_messages(msgs)
    assert cf is not None and cf[0] == msgs[0]
    body, cf_body = msgs[-1]["content"], cf[-1]["content"]
    assert "kettle" in body and "kettle" not in cf_body
    assert 'Input: "N/A"' in cf_body and "Hates breakage." in cf_body
    assert body.rsplit("\n\n", 1)[1] == cf_body.rsplit("\n\n", 1)[1]  # the answer-format line is kept
    assert content_free_messages([{"role": "user", "content": "no input line"}]) is None
