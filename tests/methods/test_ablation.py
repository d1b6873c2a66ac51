from __future__ import annotations

import json

import pytest

from core.data.model import Task
from core.errors import InputError
from core.methods.ablation import ablate, ablate_all_factors, compare
from core.methods.types import Answer, Trace

QUERY = "The battery died within a week."


def battery_sensitive(prompt: str, fmt: object) -> str:
    """A model whose answer depends on whether the Battery life factor is in the prompt."""
    return json.dumps({"answer": "1" if "Battery life" in prompt else "3"})


def test_removing_the_influential_factor_changes_the_answer(model, make_ctx):
    model.script = battery_sensitive
    ctx = make_ctx(k=3)
    res = ablate("rpm", QUERY, ctx, factor="F1")
    assert res.original.value == 1.0 and res.ablated.value == 3.0
    assert res.changed and res.shift == pytest.approx(2.0)
    assert res.flipped is None and res.rouge_l is None
    assert res.removed == "factor F1 (Battery life)" and res.kind == "factor" and res.target == "F1"
    ablated_prompt = model.prompts[-1]
    assert "Battery life" not in ablated_prompt
    assert '"battery died"' in model.prompts[0]
    assert '"battery died"' not in ablated_prompt  # the F1 hops are gone from the paths too
    assert ctx.disabled_factors == frozenset()  # the caller's context is untouched


def test_removing_an_irrelevant_factor_does_not(model, make_ctx, fake_server):
    model.script = battery_sensitive
    ctx = make_ctx(k=3)
    res = ablate("rpm", QUERY, ctx, factor="Screen quality")  # by name
    assert res.target == "F2"
    assert not res.changed and res.shift == 0.0
    assert fake_server.chat_calls == 2
    assert "Screen quality" in model.prompts[0] and "Screen quality" not in model.prompts[1]  # its summary line

    res = ablate("rpm", QUERY, ctx, factor="F3")  # only a hop of one path goes
    assert not res.changed and fake_server.chat_calls == 3  # the original is served from the cache
    assert '"case cracked" -> Build' in model.prompts[0] and '"case cracked" -> Build' not in model.prompts[2]
    assert "the case cracked" in model.prompts[2]  # the item stays a demonstration, only the hop goes


def test_ablate_all_factors_ranks_by_effect(model, make_ctx):
    model.script = battery_sensitive
    results = ablate_all_factors("rpm", QUERY, make_ctx(k=3))
    assert [r.target for r in results] == ["F1", "F2", "F3"]
    assert results[0].changed and [r.changed for r in results[1:]] == [False, False]
    assert all(r.original is results[0].original for r in results)
    assert json.loads(json.dumps(results[0].to_dict()))["effect"] == pytest.approx(2.0)


def test_ablate_all_factors_reports_each_answer_and_stops_on_cancel(model, make_ctx):
    model.script = battery_sensitive
    seen: list[tuple[int, int]] = []
    results = ablate_all_factors("rpm", QUERY, make_ctx(k=3), progress=lambda d, t: seen.append((d, t)),
                                 cancel=lambda: len(seen) >= 2)  # cancelled once the first factor was re-run
    assert seen == [(1, 4), (2, 4)]  # the full answer, then one per factor, out of 1 + 3 factors
    assert [r.target for r in results] == ["F1"]


def test_removing_the_summary_and_an_item(model, make_ctx):
    model.script = lambda prompt, fmt: json.dumps({"answer": "1" if "punishes" in prompt else "4"})
    res = ablate("summary", QUERY, make_ctx(), summary=True)
    assert res.changed and res.shift == pytest.approx(3.0) and res.kind == "summary"
    assert res.ablated.trace.summary_version is None and res.original.trace.summary_version == 3

    model.script = lambda prompt, fmt: json.dumps({"answer": "1" if "died after two days" in prompt else "2"})
    res = ablate("bm25", "the charger broke twice", make_ctx(k=2), item="i1")
    assert res.changed and res.shift == pytest.approx(1.0)
    ablated_retrieve = res.ablated.trace.steps[0]
    assert [d.id for d in ablated_retrieve.documents] == ["i2"]  # removed, not replaced
    assert ablated_retrieve.detail.removed == ["i1"]


def test_bad_ablation_requests(make_ctx):
    ctx = make_ctx()
    with pytest.raises(InputError) as err:
        ablate("rpm", QUERY, ctx, factor="Nope")
    assert err.value.field == "factor"
    with pytest.raises(InputError) as err:
        ablate("rpm", QUERY, ctx, item="i99")
    assert err.value.field == "item"
    with pytest.raises(InputError):
        ablate("rpm", QUERY, ctx)
    with pytest.raises(InputError) as err:
        ablate("nope", QUERY, ctx, factor="F1")
    assert err.value.field == "method"


def _answer(text: str, value: object) -> Answer:
    return Answer(text=text, value=value, trace=Trace(method="x", query="q"))


def test_compare_labels_and_text():
    label = Task(kind="label", labels=("a", "b"))
    assert compare(_answer("a", "a"), _answer("b", "b"), label) == (True, None, True, None)
    assert compare(_answer("a", "a"), _answer("a", "a"), label) == (False, None, False, None)
    text = Task(kind="text")
    changed, shift, flipped, rouge = compare(_answer("the cat sat", "the cat sat"),
                                             _answer("the cat sat down", "the cat sat down"), text)
    assert changed and shift is None and flipped is None
    assert rouge == pytest.approx(2 * 1.0 * 0.75 / 1.75)
    assert compare(_answer("same", "same"), _answer("same", "same"), text)[3] == pytest.approx(1.0)
    score = Task(kind="score")
    assert compare(_answer("?", None), _answer("4", 4.0), score) == (True, None, None, None)
