"""Text answers: the labels a model copies from the prompt's examples are stripped, and counted as rescues."""

import pytest

from core.data.model import Task
from core.evaluate.harness import is_rescue
from core.methods.prompting import format_example, parse_answer

TEXT = Task(kind="text", name="tweet")


@pytest.mark.parametrize("completion, expected", [
    ("The user's response: lovely day at the beach", "lovely day at the beach"),
    ("the users response:  lovely day", "lovely day"),
    ("User’s response: lovely day", "lovely day"),
    ("Answer: The user's response: lovely day", "lovely day"),
    ("**Response:** lovely day", "lovely day"),
    ("Input: going to the beach\nThe user's response: lovely day", "lovely day"),
    ('Response: "lovely day"', "lovely day"),
    ("lovely day", "lovely day"),
    ("The user wrote: lovely day", "lovely day"),  # rpm's label for a history of the user's own texts
    ("Responses vary: some love it", "Responses vary: some love it"),  # not a label: nothing to strip
    ("The user wrote a poem", "The user wrote a poem"),
    ("Input was short", "Input was short"),
])
def test_prefix_labels_are_stripped(completion, expected):
    assert parse_answer(completion, TEXT) == expected


def test_the_example_label_itself_is_what_gets_stripped():
    from core.data.model import Item

    example = format_example(Item(id="1", input="going to the beach", output="lovely day"), 200)
    label = example.split("\n")[1].rsplit("lovely day", 1)[0]  # "The user's response: "
    assert parse_answer(label + "sunny again", TEXT) == "sunny again"


def test_rescue_counts_only_changed_answers():
    assert is_rescue(TEXT, "The user's response: hi", "hi")
    assert not is_rescue(TEXT, " hi ", "hi")
    assert is_rescue(Task(kind="label", labels=("comedy",)), "comedy.", "comedy")
    assert not is_rescue(Task(kind="score"), "4", 4.0)
    assert is_rescue(Task(kind="score"), "I'd say 4 stars", 4.0)
