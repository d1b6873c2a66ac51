"""rpm's rule fitting says how far it is through AnswerContext.progress, and only when it really fits."""

from __future__ import annotations

from core.methods.rpm import FIT_LABEL, RPMMethod
from tests.methods.test_decision import answer_json, fives_profile


def test_fitting_reports_each_dev_item_in_order_and_a_memo_hit_reports_nothing(model, make_ctx, embedder):
    model.script = lambda prompt, fmt: answer_json("5")
    reports: list[tuple[int, int, str]] = []
    calls_at: list[int] = []

    def hear(done: int, total: int, label: str) -> None:
        reports.append((done, total, label))
        calls_at.append(len(model.prompts))

    ctx = make_ctx(profile=fives_profile(embedder), k=3, progress=hear)
    ans = RPMMethod(dev_size=12).answer("The phone came today.", ctx)
    assert ans.trace.steps[-1].detail.decision["n_dev"] == 12
    # n + 1 reports: before the first dev item, then after each one, as its answering call returns
    assert reports == [(n, 12, FIT_LABEL) for n in range(13)]
    assert calls_at == list(range(13))
    assert len(model.prompts) == 13  # the dev items' answers, then the query's
    # the rule now comes from the memo (also for an ablated copy): nothing to report
    RPMMethod(dev_size=12).answer("Another phone parcel.", ctx)
    RPMMethod(dev_size=12).answer("Another phone parcel.", ctx.ablated(summary=True))
    assert len(reports) == 13


def test_a_listener_changes_no_answer_and_short_histories_report_nothing(model, make_ctx, embedder):
    model.script = lambda prompt, fmt: answer_json("1")
    heard: list[tuple[int, int, str]] = []
    quiet = RPMMethod(dev_size=12).answer("The phone came today.", make_ctx(profile=fives_profile(embedder), k=3))
    loud = RPMMethod(dev_size=12).answer("The phone came today.",
                                         make_ctx(profile=fives_profile(embedder), k=3,
                                                  progress=lambda *a: heard.append(a)))
    assert (loud.text, loud.value) == (quiet.text, quiet.value) and len(heard) == 13
    heard.clear()
    RPMMethod().answer("The battery died.", make_ctx(k=3, progress=lambda *a: heard.append(a)))
    assert heard == []  # six items: fewer dev items than a rule needs, so no dev answers and no progress
