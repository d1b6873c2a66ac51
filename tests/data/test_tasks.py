"""Task inference and the LaMP task table."""

from __future__ import annotations

import pytest

from core.data.tasks import LAMP2_TAGS, LAMP_SPECS, infer_task, lamp_number


def test_scores_in_1_to_5_are_a_score_task():
    task = infer_task(["5", "4", "4.5", "1"], name="r")
    assert (task.kind, task.score_min, task.score_max, task.name) == ("score", 1, 5, "r")


def test_score_range_widens_to_the_first_standard_range_that_fits():
    assert (infer_task(["0", "7", "10", "3"]).score_min, infer_task(["0", "7", "10", "3"]).score_max) == (0, 10)
    assert infer_task(["55", "90", "12"]).score_max == 100


def test_a_few_non_numbers_in_a_score_column_stay_a_score_task():
    task = infer_task(["5", "4", "five", "3"], output_column="Rating")
    assert task.kind == "score"


def test_few_distinct_short_outputs_are_labels():
    task = infer_task(["pos", "neg", "pos", "neg", "pos", "neg"])
    assert task.kind == "label" and task.labels == ("neg", "pos")


def test_label_column_hint_and_lamp2_tag_set():
    task = infer_task(["comedy", "classic"], output_column="tag")
    assert task.kind == "label" and task.labels == LAMP2_TAGS
    assert task.instruction.startswith("Which tag does this movie relate to")


def test_free_text_outputs_are_text():
    task = infer_task(["A long headline here", "Another different headline", "Third one"], output_column="title",
                      input_column="article")
    assert task.kind == "text" and task.instruction == "Generate a title for the following article:"


def test_no_outputs_is_text():
    assert infer_task([]).kind == "text"


@pytest.mark.parametrize(("text", "number"), [("LaMP_3", 3), ("lamp2_tags_questions.json", 2),
                                              ("LaMP-7 tweets", 7), ("LaMP_12", None), ("reviews", None)])
def test_lamp_number(text, number):
    assert lamp_number(text) == number


def test_lamp_specs_phrase_instructions_like_lamp():
    assert LAMP_SPECS[3].task().instruction.startswith(
        "What is the score of the following review on a scale of 1 to 5?")
    assert (LAMP_SPECS[2].input_key, LAMP_SPECS[2].output_key) == ("description", "tag")
    assert (LAMP_SPECS[4].input_key, LAMP_SPECS[4].output_key) == ("text", "title")
    assert (LAMP_SPECS[5].input_key, LAMP_SPECS[5].output_key) == ("abstract", "title")
    assert LAMP_SPECS[1].task().labels == ("[1]", "[2]") and LAMP_SPECS[1].history_task().kind == "text"
    assert LAMP_SPECS[3].strip_prompt(LAMP_SPECS[3].instruction + " review: Nice one.") == "Nice one."
    assert LAMP_SPECS[3].strip_prompt("My review: keeps the colon") == "My review: keeps the colon"
    assert LAMP_SPECS[7].strip_prompt(LAMP_SPECS[7].instruction + " hello") == "hello"
