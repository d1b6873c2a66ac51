"""The stored prompt pool: validation with named fields, load / save / reset, and the pool method using it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.data.model import Dataset, Item, Task, User
from core.errors import InputError
from core.methods.context import PoolEntry
from core.methods.pool_store import (
    load_pool,
    pool_payload,
    read_pool_file,
    reset_pool,
    save_pool,
    validate_entries,
)
from core.methods.registry import get_method
from core.store.workspace import Workspace


@pytest.fixture
def ws() -> Workspace:
    w = Workspace(":memory:")
    w.add_dataset(Dataset(name="phones", task=Task(kind="score", name="r"),
                          users=[User("u1", [Item("a", "x", "1")]), User("u2", [Item("b", "y", "5")])]))
    yield w
    w.close()


def _fields(exc: InputError) -> list[tuple[object, str | None]]:
    return [(p.row, p.field) for p in exc.problems]


def test_validate_fills_ids_and_defaults():
    out = validate_entries([{"text": " Battery problems mean a low score. "},
                            {"id": "U1", "text": "Input: x\nResponse: 1", "kind": "DEMO", "item_id": "a"},
                            {"id": "", "text": "Likes bright screens.", "kind": "instruction",
                             "factor_id": float("nan")}])
    assert [e.id for e in out] == ["U2", "U1", "U3"]  # generated ids skip the ones taken
    assert out[0] == PoolEntry("U2", "Battery problems mean a low score.", "instruction", None, None, "user")
    assert out[1].kind == "demo" and out[1].item_id == "a"
    assert out[2].factor_id is None


def test_validate_reports_every_problem_with_entry_and_field():
    with pytest.raises(InputError) as err:
        validate_entries([{"id": "a", "text": "ok"}, {"id": "a", "text": "   "}, {"text": "x", "kind": "tip"},
                          {"text": 5}, "just text", {"text": "y", "colour": "red"}], source="pool.json")
    assert _fields(err.value) == [(2, "id"), (2, "text"), (3, "kind"), (4, "text"), (5, None), (6, "colour")]
    lines = [str(p) for p in err.value.problems]
    assert lines[0] == "pool.json:2:id: id 'a' is already used by entry 1"
    assert lines[1] == "pool.json:2:text: the text is empty"
    assert "neither instruction nor demo" in lines[2]
    with pytest.raises(InputError) as err:
        validate_entries([])
    assert _fields(err.value) == [(None, "pool")]


def test_save_load_reset_round_trip(ws):
    assert load_pool(ws, "phones", "u1") is None
    saved = save_pool(ws, "phones", "u1", [{"text": "Hates breakage.", "kind": "instruction"},
                                           PoolEntry("d1", "Input: x\nResponse: 1", "demo", item_id="a")])
    assert load_pool(ws, "phones", "u1") == saved and [e.id for e in saved] == ["U1", "d1"]
    assert load_pool(ws, "phones", "u2") is None  # per user
    with pytest.raises(InputError) as err:  # nothing stored on a bad pool
        save_pool(ws, "phones", "u1", [{"text": ""}])
    assert _fields(err.value) == [(1, "text")] and load_pool(ws, "phones", "u1") == saved
    with pytest.raises(InputError) as err:
        save_pool(ws, "phones", "nobody", [{"text": "x"}])
    assert _fields(err.value) == [(None, "user")]
    assert reset_pool(ws, "phones", "u1") is True
    assert load_pool(ws, "phones", "u1") is None and reset_pool(ws, "phones", "u1") is False


def test_read_pool_file(tmp_path: Path):
    good = tmp_path / "pool.json"
    entries = [PoolEntry("p1", "Hates breakage.")]
    good.write_text(json.dumps(pool_payload(entries)), encoding="utf-8")
    assert read_pool_file(good) == [{"id": "p1", "text": "Hates breakage.", "kind": "instruction", "source": "user"}]
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"entries": [{"text": "x"}]}), encoding="utf-8")
    assert read_pool_file(wrapped) == [{"text": "x"}]
    bad = tmp_path / "bad.json"
    bad.write_text("[{\"text\": }]", encoding="utf-8")
    huge = tmp_path / "huge.json"
    huge.write_text('[{"text": "x", "n": ' + "9" * 5000 + "}]", encoding="utf-8")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    for path, msg in ((bad, "invalid JSON"), (tmp_path / "none.json", "no such file"),
                      (huge, "over 4300 digits"), (deep, "nested too deeply")):
        with pytest.raises(InputError) as err:
            read_pool_file(path)
        assert err.value.problems[0].field == "pool" and msg in err.value.problems[0].message
    obj = tmp_path / "obj.json"
    obj.write_text('{"text": "x"}', encoding="utf-8")
    with pytest.raises(InputError, match="expected a JSON list"):
        read_pool_file(obj)


def test_pool_method_uses_the_stored_pool(model, make_ctx, profile):
    ws = Workspace(":memory:")
    ws.add_dataset(Dataset(name=profile.dataset_id, task=profile.task, users=[User(profile.user_id, profile.items)]))
    save_pool(ws, profile.dataset_id, profile.user_id,
              [{"id": "mine", "text": "Battery problems always mean a low score.", "kind": "instruction"},
               {"id": "other", "text": "Enjoys long walks on the beach.", "kind": "instruction"}])
    ans = get_method("pool").answer("The battery died in a day.",
                                    make_ctx(k=1, pool=load_pool(ws, profile.dataset_id, profile.user_id)))
    step = ans.trace.steps[0]
    assert step.detail.pool.pool_source == "stored" and step.detail.pool.pool_size == 2
    assert step.output == ["mine"]
    assert "Battery problems always mean a low score." in model.prompts[-1]
    default = get_method("pool").answer("The battery died in a day.", make_ctx(k=1))
    assert default.trace.steps[0].detail.pool.pool_source == "default"
    ws.close()
