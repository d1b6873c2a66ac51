from __future__ import annotations

from core.data.model import Item, Task
from core.llm.tokens import count_tokens
from core.stages.paths import TemplatePathWriter, check_path, choose_hops
from core.stages.summary import TemplateSummarizer, edit_summary, summary_token_report
from core.stages.types import NOISE_ID, Factor, FactorStats, Feature

SCORE = Task(kind="score")


def test_template_summary_names_the_durability_factor_first(built):
    p = built.profile
    text = p.summary
    assert text.startswith("Rates 3.")
    first = text.split(". ", 1)[1]
    assert first.startswith("Strongly lowers ratings when") and p.factors[0].name in first
    assert p.summary_version == built.ws.latest_summary("dura", "ava")["version"]
    assert built.ws.latest_summary("dura", "ava")["source"] == "generated"
    report = summary_token_report(text, p.items)
    assert report["summary_tokens"] == count_tokens(text)
    assert report["history_tokens"] > report["summary_tokens"] > 0
    assert 0 < report["ratio"] < 1


def test_summary_versions_and_edits(tmp_path):
    from core.store.workspace import Workspace

    ws = Workspace(tmp_path / "w.sqlite")
    v = edit_summary(ws, "d", "u", "  Hates   flimsy things. ", note="tightened")
    assert v == 1
    latest = ws.latest_summary("d", "u")
    assert latest["text"] == "Hates flimsy things." and latest["source"] == "edited" and latest["note"] == "tightened"
    ws.close()


def test_template_summary_for_labels_and_pinned_first():
    task = Task(kind="label", labels=("pos", "neg"))
    items = [Item("a", "t", "pos"), Item("b", "t", "pos"), Item("c", "t", "neg")]
    weak = Factor("F1", "Weak", stats=FactorStats(n_items=1, coverage=0.3, lift={"neg": 3.0}, top_label="neg"))
    pinned = Factor("F2", "Pinned", pinned=True,
                    stats=FactorStats(n_items=1, coverage=0.3, lift={"pos": 1.1}, top_label="pos"))
    text = TemplateSummarizer().summarize([weak, pinned], items, task)
    assert text.startswith("Most often answers 'pos' (67% of 3 items).")
    assert text.index("Pinned") < text.index("Weak") and "(pinned)" in text
    assert "lift 3.0x" in text


def _factor(fid: str, infl: float | None) -> Factor:
    return Factor(fid, fid, stats=FactorStats(n_items=2, coverage=0.5, influence=infl))


def test_paths_hops_strongest_first_and_consistency_rules():
    feats = [Feature("i#0", "i", "nice colour", "design", "raised", 0.4, "e"),
             Feature("i#1", "i", "zipper broke", "durability", "lowered", 0.9, "e"),
             Feature("i#2", "i", "odd", "misc", "neutral", 0.9, "e")]
    factors = {"D": _factor("D", -2.0), "C": _factor("C", 0.3), NOISE_ID: Factor(NOISE_ID, "Unclustered")}
    assign = {"i#0": "C", "i#1": "D", "i#2": NOISE_ID}
    hops = choose_hops(feats, factors, assign)
    assert [f.id for _, f in hops] == ["D", "C"]  # noise left out when real factors exist
    items = [Item("i", "t", "1"), Item("j", "t", "5")]
    paths = TemplatePathWriter().write(items, {"i": feats}, list(factors.values()), assign, SCORE)
    p = paths["i"]
    assert p.text == ('mentions "zipper broke" -> D (influence -2.0 stars); mentions "nice colour" -> '
                      'C (influence +0.3 stars) -> rated 1')
    assert p.consistent
    assert paths["j"].text == "no features found -> rated 5" and paths["j"].consistent
    mean = 3.0
    # a hop claiming 'raised' through a factor that lowers ratings is inconsistent
    bad = [{"factor_id": "D", "direction": "raised"}]
    assert not check_path(bad, Item("x", "t", "1"), factors, SCORE, mean)
    # net influence negative but the item was rated well above the mean: inconsistent
    assert not check_path([{"factor_id": "D", "direction": "lowered"}], Item("x", "t", "5"), factors, SCORE, mean)
    assert check_path([{"factor_id": "D", "direction": "lowered"}], Item("x", "t", "3"), factors, SCORE, mean)


def test_built_paths_cover_every_item_and_mostly_agree(built):
    p = built.profile
    assert set(p.paths) == {it.id for it in p.items}
    broke = [it for it in p.items if it.output in ("1", "2")]
    for it in broke:
        path = p.paths[it.id]
        assert path.steps[0]["factor_id"] == p.factors[0].id, path.text
        assert path.text.endswith(f"rated {it.output}")
    share = sum(x.consistent for x in p.paths.values()) / len(p.paths)
    assert share > 0.5  # measured 1.0 on this CPU and the simulated other one (Makefile's OTHER_CPU)


def test_template_summary_states_only_significant_effects_unless_too_few():
    def factor(fid, name, infl, lo, hi, cov=0.3, pinned=False):
        st = FactorStats(n_features=6, n_items=6, coverage=cov, influence=infl, ci_low=lo, ci_high=hi)
        return Factor(id=fid, name=name, feature_ids=[f"{fid}#0"], stats=st, pinned=pinned)

    items = [Item(f"i{k}", "x", str(1 + k % 5)) for k in range(10)]
    strong = factor("F1", "Breakage", -1.8, -2.4, -1.2)
    wide = factor("F2", "Colour", 1.5, -0.3, 3.3, cov=0.6)  # bigger |effect| * coverage, but not significant
    sure = factor("F3", "Fast shipping", 0.8, 0.2, 1.4)
    text = TemplateSummarizer().summarize([strong, wide, sure], items, SCORE)
    assert "Breakage" in text and "Fast shipping" in text and "Colour" not in text
    pinned = factor("F4", "Colour", 1.5, -0.3, 3.3, pinned=True)
    assert "“Colour”" in TemplateSummarizer().summarize([strong, pinned], items, SCORE)  # pinned is always stated
    only_weak = TemplateSummarizer().summarize([strong, wide], items, SCORE)
    assert "May raise ratings when “Colour”" in only_weak and "not significant" in only_weak
