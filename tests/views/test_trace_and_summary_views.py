from core.methods.types import RetrievedDoc, Step, StepDetail, Trace
from core.views.summary_view import diff_stats, unified_summary_diff, version_label
from core.views.trace_view import TraceCursor, render_value, step_cards, timeline_steps, trace_totals


def _trace() -> Trace:
    doc = RetrievedDoc("a", "It broke in a week.", "1", 0.8123456,
                       matched=[{"query": "snapped", "item": "broke in a week", "similarity": 0.71, "factor": "Dur"}],
                       path="broke -> Durability -> 1")
    return Trace(method="rpm", query="It snapped.", steps=[
        Step("features", "Extract", input="It snapped.", output=[{"phrase": "snapped"}], latency_ms=2.0),
        Step("retrieve", "Retrieve", input="It snapped.", output=["a"], documents=[doc], latency_ms=5.0,
             detail=StepDetail(k=4, removed=[])),
        Step("reason", "Reason", output={"factors": "- Dur", "paths": "- broke"}, latency_ms=1.0,
             detail=StepDetail(factors=[{"id": "F1", "name": "Dur"}], paths=[{"item_id": "a", "text": "other path"}])),
        Step("llm", "Answer", input=[{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
             output="1", tokens_in=120, tokens_out=2, latency_ms=40.0,
             detail=StepDetail(system="S", extra={"fit_ms": 3.0})),
    ])


def test_step_cards():
    cards = step_cards(_trace())
    assert [c.title for c in cards] == ["1. Extract", "2. Retrieve", "3. Reason", "4. Answer"]
    assert cards[1].documents == [{"rank": 1, "id": "a", "score": 0.8123, "response": "1",
                                   "text": "It broke in a week.", "matched": 1, "path": "broke -> Durability -> 1"}]
    assert cards[1].matched[0] == {"item": "a", "query feature": "snapped", "item feature": "broke in a week",
                                   "similarity": 0.71, "factor": "Dur"}
    assert cards[1].paths == ["a: broke -> Durability -> 1"]
    assert cards[2].factors == [{"id": "F1", "name": "Dur"}] and cards[2].paths == ["a: other path"]
    assert cards[2].more == {} and cards[1].more == {"k": 4}  # the rest is drawn in the card's own sections
    assert cards[3].detail.system == "S" and cards[3].more == {"fit_ms": 3.0}
    assert cards[3].input_text == "[system]\nS\n\n[user]\nU" and cards[3].tokens_in == 120
    assert render_value({"x": 1}) == '{\n  "x": 1\n}' and render_value(None) == ""


def test_timeline_totals_and_cursor():
    t = _trace()
    assert [s.kind for s in timeline_steps(t)] == ["features", "retrieve", "reason", "llm"]
    assert trace_totals(t) == {"steps": 4, "tokens_in": 120, "tokens_out": 2, "latency_ms": 48.0}
    c = TraceCursor(3)
    assert c.current is None and not c.done
    c = c.next().next()
    assert c.shown == 2 and c.current == 1
    assert c.next().next().shown == 3 and c.play().done and c.reset().shown == 0


def test_summary_diff_is_by_sentence():
    old = "Hates breakage. Loves deals."
    new = "Hates breakage. Loves deals on tools. Ignores shipping."
    diff = unified_summary_diff(old, new, old_name="v1", new_name="v2")
    assert diff.splitlines()[:2] == ["--- v1", "+++ v2"]
    assert "-Loves deals." in diff and "+Loves deals on tools." in diff and "+Ignores shipping." in diff
    assert " Hates breakage." in diff
    assert diff_stats(old, new) == {"added": 2, "removed": 1}
    assert unified_summary_diff(old, old) == ""
    label = version_label({"version": 3, "source": "edited", "created_at": 0, "note": "n"})
    assert label.startswith("v3 · edited · ") and label.endswith(" · n")


def test_summary_staleness_follows_the_factors_it_was_written_from():
    from core.views.summary_view import generated_basis, summary_staleness

    gen = {"version": 1, "source": "generated", "run_id": "summary-1", "text": "a"}
    edited = {"version": 2, "source": "edited", "run_id": None, "text": "b"}
    assert generated_basis([gen, edited]) is gen and generated_basis([edited]) is None
    fresh = summary_staleness([gen, edited], "d1", "d1")
    assert not fresh["stale"] and fresh["edited"] and fresh["message"] == ""
    stale = summary_staleness([gen, edited], "d1", "d2")
    assert stale["stale"] and "your edited v2 stays in the version history" in stale["message"]
    assert "edited" not in summary_staleness([gen], "d1", "d2")["message"]
    assert not summary_staleness([], None, "d2")["stale"]


def test_the_wording_step_reads_as_a_verdict_with_both_candidates():
    from core.methods.style import MeaningCheck, StyleModel, choose_wording
    from core.views.trace_view import wording_view

    model = StyleModel.from_texts(["omg u guys r the best lol", "im so tired rn but u know how it is lol"])
    given, rewrite = "I am very tired this weekend friend", "im so tired rn lol omg u"
    choice = choose_wording(model, given, rewrite)
    step = Step("reason", "Keep the rewrite or the given wording", input={"given": given, "rewrite": rewrite},
                output=choice.text, detail=StepDetail(extra={"wording": choice.to_dict()}))
    card = step_cards(Trace(method="rpm", query=given, steps=[step]))[0]
    assert card.wording is not None and "wording" not in card.more  # drawn on the card, not in Details
    assert card.wording["verdict"].startswith("The rewrite was kept: p = ") and "< 0.05" in card.wording["verdict"]
    assert [r["candidate"] for r in card.wording["rows"]] == ["given", "rewrite"]
    assert card.wording["rows"][1]["text"] == rewrite and card.wording["removed"].split()[0] == "i"
    one = choose_wording(model, "im so tired today", "im so tired rn").to_dict()
    assert "too few changed words" in wording_view(one, "im so tired today", "im so tired rn")["verdict"]
    handle = choose_wording(model, "@amy I am tired", "im tired").to_dict()
    assert "it drops @amy" in wording_view(handle, "@amy I am tired", "im tired")["verdict"]
    even = choose_wording(model, "the weekend was fun and lovely", "the weekend was nice and great").to_dict()
    verdict = wording_view(even, "", "")["verdict"]
    assert verdict.startswith("The given text was kept: the rewrite was not, because p = 1")
    same = choose_wording(model, "So tired!", "so tired").to_dict()
    assert wording_view(same, "So tired!", "so tired")["verdict"].endswith("(nothing to choose)")
    far = MeaningCheck(to_given=0.05, to_nearest_own=0.3, nearest_own="im sorry but i cant")
    refused = choose_wording(model, given, rewrite, far).to_dict()
    shown = wording_view(refused, given, rewrite)
    assert shown["verdict"] == ("The given text was kept: the rewrite was not, because it does not restate the given "
                                "text: it is nearer to an earlier text of the user (cosine 0.30) than to the given "
                                "text (0.05)")
    assert shown["meaning"] == ('Cosine of the rewrite to the given text: 0.05; to the nearest earlier text of the '
                                'user: 0.30 ("im sorry but i cant")')
    alone = wording_view(choose_wording(model, given, rewrite, MeaningCheck(to_given=0.5)).to_dict(), given, rewrite)
    assert alone["verdict"].startswith("The rewrite was kept: p = ")
    assert alone["meaning"].endswith("0.50 (the user wrote nothing else to compare with)")
    assert card.wording["meaning"] == ""  # not checked: nothing to say
    plain = step_cards(Trace(method="rpm", query="q", steps=[Step("reason", "Reason", output="x")]))[0]
    assert plain.wording is None
