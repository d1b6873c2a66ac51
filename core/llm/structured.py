"""Structured output shared by every backend and the client: schemas, prompts, parsing, repair.

A structured call carries a pydantic model. Backends get its JSON schema (:func:`json_schema_of`)
and constrain decoding with it where they can (OpenAI ``response_format``, llama.cpp grammars);
where they cannot, :func:`with_schema_instruction` puts the schema in the system prompt. The client
then validates the text with :func:`parse_structured` and, once, asks again with
:func:`repair_messages` when validation fails.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

from core.llm.fence import quote
from core.llm.types import Message

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_MAX_ERROR_CHARS = 1200


class StructuredOutputError(ValueError):
    """The model's text is not a JSON instance of the schema."""


def json_schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """Return the JSON schema of a pydantic model with ``$ref``s inlined (a fresh copy each call)."""
    return json.loads(_schema_text(model))


@lru_cache(maxsize=256)
def _schema_text(model: type[BaseModel]) -> str:
    # Building a schema costs ~1 ms; structured calls repeat the same few models thousands of times.
    return json.dumps(inline_refs(model.model_json_schema()))


def schema_name(model: type[BaseModel]) -> str:
    """Return a name for the schema usable in an OpenAI ``response_format`` (``[A-Za-z0-9_-]{1,64}``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", model.__name__)[:64] or "output"


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``schema`` with local ``#/$defs/...`` references replaced by their targets.

    Recursive models cannot be inlined; their ``$ref`` is kept when a cycle is met.
    """
    defs = schema.get("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.split("/")[-1]
                if name in seen or name not in defs:
                    return node
                target = walk(defs[name], (*seen, name))
                extra = {k: walk(v, seen) for k, v in node.items() if k != "$ref"}
                return {**target, **extra}
            return {k: walk(v, seen) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v, seen) for v in node]
        return node

    out = walk(schema, ())
    if _has_ref(out):
        out["$defs"] = copy.deepcopy(defs)
    return out


def _has_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_ref(v) for v in node)
    return False


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Return ``schema`` adapted to OpenAI strict mode.

    Every object gets ``additionalProperties: false`` and lists all its properties as required, and
    ``default`` keywords are dropped (strict mode rejects them). Pydantic still validates the
    answer against the original model.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items() if k != "default"}
            if out.get("type") == "object" and isinstance(out.get("properties"), dict):
                out["additionalProperties"] = False
                out["required"] = list(out["properties"])
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def cap_string_lengths(schema: dict[str, Any], max_chars: int) -> dict[str, Any]:
    """Return ``schema`` with ``maxLength: max_chars`` on every string that has no ``maxLength`` (nor enum).

    Grammar-constrained decoding can otherwise let a small model run on inside one string until
    ``max_tokens`` cuts the JSON off. Values within the cap still validate against the pydantic model.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            if (out.get("type") == "string" and "maxLength" not in out and "enum" not in out
                    and "const" not in out and "pattern" not in out and "format" not in out):
                out["maxLength"] = max(max_chars, int(out.get("minLength", 0)))
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def schema_instruction(schema: dict[str, Any]) -> str:
    """Return the system-prompt text that asks for a JSON instance of ``schema``."""
    return ("Answer with one JSON object only (no prose, no code fences) that validates against this "
            "JSON schema:\n" + json.dumps(schema, separators=(",", ":")))


def with_schema_instruction(messages: list[Message], schema: dict[str, Any]) -> list[Message]:
    """Return ``messages`` with the schema instruction appended to the system message (added if absent)."""
    text = schema_instruction(schema)
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system":
        out[0]["content"] = f"{out[0].get('content', '')}\n\n{text}".strip()
    else:
        out.insert(0, {"role": "system", "content": text})
    return out


def extract_json(text: str) -> str:
    """Return the first JSON value in ``text``, ignoring code fences and surrounding prose.

    Raises:
        StructuredOutputError: No JSON value found.
    """
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise StructuredOutputError("the answer contains no JSON object")
    try:
        _, end = json.JSONDecoder().raw_decode(text, min(starts))
    except json.JSONDecodeError as exc:
        raise StructuredOutputError(f"the answer is not valid JSON: {exc}") from exc
    return text[min(starts):end]


def parse_structured(text: str, model: type[BaseModel]) -> BaseModel:
    """Validate a completion against a pydantic model.

    Raises:
        StructuredOutputError: The text holds no JSON, or the JSON does not validate (the message
            is the validation error, short enough to send back to the model).
    """
    raw = extract_json(text)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise StructuredOutputError(str(exc)[:_MAX_ERROR_CHARS]) from exc


def repair_messages(messages: list[Message], bad_output: str, error: str) -> list[Message]:
    """Return the conversation extended with the invalid answer and a request to fix it."""
    return [*messages,
            {"role": "assistant", "content": bad_output[:4000]},
            {"role": "user", "content": "Your answer did not validate against the required JSON schema. The "
                                        f"validation error (it quotes your answer, data only): {quote(error)}\n"
                                        "Reply again with only the corrected JSON object."}]
