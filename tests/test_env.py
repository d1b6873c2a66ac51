"""core.env.env_int: one reader for whole numbers in environment variables."""

import pytest

from core.env import env_int
from core.errors import InputError


def test_unset_or_empty_is_none_and_a_number_is_read():
    assert env_int({}, "X", "x") is None
    assert env_int({"X": "  "}, "X", "x") is None
    assert env_int({"X": " 12 "}, "X", "x") == 12
    assert env_int({"X": "0"}, "X", "x") == 0  # the default minimum allows zero


@pytest.mark.parametrize("value, minimum", [("abc", 0), ("-3", 0), ("1.5", 0), ("0", 1)])
def test_a_bad_value_names_the_variable_and_the_field(value, minimum):
    with pytest.raises(InputError) as err:
        env_int({"INFLOW_X": value}, "INFLOW_X", "x_field", minimum=minimum)
    problem = err.value.problems[0]
    assert problem.field == "x_field" and "INFLOW_X" in problem.message and repr(value) in problem.message
