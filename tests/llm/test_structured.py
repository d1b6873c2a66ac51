from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from core.llm.structured import (
    StructuredOutputError,
    cap_string_lengths,
    extract_json,
    json_schema_of,
    parse_structured,
    repair_messages,
    strict_schema,
    with_schema_instruction,
)


class Leaf(BaseModel):
    name: str
    weight: float = 1.0


class Tree(BaseModel):
    leaves: list[Leaf] = Field(min_length=1)
    root: Leaf


def test_json_schema_inlines_refs() -> None:
    schema = json_schema_of(Tree)
    assert "$defs" not in schema and "$ref" not in str(schema)
    assert schema["properties"]["root"]["properties"]["name"]["type"] == "string"
    assert schema["properties"]["leaves"]["items"]["required"] == ["name"]


def test_recursive_models_keep_their_refs() -> None:
    class Node(BaseModel):
        children: list[Node] = []

    schema = json_schema_of(Node)
    assert schema["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"} and "Node" in schema["$defs"]
    assert parse_structured('{"children": [{"children": []}]}', Node).children[0].children == []


def test_strict_schema_requires_everything_and_drops_defaults() -> None:
    strict = strict_schema(json_schema_of(Tree))
    leaf = strict["properties"]["root"]
    assert leaf["required"] == ["name", "weight"] and leaf["additionalProperties"] is False
    assert "default" not in str(strict)
    assert strict["additionalProperties"] is False and strict["required"] == ["leaves", "root"]


@pytest.mark.parametrize("text", [
    '{"a": 1}',
    'Here you go: {"a": 1} hope it helps',
    '```json\n{"a": 1}\n```',
    '```\n{"a": 1}\n```\ntrailing',
])
def test_extract_json(text: str) -> None:
    assert extract_json(text) == '{"a": 1}'


@pytest.mark.parametrize("text", ["no json", '{"a": ', ""])
def test_extract_json_errors(text: str) -> None:
    with pytest.raises(StructuredOutputError):
        extract_json(text)


def test_parse_structured_reports_the_field() -> None:
    with pytest.raises(StructuredOutputError) as err:
        parse_structured('{"leaves": [], "root": {"name": "r"}}', Tree)
    assert "leaves" in str(err.value)


def test_with_schema_instruction_extends_or_adds_the_system_message() -> None:
    schema = json_schema_of(Leaf)
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    out = with_schema_instruction(msgs, schema)
    assert out[0]["content"].startswith("Be brief.") and '"name"' in out[0]["content"] and len(out) == 2
    assert msgs[0]["content"] == "Be brief."  # input untouched
    out = with_schema_instruction(msgs[1:], schema)
    assert out[0]["role"] == "system" and out[1] == msgs[1]


def test_repair_messages() -> None:
    msgs = [{"role": "user", "content": "q"}]
    out = repair_messages(msgs, "bad", "field x missing")
    assert out[:1] == msgs and out[1] == {"role": "assistant", "content": "bad"}
    assert "field x missing" in out[2]["content"] and out[2]["role"] == "user"


def test_cap_string_lengths_only_touches_unbounded_strings() -> None:
    schema = {"type": "object", "properties": {
        "free": {"type": "string"}, "short": {"type": "string", "maxLength": 5},
        "choice": {"type": "string", "enum": ["a", "b"]}, "long_min": {"type": "string", "minLength": 90},
        "items": {"type": "array", "items": {"type": "string"}}, "n": {"type": "integer"}}}
    capped = cap_string_lengths(schema, 50)["properties"]
    assert capped["free"]["maxLength"] == 50 and capped["short"]["maxLength"] == 5
    assert "maxLength" not in capped["choice"] and capped["long_min"]["maxLength"] == 90
    assert capped["items"]["items"]["maxLength"] == 50 and "maxLength" not in capped["n"]
    assert "maxLength" not in schema["properties"]["free"]  # input untouched
