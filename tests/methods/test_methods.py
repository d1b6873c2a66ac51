from __future__ import annotations

import json

import pytest

from core.data.model import Item, Task
from core.errors import InputError
from core.methods.registry import METHOD_NAMES, get_method
from core.methods.types import Answer, Method, Trace
from tests.methods.conftest import ITEMS, SUMMARY, make_profile, unfence

QUERY = "The battery died within a week."


def kinds(answer: Answer) -> list[str]:
    return [s.kind for s in answer.trace.steps]


def answer_json(value: str) -> str:
    return json.dumps({"answer": value})


def assert_llm_step(step) -> None:
    assert step.tokens_in > 0 and step.tokens_out > 0
    assert step.latency_ms >= 0
    assert step.status == "ok"
    assert "Input: " in step.input


def test_registry_knows_every_method():
    assert METHOD_NAMES == ["zero", "history", "bm25", "bm25-lamp", "summary", "rpm", "reflect", "pool"]
    for name in METHOD_NAMES:
        m = get_method(name)
        assert isinstance(m, Method) and m.name == name
    with pytest.raises(InputError) as err:
        get_method("magic")
    assert err.value.field == "method"


def test_zero_uses_no_user_information(model, make_ctx):
    model.script = lambda prompt, fmt: answer_json("4")
    ans = get_method("zero").answer(QUERY, make_ctx())
    assert ans.value == 4.0 and ans.text == "4"
    assert kinds(ans) == ["llm"]
    assert_llm_step(ans.trace.steps[0])
    prompt = model.prompts[-1]
    assert QUERY in prompt
    assert SUMMARY.split(".")[0] not in prompt
    assert not any(text in prompt for _, text, _ in ITEMS)
    # the answer is held to the closed set of scores
    assert model.answer_schema()["properties"]["answer"]["enum"] == ["1", "2", "3", "4", "5"]
    assert ans.trace.summary_version is None


def test_bm25_pastes_retrieved_items(model, make_ctx):
    model.script = lambda prompt, fmt: answer_json("2")
    ans = get_method("bm25").answer("the charger broke twice", make_ctx(k=2))
    assert kinds(ans) == ["retrieve", "llm"]
    retrieve = ans.trace.steps[0]
    assert len(retrieve.documents) == 2
    assert retrieve.documents[0].id == "i1"
    assert retrieve.documents[0].score >= retrieve.documents[1].score > 0
    prompt = model.prompts[-1]
    for doc in retrieve.documents:
        item = next(t for i, t, _ in ITEMS if i == doc.id)
        assert item in prompt
        assert f"The user's response: {doc.output}" in prompt
    assert "Gorgeous bright screen" not in prompt  # not retrieved, not shown
    assert ans.value == 2.0
    assert_llm_step(ans.trace.steps[1])


def test_summary_shows_summary_and_no_raw_history(model, make_ctx):
    model.script = lambda prompt, fmt: answer_json("1" if "Battery life" in prompt else "3")
    ans = get_method("summary").answer(QUERY, make_ctx())
    prompt = model.prompts[-1]
    assert SUMMARY in prompt
    assert not any(text in prompt for _, text, _ in ITEMS)
    assert kinds(ans) == ["llm"]
    assert ans.trace.summary_version == 3
    assert ans.trace.steps[0].detail.summary_version == 3
    assert ans.trace.steps[0].detail.extra["summary_tokens"] > 0
    assert ans.value == 1.0


def test_rpm_prompt_has_factors_summary_and_demonstrations(model, make_ctx, profile):
    model.script = lambda prompt, fmt: answer_json("1")
    ans = get_method("rpm").answer(QUERY, make_ctx(k=3))
    assert kinds(ans) == ["features", "retrieve", "reason", "llm", "reason"]
    feats, retrieve, reason, llm, decide = ans.trace.steps
    assert feats.output and "battery" in feats.output[0]["aspect"]
    ids = [d.id for d in retrieve.documents]
    assert set(ids) == {"i1", "i2", "i6"}
    for doc in retrieve.documents:
        assert doc.matched and doc.matched[0]["factor"] == "Battery life"
        assert doc.path == profile.paths[doc.id].text
    used = reason.detail.factors
    assert [f["id"] for f in used] == ["F1"]
    assert used[0]["reason"] == "matched"
    assert used[0]["influence"] == pytest.approx(-2.33) and used[0]["ci_low"] == pytest.approx(-3.1)
    assert used[0]["coverage"] == pytest.approx(0.5) and used[0]["polarity"] == -1.0
    assert [p["item_id"] for p in reason.detail.paths] == ids
    prompt = model.prompts[-1]
    assert "Battery life: battery drains or dies quickly" in prompt
    assert "influence -2.33 (95% CI -3.10 to -1.50)" in prompt and "coverage 50%" in prompt
    # the user's strongest factors come before the query-dependent part; the query touches only F1
    block = prompt.split("## This user's strongest factors")[1].split("## Similar past items")[0]
    assert "Screen quality: bright, sharp displays" in block and "Battery life: battery drains" in block
    assert block.index("P(response) over all 6 of their items: 1 17%, 2 33%, 3 17%, 4 17%, 5 17%") < \
        block.index("Battery life")
    assert "Battery life: battery drains or dies quickly" in block
    assert "P(response | this factor): 1 33%, 2 67% (3 items)" in block
    touched = prompt.split("## Factors this input touches")[1].split("## Task")[0]
    assert "Battery life (above)" in touched and "Screen quality" not in touched
    heads = [SUMMARY, "## This user's strongest factors", "## Similar past items", "## Factors this input touches",
             "## Task"]
    assert [prompt.index(h) for h in heads] == sorted(prompt.index(h) for h in heads)
    assert reason.detail.extra["profile_factors"] == ["F1", "F2", "F3"]
    for doc in retrieve.documents:  # each retrieved item as a demonstration: input, response, path
        item = next(t for i, t, _ in ITEMS if i == doc.id)
        assert f"Input: {item}\nThe user's response: {doc.output}\nHow they reasoned: {doc.path}" in prompt
    assert not any(text in prompt for i, text, _ in ITEMS if i not in ids)  # not retrieved, not shown
    assert decide.detail.decision["rule"]["name"] == "raw"  # six items: too few to fit a rule
    assert ans.trace.summary_version == 3
    assert ans.value == 1.0
    assert_llm_step(llm)


def test_rpm_shows_pinned_factors_and_hides_disabled_ones(model, make_ctx, embedder):
    prof = make_profile(embedder=embedder)
    next(f for f in prof.factors if f.id == "F3").pinned = True
    model.script = lambda prompt, fmt: answer_json("2")
    ans = get_method("rpm").answer(QUERY, make_ctx(profile=prof, k=3, disabled_factors=frozenset({"F1"})))
    reason = ans.trace.steps[2]
    ids = [f["id"] for f in reason.detail.factors]
    assert ids[0] == "F3" and "F1" not in ids
    prompt = model.prompts[-1]
    assert "Battery life" not in prompt  # gone from the factors, the paths and the summary
    assert "Build: fragile or cracked cases" in prompt
    assert "Screen quality" in prompt  # the summary's other sentences stay


def test_rpm_falls_back_to_strongest_factors_without_matches(model, make_ctx):
    model.script = lambda prompt, fmt: answer_json("3")
    ans = get_method("rpm").answer("Completely unrelated words here", make_ctx(k=0))
    reason = ans.trace.steps[2]
    assert {f["reason"] for f in reason.detail.factors} == {"strongest"}
    assert len(reason.detail.factors) == 2
    assert ans.trace.steps[1].documents == []


def test_reflect_makes_two_calls_and_keeps_both_answers(model, make_ctx, fake_server):
    model.script = lambda prompt, fmt: answer_json("2" if "Draft answer" in prompt else "4")
    ans = get_method("reflect").answer(QUERY, make_ctx(k=2))
    assert kinds(ans) == ["llm", "retrieve", "rewrite"]
    assert len(model.prompts) == 2 and fake_server.chat_calls == 2
    draft, retrieve, rewrite = ans.trace.steps
    assert draft.output == "4" and rewrite.output == "2"
    assert rewrite.detail.extra["draft"] == "4" and rewrite.detail.extra["changed"] is True
    first, second = model.prompts
    assert SUMMARY not in first and "was: 4" in second and SUMMARY in second
    for doc in retrieve.documents:
        assert next(t for i, t, _ in ITEMS if i == doc.id) in second
    assert ans.value == 2.0 and ans.trace.summary_version == 3
    assert ans.trace.tokens_in == draft.tokens_in + rewrite.tokens_in


def test_pool_prepends_the_chosen_entries(model, make_ctx):
    model.script = lambda prompt, fmt: answer_json("1")
    ans = get_method("pool").answer(QUERY, make_ctx(k=3))
    assert kinds(ans) == ["retrieve", "llm"]
    step = ans.trace.steps[0]
    chosen = step.detail.pool.entries
    assert len(chosen) == 3 == len(step.documents)
    assert [c["score"] for c in chosen] == sorted((c["score"] for c in chosen), reverse=True)
    prompt = model.prompts[-1]
    for c in chosen:
        assert c["text"] in prompt
    assert step.detail.pool.pool_size >= 3 + 3  # summary sentences + factor lines + demos
    # the query is about the battery: the battery entries win
    assert all(c["factor_id"] in ("F1", None) for c in chosen[:2])
    assert ans.value == 1.0


def test_pool_uses_a_user_pool(model, make_ctx):
    from core.methods.context import PoolEntry

    pool = [PoolEntry("p1", "Battery problems always mean a low score.", "instruction"),
            PoolEntry("p2", "Likes cooking recipes.", "instruction"),
            PoolEntry("p3", "Input: Battery died\nThe user's response: 1", "demo")]
    model.script = lambda prompt, fmt: answer_json("1")
    ans = get_method("pool").answer(QUERY, make_ctx(k=2, pool=pool))
    ids = [d.id for d in ans.trace.steps[0].documents]
    assert "p2" not in ids and len(ids) == 2
    assert "Battery problems always mean a low score." in model.prompts[-1]
    assert "Likes cooking" not in model.prompts[-1]


def test_label_task_is_constrained_to_labels(model, make_ctx, embedder):
    task = Task(kind="label", name="sentiment")
    outputs = {"i1": "negative", "i2": "negative", "i3": "positive", "i4": "positive", "i5": "neutral",
               "i6": "negative"}
    prof = make_profile(task=task, embedder=embedder, outputs=outputs)
    model.script = lambda prompt, fmt: answer_json("negative")
    ans = get_method("rpm").answer(QUERY, make_ctx(profile=prof, k=3))
    assert ans.value == "negative"
    assert model.answer_schema()["properties"]["answer"]["enum"] == ["negative", "positive", "neutral"]
    assert "points to 'negative' (lift 2.00)" in model.prompts[-1]


def test_text_task_is_free_text(model, make_ctx, embedder):
    task = Task(kind="text", name="headline")
    prof = make_profile(task=task, embedder=embedder)
    model.script = lambda prompt, fmt: "Answer: Battery woes strike again"
    ans = get_method("summary").answer(QUERY, make_ctx(profile=prof))
    assert ans.value == "Battery woes strike again"
    calls = model.server.calls()
    assert calls[-1]["body"].get("response_format") is None


def test_out_of_range_answer_is_marked_unparsed(model, make_ctx, embedder):
    task = Task(kind="score", score_min=0, score_max=1000)  # too wide for an enum: a number schema
    prof = make_profile(task=task, embedder=embedder)
    model.script = lambda prompt, fmt: answer_json("2000")
    ans = get_method("zero").answer(QUERY, make_ctx(profile=prof))
    assert model.answer_schema()["properties"]["answer"]["type"] == "number"
    assert ans.value is None and ans.text == "2000"
    assert ans.trace.steps[0].status == "error" and "parsed" in ans.trace.steps[0].detail.error


def test_trace_round_trips_through_json(model, make_ctx):
    model.script = lambda prompt, fmt: answer_json("1")
    ans = get_method("rpm").answer(QUERY, make_ctx(k=3))
    data = json.loads(json.dumps(ans.to_dict()))
    back = Trace.from_dict(data["trace"])
    assert [s.kind for s in back.steps] == kinds(ans)
    assert back.steps[1].documents[0].matched == ans.trace.steps[1].documents[0].matched


def test_pool_reranker_is_fit_leave_one_out_on_history(model, make_ctx, profile, embedder):
    from core.methods.pool import FEATURE_NAMES, default_pool, fit_reranker

    pool = default_pool(profile, profile.task)
    ids = [e.id for e in pool]
    assert ids == ["S1", "S2", "S3", "F:F1", "F:F2", "F:F3", "D:i1", "D:i2", "D:i3", "D:i4", "D:i6"]
    assert [e.factor_id for e in pool[:3]] == ["F1", "F2", None]  # summary sentences tied to the factor they name
    rr = fit_reranker(profile, profile.task, pool, embedder)
    assert rr is not None
    # 6 items x 5 factor-tied instructions + demos (5, minus the item's own one for the 5 demo items)
    assert rr.n_pairs == 6 * 5 + 5 * 4 + 5
    assert 0 < rr.n_positive < rr.n_pairs
    assert set(rr.to_dict()["weights"]) == set(FEATURE_NAMES)
    model.script = lambda prompt, fmt: answer_json("1")
    ans = get_method("pool").answer(QUERY, make_ctx(k=3))
    assert ans.trace.steps[0].detail.pool.ranking == "reranker"
    assert ans.trace.steps[0].detail.pool.reranker["n_pairs"] == rr.n_pairs


def test_pool_without_reranker_ranks_by_similarity(model, make_ctx):
    from core.methods.pool import PoolMethod

    model.script = lambda prompt, fmt: answer_json("1")
    ans = PoolMethod(rerank=False).answer(QUERY, make_ctx(k=4))
    step = ans.trace.steps[0]
    assert step.detail.pool.ranking == "similarity" and step.detail.pool.reranker is None
    sims = [c["similarity"] for c in step.detail.pool.candidates]
    assert sims == sorted(sims, reverse=True)


def test_pool_drops_entries_of_disabled_factors_items_and_summary(model, make_ctx):
    model.script = lambda prompt, fmt: answer_json("1")
    ans = get_method("pool").answer(QUERY, make_ctx(k=20, disabled_factors=frozenset({"F1"}),
                                                    disabled_items=frozenset({"i3"}), use_summary=False))
    chosen = ans.trace.steps[0].detail.pool.entries
    assert chosen and all(c["factor_id"] != "F1" for c in chosen)
    assert all(c["item_id"] != "i3" and c["source"] != "summary" for c in chosen)
    assert "Battery life" not in model.prompts[-1]
    assert ans.trace.summary_version is None


def test_small_context_windows_get_a_trimmed_prompt(model, fake_server, embedder, profile):
    from core.llm.client import LLMClient
    from core.llm.openai_backend import OpenAIBackend
    from core.llm.tokens import count_message_tokens
    from core.methods.context import AnswerContext
    from core.store.workspace import Workspace

    backend = OpenAIBackend(fake_server.base_url, "sk-test", "fake-model", free_text_quality="weak",
                            context_length=300)
    client = LLMClient(backend, Workspace(":memory:"), max_retries=0)
    ctx = AnswerContext(task=profile.task, profile=profile, client=client, embedder=embedder, k=6)
    model.script = lambda prompt, fmt: answer_json("2")
    ans = get_method("bm25").answer("battery " + "screen charger " * 300, ctx)
    llm = ans.trace.steps[-1]
    assert llm.detail.trimmed is True
    body = fake_server.calls()[-1]["body"]
    assert count_message_tokens(body["messages"]) <= int(300 * 0.8) - 32
    assert ans.value == 2.0


def test_rpm_keeps_its_shared_prefix_within_a_fixed_budget(model, make_ctx, monkeypatch):
    from core.methods import rpm

    model.script = lambda prompt, fmt: answer_json("3")
    full = rpm.profile_factor_block(make_ctx(), rpm.profile_factors(make_ctx()))
    assert full.count("\n- ") == 3  # every factor of the toy profile fits the default share
    monkeypatch.setattr(rpm, "SHARED_SHARE", 0.001)  # a budget for almost nothing: the strongest factor stays
    prefixes = set()
    for query in (QUERY, "Gorgeous screen but the case cracked on day one. " * 8):
        get_method("rpm").answer(query, make_ctx(k=2))
        prompt = model.prompts[-1]
        block = prompt.split("## This user's strongest factors")[1].split("## Similar past items")[0]
        assert block.count("\n- ") == 1 and "Battery life" in block
        prefixes.add(prompt.split("## Similar past items")[0])
    assert len(prefixes) == 1  # the same prefix whatever the query


def test_rpm_shows_a_history_of_own_texts_once_and_asks_for_the_users_style(model, make_ctx, embedder):
    from core.methods import rpm

    text_task = Task(kind="text", name="tweet", instruction="Paraphrase the following tweet:")
    prof = make_profile(task=text_task, embedder=embedder, outputs={i: t for i, t, _ in ITEMS})  # response = input
    model.script = lambda prompt, fmt: "The user wrote: my battery died again lol"
    ans = get_method("rpm").answer(QUERY, make_ctx(profile=prof, k=2))
    prompt = model.prompts[-1]
    docs = ans.trace.steps[1].documents
    assert docs
    for doc in docs:
        text = next(t for i, t, _ in ITEMS if i == doc.id)
        assert prompt.count(f"The user wrote: {text}") == 1 and "Input: " + text not in prompt
    note = prompt.split(f"## {rpm.STYLE_TITLE}\n")[1]
    assert note.startswith(rpm.STYLE_NOTE)  # an instruction, not fenced as data
    assert prompt.index(rpm.STYLE_TITLE) < prompt.index("## Task")
    wording = ans.trace.steps[-1]
    assert wording.name == rpm.WORDING_TITLE
    assert wording.input == {"given": QUERY, "rewrite": "my battery died again lol"}  # the copied label is stripped
    # "my", "again" and "lol" are words this user never wrote; the given text's are all theirs but "within", "week"
    assert wording.detail.extra["wording"]["chosen"] == "given" and ans.value == QUERY == ans.text


def test_rpm_keeps_a_rewrite_in_the_users_own_words(model, make_ctx, embedder):
    from core.methods import rpm

    text_task = Task(kind="text", name="tweet", instruction="Paraphrase the following tweet:")
    prof = make_profile(task=text_task, embedder=embedder, outputs={i: t for i, t, _ in ITEMS})
    rewrite = "The battery died within seven days of the phone."
    model.script = lambda prompt, fmt: rewrite
    ans = get_method("rpm").answer("My phone's power cell expired within seven days.", make_ctx(profile=prof, k=2))
    wording = ans.trace.steps[-1]
    assert wording.name == rpm.WORDING_TITLE and wording.detail.extra["wording"]["chosen"] == "rewrite"
    record = wording.detail.extra["wording"]
    assert record["scores"]["rewrite"] > record["scores"]["given"]
    assert record["meaning"]["restates"] and record["meaning"]["to_given"] > record["meaning"]["to_nearest_own"]
    assert ans.value == rewrite == ans.text


def test_rpm_does_not_keep_a_rewrite_that_copies_an_earlier_text_of_the_user(model, make_ctx, embedder):
    text_task = Task(kind="text", name="tweet", instruction="Paraphrase the following tweet:")
    prof = make_profile(task=text_task, embedder=embedder, outputs={i: t for i, t, _ in ITEMS})
    given = "My phone's power cell expired within seven days."
    model.script = lambda prompt, fmt: "The battery died and the charger broke."  # i1's text, not the given one's
    ans = get_method("rpm").answer(given, make_ctx(profile=prof, k=2))
    record = ans.trace.steps[-1].detail.extra["wording"]
    assert record["p_value"] < 0.05  # its words alone would have passed: the user's words
    assert not record["meaning"]["restates"] and record["meaning"]["nearest_own"] == ITEMS[0][1]
    assert record["chosen"] == "given" and ans.value == given


def test_rpm_does_not_compare_a_rewrite_with_the_given_text_written_before(model, make_ctx, embedder):
    text_task = Task(kind="text", name="tweet", instruction="Paraphrase the following tweet:")
    given = "My phone's power cell expired within seven days."
    again = make_profile(task=text_task, embedder=embedder, outputs={i: t for i, t, _ in ITEMS})
    again.items[4] = Item(id="i5", input=given, output=given)  # the same text is not "an earlier text"
    model.script = lambda prompt, fmt: "The battery died within seven days of the phone."
    ans = get_method("rpm").answer(given, make_ctx(profile=again, k=2))
    record = ans.trace.steps[-1].detail.extra["wording"]
    assert record["meaning"]["nearest_own"] != given and record["meaning"]["restates"]


def test_rpm_has_no_wording_step_when_the_history_is_not_the_users_own_texts(model, make_ctx, embedder):
    from core.methods import rpm

    text_task = Task(kind="text", name="headline", instruction="Write a headline for the review:")
    prof = make_profile(task=text_task, embedder=embedder, outputs={i: f"Headline {n}" for n, (i, _, _) in
                                                                   enumerate(ITEMS)})
    model.script = lambda prompt, fmt: "Battery trouble"
    ans = get_method("rpm").answer(QUERY, make_ctx(profile=prof, k=2))
    assert all(s.name != rpm.WORDING_TITLE for s in ans.trace.steps) and ans.value == "Battery trouble"


def test_rpm_holds_the_per_query_part_of_its_prompt_to_query_tokens(model, make_ctx, monkeypatch):
    from core.llm.tokens import count_tokens
    from core.methods import rpm

    model.script = lambda prompt, fmt: answer_json("3")
    long_query = "The battery died within a week and the replacement charger broke the port as well. " * 12
    whole = rpm.RPMMethod().answer(long_query, make_ctx(k=4))  # no cap by default
    sent = model.server.calls()[-1]["body"]["messages"][-1]["content"]  # as sent: fenced, cut
    assert not next(s for s in whole.trace.steps if s.kind == "llm").detail.trimmed
    uncapped = count_tokens(sent[sent.index(f"## {rpm.PATHS_TITLE}"):])
    monkeypatch.setenv(rpm.ENV_QUERY_TOKENS, "300")
    ans = rpm.RPMMethod().answer(long_query, make_ctx(k=4))
    sent = model.server.calls()[-1]["body"]["messages"][-1]["content"]
    late = sent[sent.index(f"## {rpm.PATHS_TITLE}"):]
    assert count_tokens(late) <= 300 < uncapped
    step = next(s for s in ans.trace.steps if s.kind == "llm")
    assert step.detail.trimmed and "Example 1" in unfence(late)  # the strongest demonstration stays


@pytest.mark.parametrize("given", ["ten", "-5", "40"])
def test_rpm_query_tokens_must_be_a_whole_number_that_fits_the_input(monkeypatch, given):
    from core.errors import InputError
    from core.methods import rpm

    monkeypatch.setenv(rpm.ENV_QUERY_TOKENS, given)
    with pytest.raises(InputError) as err:
        rpm.RPMMethod()
    assert err.value.problems[0].field == rpm.ENV_QUERY_TOKENS and given in str(err.value)
