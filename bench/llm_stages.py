"""Which profile stages should the default local model run with the LLM? Each stage's LLM vs deterministic version.

Usage::

    INFLOW_LLAMA_THREADS=1 python bench/llm_stages.py            # the measured section of docs/LLM_STAGES.md
    INFLOW_LLAMA_THREADS=1 python bench/llm_stages.py --quick    # smaller samples, prints only
    python bench/llm_stages.py --model qwen2.5-coder-0.5b --no-write

On one real LaMP-3 user (``../shared/data/lamp3_users``, :func:`bench.tokens.load_lamp3_users`: the
last 20% of each user's reviews are queries and are never used to build anything) the profile is
built once with the deterministic stages (lexicon features, keyword names, template summary and
paths). Then each of the four model stages is run with the local model on the same input and
compared with its deterministic version:

* **features**: a sample of history items, half rated below the user's mean and half above (so a
  constant direction scores 50%), each spread evenly over the history. Per version: share of items
  with a feature, features per item, share of features whose evidence is an exact substring of the
  item (*grounded*; the LLM's are counted before :func:`core.stages.features.validate_features`
  trims or drops them), and the share of directed features (raised / lowered) whose direction
  agrees with the item's rating against the user's mean (ties within 0.25 not counted). The
  lexicon's directions are taken *before* the data check corrects them (:mod:`core.stages.directions`).
* **names**: every factor of the built profile named by :class:`core.stages.naming.LLMNamer` and
  by :class:`core.stages.naming.KeywordNamer`: coherence (mean NPMI of the name's words with the
  reviews holding the factor's features, :func:`bench.factor_quality.coherence`), distinct names,
  and how many factors kept their phrase name because the model's was rejected twice.
* **summary**: the template summary and one written by :class:`core.stages.summary.LLMSummarizer`
  from the same factors; the ``summary`` answering method answers the user's first held-out
  queries with each, MAE next to the no-model ``majority`` and ``user-mean`` on the same queries.
* **paths**: the same item sample; share of paths consistent with the known response
  (:func:`core.stages.paths.check_path`) and share with at least one hop.

Cost is the wall time of each model call on this machine (1 thread: ``INFLOW_LLAMA_THREADS=1``),
projected to the whole history by *calls a build makes x mean seconds per call*: one call per item
for features and paths, one per factor (plus redos) for names, one for the summary. The load
average is recorded: the 2 cores are shared.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.doc_section import replace_section  # noqa: E402
from bench.factor_quality import coherence, name_words  # noqa: E402
from bench.tokens import LAMP3, load_lamp3_users  # noqa: E402
from core.data.model import Dataset, Item, Query, Task  # noqa: E402
from core.embed.base import Embedder  # noqa: E402
from core.evaluate.baselines import global_majority, user_mean  # noqa: E402
from core.llm.client import LLMClient  # noqa: E402
from core.methods.context import AnswerContext  # noqa: E402
from core.methods.summary import SummaryMethod  # noqa: E402
from core.stages.features import feature_request, validate_features  # noqa: E402
from core.stages.lexicon import LexiconFeatureExtractor  # noqa: E402
from core.stages.naming import KeywordNamer, LLMNamer, has_form, word_forms  # noqa: E402
from core.stages.paths import LLMPathWriter, TemplatePathWriter  # noqa: E402
from core.stages.pipeline import build_profile  # noqa: E402
from core.stages.profile import PipelineSettings, Profile  # noqa: E402
from core.stages.summary import LLMSummarizer  # noqa: E402
from core.stages.text import STOP_WORDS, words  # noqa: E402
from core.stages.types import Feature  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402

# the measured section of the doc sits between these markers; the decision below them is written by hand
DOC = ROOT / "docs" / "LLM_STAGES.md"
BEGIN, END = "<!-- llm_stages:begin -->", "<!-- llm_stages:end -->"
DEFAULT_USER = "u00005020"
TIE = 0.25  # a rating within this of the user's mean has no expected direction (as in core.stages.paths)
FULL = {"features": 6, "paths": 6, "queries": 20}
QUICK = {"features": 3, "paths": 3, "queries": 6}


# -- samples ---------------------------------------------------------------------------------------
def expected_direction(item: Item, task: Task, mean: float) -> str | None:
    """``raised`` / ``lowered`` when the item's rating is above / below the user's mean by more than :data:`TIE`."""
    score = task.parse_score(item.output)
    if score is None or abs(score - mean) <= TIE:
        return None
    return "raised" if score > mean else "lowered"


def spread(items: list[Item], n: int) -> list[Item]:
    """``n`` items spread evenly over ``items`` (all of them when there are no more than ``n``)."""
    if len(items) <= n:
        return list(items)
    return [items[round(i * (len(items) - 1) / max(1, n - 1))] for i in range(n)] if n > 1 else [items[0]]


def sample_items(items: list[Item], task: Task, n: int) -> list[Item]:
    """Half (rounded down) of ``n`` items rated below the user's mean, the rest above, each spread over the history."""
    mean = _mean(items, task)
    low = [it for it in items if expected_direction(it, task, mean) == "lowered"]
    high = [it for it in items if expected_direction(it, task, mean) == "raised"]
    n_low = min(len(low), n // 2)
    chosen = {it.id for it in spread(low, n_low) + spread(high, n - n_low)}
    return [it for it in items if it.id in chosen]  # history order


def _mean(items: list[Item], task: Task) -> float:
    scores = [s for s in (task.parse_score(it.output) for it in items) if s is not None]
    return statistics.fmean(scores) if scores else 0.0


class Stopwatch:
    """Wall and CPU seconds since the last lap.

    CPU seconds are this process's, llama.cpp's thread included: what a call costs on a free core.
    On the shared machine wall seconds also hold the waits for the other processes (and any pause).
    """

    def __init__(self) -> None:
        """Start."""
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        """Return ``(wall, cpu)`` seconds since the start or the previous lap, and start again."""
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def load_average() -> str:
    """The 1-minute load average now (``n/a`` where the OS has none)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


# -- features --------------------------------------------------------------------------------------
def feature_quality(items: list[Item], task: Task, raw: dict[str, list[dict[str, Any]]],
                    kept: dict[str, list[Feature]], mean: float) -> dict[str, Any]:
    """Coverage, grounding and direction agreement of features (``raw``: as extracted, ``kept``: as stored)."""
    n_raw = sum(len(v) for v in raw.values())
    grounded = sum(1 for it in items for f in raw.get(it.id, []) if _grounded(str(f.get("evidence", "")), it.input))
    directed = agree = 0
    for it in items:
        want = expected_direction(it, task, mean)
        for f in raw.get(it.id, []):
            d = str(f.get("direction", ""))
            if want is None or d not in ("raised", "lowered"):
                continue
            directed += 1
            agree += d == want
    n_kept = sum(len(kept.get(it.id, [])) for it in items)
    specific = sum(1 for it in items for f in raw.get(it.id, []) if _specific(str(f.get("phrase", "")), it.input))
    ev_words = [len(str(f.get("evidence", "")).split()) for it in items for f in raw.get(it.id, [])]
    return {"items": len(items), "with_feature": sum(1 for it in items if kept.get(it.id)),
            "raw": n_raw, "kept": n_kept, "grounded": grounded, "specific": specific, "directed": directed,
            "agree": agree, "evidence_words": statistics.median(ev_words) if ev_words else 0}


def _specific(phrase: str, text: str) -> bool:
    """True when a word of the phrase that can carry meaning (or a form of it) occurs in the item text.

    A phrase that shares no such word with its item ("concrete properties", "themes") repeats the
    prompt's wording instead of saying what is in the review.
    """
    forms = word_forms(" ".join(w for w in words(text) if w not in STOP_WORDS))  # "themes" must not match "the"
    return any(has_form(w, forms) for w in name_words(phrase))


def _grounded(evidence: str, text: str) -> bool:
    """True when the evidence (whitespace normalised) is a non-empty exact substring of the item text."""
    ev = " ".join(evidence.split())
    return bool(ev) and ev in " ".join(text.split())


def measure_features(client: LLMClient, items: list[Item], task: Task, mean: float) -> dict[str, Any]:
    """Run both extractors on ``items``: timings and :func:`feature_quality` of each."""
    lex = LexiconFeatureExtractor()
    t0 = time.perf_counter()
    lex_out = lex.extract(items, task)
    lex_s = time.perf_counter() - t0
    lex_raw = {iid: [f.to_dict() for f in fs] for iid, fs in lex_out.items()}
    raw: dict[str, list[dict[str, Any]]] = {}
    kept: dict[str, list[Feature]] = {}
    seconds, cpu, tokens_out = [], [], []
    for it in items:
        watch = Stopwatch()
        res = client.chat(feature_request(it, task))
        wall, used = watch.lap()
        seconds.append(wall)
        cpu.append(used)
        tokens_out.append(res.tokens_out)
        feats = res.parsed.model_dump()["features"] if res.parsed is not None else []
        raw[it.id] = feats
        kept[it.id] = validate_features(it, feats, task)
        print(f"  features {len(seconds)}/{len(items)}: {seconds[-1]:.1f} s ({cpu[-1]:.1f} s CPU), {len(feats)} raw, "
              f"{len(kept[it.id])} kept", file=sys.stderr)
    return {"llm": {**feature_quality(items, task, raw, kept, mean), "seconds": seconds, "cpu": cpu,
                    "tokens_out": tokens_out},
            "lexicon": {**feature_quality(items, task, lex_raw, lex_out, mean), "seconds": [lex_s / len(items)]},
            "examples": [(it.input[:160], it.output, raw[it.id][:2]) for it in items[:2]], "raw": raw}


# -- names -----------------------------------------------------------------------------------------
def measure_names(client: LLMClient, profile: Profile, vectors: dict[str, Any] | None = None) -> dict[str, Any]:
    """Name the profile's factors with both namers; coherence, distinct names, rejections and seconds."""
    by_id = {f.id: f for f in profile.all_features()}
    kw = KeywordNamer().name_factors(copy.deepcopy(profile.factors), by_id, vectors)
    namer = LLMNamer(client)
    watch = Stopwatch()
    llm = namer.name_factors(copy.deepcopy(profile.factors), by_id, vectors)
    seconds, cpu = watch.lap()
    real = [f.id for f in profile.factors if not f.is_noise and f.feature_ids]
    kw_names = {f.id: f.name for f in kw}
    llm_names = {f.id: f.name for f in llm}
    calls = len(real) + len(namer.rejected)  # every factor once, and once more each one rejected the first time
    kept_phrase = sum(1 for fid in real if llm_names[fid] == kw_names[fid])
    print(f"  names: {len(real)} factors, {calls} calls, {seconds:.1f} s ({cpu:.1f} s CPU)", file=sys.stderr)
    return {"factors": len(real), "seconds": seconds, "cpu": cpu, "calls": calls,
            "rejected": sum(len(v) for v in namer.rejected.values()), "failures": len(namer.failures),
            "kept_phrase": kept_phrase,
            "keywords": {"coherence": coherence(profile, kw_names),
                         "distinct": len({kw_names[f].lower() for f in real}), "names": [kw_names[f] for f in real]},
            "llm": {"coherence": coherence(profile, llm_names),
                    "distinct": len({llm_names[f].lower() for f in real}), "names": [llm_names[f] for f in real]}}


# -- summary ---------------------------------------------------------------------------------------
def answer_mae(client: LLMClient, embedder: Embedder, profile: Profile, task: Task, queries: list[Query],
               summary: str) -> dict[str, Any]:
    """MAE of the ``summary`` method answering ``queries`` with ``summary`` as the profile's summary."""
    ctx = AnswerContext(task=task, profile=replace(profile, summary=summary), client=client, embedder=embedder)
    errs, seconds, cpu = [], [], []
    for q in queries:
        watch = Stopwatch()
        ans = SummaryMethod().answer(q.input, ctx)
        wall, used = watch.lap()
        seconds.append(wall)
        cpu.append(used)
        errs.append(_error(ans.value if ans.value is not None else ans.text, q.gold, task))
    return {"mae": statistics.fmean(errs), "seconds": seconds, "cpu": cpu}


def _error(pred: Any, gold: Any, task: Task) -> float:
    """Absolute error of a score prediction; the scale's width when it is not a score."""
    p, g = task.parse_score(str(pred)), task.parse_score(str(gold))
    if p is None or g is None:
        return float(task.score_max - task.score_min)
    return abs(p - g)


def measure_summary(client: LLMClient, embedder: Embedder, profile: Profile, task: Task, queries: list[Query],
                    majority: str | None) -> dict[str, Any]:
    """Write the LLM summary; answer ``queries`` with it and with the template one; baselines on the same queries."""
    watch = Stopwatch()
    text = LLMSummarizer(client).summarize(profile.factors, profile.items, task)
    seconds, cpu = watch.lap()
    print(f"  summary written: {seconds:.1f} s ({cpu:.1f} s CPU)", file=sys.stderr)
    out = {"seconds": seconds, "cpu": cpu, "template_text": profile.summary, "llm_text": text, "queries": len(queries)}
    for name, summary in (("template", profile.summary), ("llm", text)):
        out[name] = answer_mae(client, embedder, profile, task, queries, summary)
        print(f"  summary={name}: MAE {out[name]['mae']:.3f}", file=sys.stderr)
    mean = user_mean(profile.items, task)
    out["majority"] = statistics.fmean(_error(majority, q.gold, task) for q in queries)
    out["user-mean"] = statistics.fmean(_error(mean, q.gold, task) for q in queries)
    return out


# -- paths -----------------------------------------------------------------------------------------
def measure_paths(client: LLMClient, profile: Profile, sample: list[Item]) -> dict[str, Any]:
    """Template and LLM paths of the sampled items (the user's mean taken over the whole history)."""
    task = profile.task
    ids = {it.id for it in sample}
    feats = {iid: fs for iid, fs in profile.features.items() if iid in ids}
    template = TemplatePathWriter().write(profile.items, profile.features, profile.factors, profile.assignments, task)
    writer = LLMPathWriter(client)
    seconds: list[float] = []
    cpu: list[float] = []
    watch = Stopwatch()

    def tick(done: int, total: int) -> None:  # the local client makes one call at a time: a tick is one call
        wall, used = watch.lap()
        seconds.append(wall)
        cpu.append(used)
        print(f"  paths {done}/{total}: {wall:.1f} s ({used:.1f} s CPU)", file=sys.stderr)

    llm = writer.write(profile.items, feats, profile.factors, profile.assignments, task, progress=tick)
    asked = [it for it in sample if feats.get(it.id)]

    def stats(paths: dict[str, Any], of: list[Item]) -> dict[str, int]:
        # a path without hops is trivially consistent: only paths that explain something count as consistent
        return {"n": len(of), "consistent": sum(1 for it in of if paths[it.id].consistent and paths[it.id].steps),
                "with_hop": sum(1 for it in of if paths[it.id].steps)}

    return {"asked": len(asked), "failures": len(writer.failures), "seconds": seconds, "cpu": cpu,
            "template": stats(template, asked), "llm": stats(llm, asked),
            "examples": [(template[it.id].text, llm[it.id].text) for it in asked[:2]]}


# -- the run ---------------------------------------------------------------------------------------
def run(client: LLMClient, embedder: Embedder, history: Dataset, queries: list[Query], *, user: str,
        n_features: int, n_paths: int, n_queries: int, workspace: Path) -> dict[str, Any]:
    """Build ``user``'s deterministic profile and measure each stage (see the module docstring)."""
    task = history.task
    ws = Workspace(workspace)
    try:
        ws.add_dataset(history)
        t0 = time.perf_counter()
        profile = build_profile(ws, history.name, user, client=None, embedder=embedder,
                                settings=PipelineSettings(extractor="lexicon", namer="keywords",
                                                          summarizer="template", paths="template"))
        build_s = time.perf_counter() - t0
        items = profile.items
        mean = _mean(items, task)
        loads = [load_average()]
        res: dict[str, Any] = {"user": user, "items": len(items), "build_s": build_s, "mean": mean,
                               "factors": sum(1 for f in profile.factors if not f.is_noise and f.feature_ids),
                               "features_total": len(profile.all_features()),
                               "items_with_features": sum(1 for it in items if profile.features.get(it.id)),
                               "history_items_all_users": sum(len(u.items) for u in history.users)}
        print(f"{user}: {len(items)} items, deterministic build {build_s:.1f} s", file=sys.stderr)
        res["features"] = measure_features(client, sample_items(items, task, n_features), task, mean)
        loads.append(load_average())
        res["names"] = measure_names(client, profile)
        loads.append(load_average())
        mine = [q for q in queries if q.user_id == user][:n_queries]
        res["summary"] = measure_summary(client, embedder, profile, task, mine,
                                         global_majority([u.items for u in history.users], task))
        loads.append(load_average())
        res["paths"] = measure_paths(client, profile, sample_items(items, task, n_paths))
        loads.append(load_average())
        res["loads"] = loads
        return res
    finally:
        ws.close()


# -- the report ------------------------------------------------------------------------------------
def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({a / b:.0%})" if b else "0/0"


def _s(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else 0.0


def _hm(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.1f} min"


def render(res: dict[str, Any], *, model: str, command: str, minutes: float, when: str) -> str:
    """The Markdown report (docs/LLM_STAGES.md)."""
    fe, na, su, pa = res["features"], res["names"], res["summary"], res["paths"]
    n_items, all_items = res["items"], res["history_items_all_users"]
    fl, fx = fe["llm"], fe["lexicon"]
    feat_cpu, path_cpu = _s(fl["cpu"]), _s(pa["cpu"])
    name_cpu = na["cpu"] / max(1, na["calls"])
    lines = [
        BEGIN, "",
        f"Measured by `{command}`, finished {when}, {minutes:.1f} min wall, local model `{model}`, 1 thread "
        f"(`INFLOW_LLAMA_THREADS=1`), on the project's shared 2-core machine: 1-minute load average "
        f"{' / '.join(res['loads'])} (start / after features / names / summary / paths). "
        f"LaMP-3 user {res['user']}: {n_items} history reviews (the last 20% held out as queries, never "
        f"built on), mean rating {res['mean']:.2f}; its deterministic build has "
        f"{res['features_total']} lexicon features, {res['factors']} factors. How each figure is made: the module "
        "docstring of `bench/llm_stages.py`.", "",
        "## Cost", "",
        "*CPU s* is the process's CPU time per call, every thread counted: what a call costs on a free core "
        "(llama.cpp may evaluate a prompt on a second thread when one is idle, so CPU s can exceed wall s). "
        "*Wall s* is what it took here, waits for the other processes on the shared cores included. "
        "Projected = calls a build makes x mean CPU s per call (features and paths: one call per history item; "
        f"names: one per factor plus one per rejected name; summary: one), on one free core. All five LaMP-3 users "
        f"hold {all_items} history reviews.", "",
        "| stage | calls measured | mean CPU s per call | mean wall s per call | projected, this user | "
        "projected, all five users | deterministic |", "|---|---:|---:|---:|---:|---:|---|",
        f"| features | {len(fl['cpu'])} | {feat_cpu:.1f} | {_s(fl['seconds']):.1f} | {_hm(feat_cpu * n_items)} | "
        f"{_hm(feat_cpu * all_items)} | lexicon {fx['seconds'][0] * 1000:.1f} ms per item |",
        f"| names | {na['calls']} ({na['factors']} factors) | {name_cpu:.1f} | "
        f"{na['seconds'] / max(1, na['calls']):.1f} | {_hm(na['cpu'])} | {_hm(5 * na['cpu'])} (5 x this user) | "
        "keywords, no call |",
        f"| summary | 1 | {su['cpu']:.1f} | {su['seconds']:.1f} | {_hm(su['cpu'])} | {_hm(5 * su['cpu'])} | "
        "template, no call |",
        f"| paths | {len(pa['cpu'])} | {path_cpu:.1f} | {_s(pa['seconds']):.1f} | "
        f"{_hm(path_cpu * res['items_with_features'])} ({res['items_with_features']} items with features) | "
        f"{_hm(path_cpu * all_items)} | template, no call |",
        f"| (answering with a summary) | {2 * su['queries']} | "
        f"{_s(su['template']['cpu'] + su['llm']['cpu']):.1f} | "
        f"{_s(su['template']['seconds'] + su['llm']['seconds']):.1f} | per query | | |",
        "", "## Quality", "",
        f"**Features** ({fl['items']} sampled reviews, half rated below the user's mean and half above; a constant "
        "direction agrees 50% of the time on such a sample):", "",
        "| extractor | reviews with a feature (kept) | features (raw -> kept) | evidence an exact substring "
        "(grounded, raw) | median evidence words | phrase uses a word of its review (raw) | direction agrees with "
        "the rating |", "|---|---:|---:|---:|---:|---:|---:|",
        *(f"| {name} | {_pct(d['with_feature'], d['items'])} | {d['raw']} -> {d['kept']} | "
          f"{_pct(d['grounded'], d['raw'])} | {d['evidence_words']:g} | {_pct(d['specific'], d['raw'])} | "
          f"{_pct(d['agree'], d['directed'])} |" for name, d in (("LLM", fl), ("lexicon (before the data check)", fx))),
        "",
        f"**Names** ({na['factors']} factors of the built profile; coherence = mean NPMI of the name's words with the "
        "reviews that hold the factor's features, -1..1, higher is better):", "",
        "| namer | coherence (NPMI) | distinct names | note |", "|---|---:|---:|---|",
        f"| LLM | {_c(na['llm']['coherence'])} | {na['llm']['distinct']}/{na['factors']} | {na['rejected']} names "
        f"rejected by the support check, {na['kept_phrase']} factors kept their phrase name, {na['failures']} failed "
        "calls |",
        f"| keywords (phrase names) | {_c(na['keywords']['coherence'])} | {na['keywords']['distinct']}/{na['factors']}"
        " | |", "",
        "LLM names: " + "; ".join(f"“{n}”" for n in na["llm"]["names"]), "",
        "Phrase names: " + "; ".join(f"“{n}”" for n in na["keywords"]["names"]), "",
        f"**Summary** (the `summary` method answers the user's first {su['queries']} held-out reviews with each "
        "summary; MAE, lower is better; the no-model baselines predict the same reviews):", "",
        "| summary | MAE | median CPU s per answer |", "|---|---:|---:|",
        f"| template | {su['template']['mae']:.3f} | {statistics.median(su['template']['cpu']):.1f} |",
        f"| LLM-written | {su['llm']['mae']:.3f} | {statistics.median(su['llm']['cpu']):.1f} |",
        f"| `majority` (no model) | {su['majority']:.3f} | - |",
        f"| `user-mean` (no model) | {su['user-mean']:.3f} | - |", "",
        f"Template summary: {_quote(su['template_text'])}", "",
        f"LLM summary: {_quote(su['llm_text'])}", "",
        f"**Paths** ({pa['asked']} sampled reviews with features, same sampling as the features; consistent = agrees "
        "with the factor statistics and the known rating, `core.stages.paths.check_path`, and has at least one hop):",
        "",
        "| writer | consistent | with at least one hop |", "|---|---:|---:|",
        f"| LLM | {_pct(pa['llm']['consistent'], pa['llm']['n'])} | {_pct(pa['llm']['with_hop'], pa['llm']['n'])} |",
        f"| template | {_pct(pa['template']['consistent'], pa['template']['n'])} | "
        f"{_pct(pa['template']['with_hop'], pa['template']['n'])} |", "",
        f"{pa['failures']} LLM path calls failed (template path used).", "",
    ]
    for t, llm in pa["examples"]:
        lines += [f"- template: {_quote(t)}", f"  LLM: {_quote(llm)}"]
    return "\n".join([*lines, "", END])


def write_section(section: str, path: Path = DOC) -> None:
    """Replace the marked section of ``path`` (appending it, or creating the file, when the markers are missing)."""
    replace_section(path, section, BEGIN, END, "# Profile stages with the local model")


def _c(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3f}"


def _quote(text: str) -> str:
    """Model text shown as data in Markdown: one line, backticks and pipes neutralised."""
    return "“" + " ".join(str(text).split()).replace("`", "'").replace("|", "/") + "”"


def main(argv: list[str] | None = None) -> int:
    """Measure on the local model and write docs/LLM_STAGES.md (unless ``--no-write``)."""
    from core.embed.factory import default_embedder_kind, make_embedder
    from core.llm.factory import make_client
    from core.llm.settings import BackendSettings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b", help="local model name (core.llm.local_models)")
    ap.add_argument("--user", default=DEFAULT_USER)
    ap.add_argument("--quick", action="store_true", help="smaller samples; prints only (implies --no-write)")
    ap.add_argument("--features", type=int, help=f"reviews sampled for features (default {FULL['features']})")
    ap.add_argument("--paths", type=int, help=f"reviews sampled for paths (default {FULL['paths']})")
    ap.add_argument("--queries", type=int, help=f"held-out reviews answered per summary (default {FULL['queries']})")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--json", type=Path, help="also save the raw figures here")
    ap.add_argument("--from-json", type=Path, help="render a saved --json run (with its command) instead of measuring")
    args = ap.parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text(encoding="utf-8"))
        report = render(saved["result"], model=saved["model"], command=saved["command"], minutes=saved["minutes"],
                        when=saved["when"])
        print(report)
        if not args.no_write:
            write_section(report, DOC)
        return 0
    if not LAMP3.is_file():
        print(f"{LAMP3} is absent", file=sys.stderr)
        return 2
    sizes = dict(QUICK if args.quick else FULL)
    for key in sizes:
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    history, queries = load_lamp3_users()
    embedder = make_embedder(default_embedder_kind())
    # no workspace cache: every call is a real model call, so its seconds are what a first build pays
    client = make_client(BackendSettings(kind="local", local_model=args.model), None)
    client.backend.load()  # not part of the first call's seconds
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = run(client, embedder, history, queries, user=args.user, n_features=sizes["features"],
                  n_paths=sizes["paths"], n_queries=sizes["queries"], workspace=Path(tmp) / "stages.sqlite")
    minutes = (time.perf_counter() - t0) / 60.0
    command = "INFLOW_LLAMA_THREADS=1 python bench/llm_stages.py" + (" --quick" if args.quick else "") + "".join(
        f" --{k} {getattr(args, k)}" for k in sizes if getattr(args, k) is not None) + (
        f" --model {args.model}" if args.model != "qwen2.5-coder-1.5b" else "") + (
        f" --user {args.user}" if args.user != DEFAULT_USER else "")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.json:
        args.json.write_text(json.dumps({"result": res, "model": client.capabilities.model, "command": command,
                                         "minutes": minutes, "when": when}, indent=1), encoding="utf-8")
    report = render(res, model=client.capabilities.model, command=command, minutes=minutes, when=when)
    print(report)
    if not (args.no_write or args.quick):
        write_section(report, DOC)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
