"""The pool's one pydantic model: what it accepts, and problems naming the entry and the field."""

import pytest

from core.data.pool_schema import MAX_TEXT_CHARS, PoolEntryModel, parse_pool_entries, parse_pool_json
from core.errors import InputError


def _where(exc: InputError) -> list[tuple[object, object, str]]:
    return [(p.row, p.field, p.message) for p in exc.problems]


def test_the_model_normalises_blank_and_odd_values():
    e = PoolEntryModel.model_validate({"text": " Likes it. ", "kind": " Demo ", "factor_id": 3, "item_id": "",
                                       "source": float("nan")})
    assert (e.id, e.text, e.kind, e.factor_id, e.item_id, e.source) == (None, "Likes it.", "demo", "3", None, "user")


def test_problems_name_entry_field_and_what_to_do():
    with pytest.raises(InputError) as err:
        parse_pool_entries([{"text": ["a"]}, {"text": "x" * (MAX_TEXT_CHARS + 1)}, {"kind": "demo"}, 7,
                            {"text": "ok", "weight": 2}], source="p.json")
    assert _where(err.value) == [
        (1, "text", "the text must be a string, not list"),
        (2, "text", f"{MAX_TEXT_CHARS + 1} characters; at most {MAX_TEXT_CHARS}"),
        (3, "text", "the text is empty"),
        (4, None, "an entry must be an object with text and kind, not int"),
        (5, "weight", "unknown field; use id, text, kind, factor_id, item_id, source"),
    ]
    with pytest.raises(InputError) as err:
        parse_pool_entries([{"text": "x"}] * 501)
    assert _where(err.value) == [(None, "pool", "501 entries; at most 500 are allowed")]


def test_parse_pool_json_is_what_the_file_and_the_pasted_text_both_get():
    assert parse_pool_json('{"entries": [{"text": "x"}]}', source="s") == [{"text": "x"}]
    for text, row, message in (("[{\"text\": }]", 1, "invalid JSON"), ('{"text": "x"}', None, "expected a JSON list"),
                               ("", 1, "invalid JSON"), ("[" * 100_000, None, "nested too deeply")):
        with pytest.raises(InputError) as err:
            parse_pool_json(text, source="pasted JSON")
        p = err.value.problems[0]
        assert (p.file, p.row, p.field) == ("pasted JSON", row, "pool") and message in p.message
