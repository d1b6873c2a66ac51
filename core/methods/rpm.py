"""``rpm``: reasoning-level personalization: factors with statistics + summary + reasoning paths.

Steps (each in the trace):

1. ``features``: extract the query's features with the profile's extractor.
2. ``retrieve``: feature-level retrieval of the top ``k`` history items, fused with BM25 by
   reciprocal rank (:func:`rpm_retriever`; documents carry the matched feature pairs and their
   reasoning paths).
3. ``reason``: choose the factors the query touches: the active (not noise, not disabled) factors that the
   retrieved items' matched features belong to (pairs with similarity >= :data:`MATCH_MIN_SIM`), or
   that a query feature is close to (cosine to the factor centroid >= :data:`CENTROID_MIN_SIM`), plus
   every pinned factor; when none is relevant, the :data:`FALLBACK_FACTORS` strongest
   (``|effect| x coverage``). At most :data:`MAX_FACTORS` are shown, pinned first, then by
   ``|effect|``. The retrieved items' paths are re-rendered without hops through disabled factors.
4. ``llm``: the final prompt = summary + the user's strongest factors with statistics
   (:func:`profile_factors`; for closed-set tasks their overall response distribution first and
   the distribution given each factor) + the retrieved items themselves as demonstrations
   (input, the user's response, their reasoning path) + the factors the query touches (named
   when shown above, else in full) + the input. The query-independent part comes first, so
   llama.cpp reuses it from one query to the next (see :mod:`core.llm.choice_scoring`). What
   follows it is evaluated anew for every query and sets how long an answer takes; with
   ``query_tokens`` (or ``$INFLOW_RPM_QUERY_TOKENS``) it is held to that many estimated tokens
   (demonstrations cut first, then the input): faster, at a measured cost in quality, so it is
   off by default (see :class:`RPMMethod`).
5. ``reason`` (closed-set tasks): decide the answer with the user's own decision rule
   (:mod:`core.methods.decision`): the user's prior alone, the model's raw or calibrated option
   scores, or their fusion with the retrieved items' similarity-weighted responses and the
   user's prior, chosen by leave-one-out error on a dev slice of the user's latest history items
   (each answered by this same method without itself): the model rule with the lowest error if
   it beats the prior by more than one standard error, else the prior. The step shows the rule,
   every candidate's dev error, what each candidate would answer, and
   each term's contribution; the rule is fitted once per context and shared with ablated copies,
   so an ablation moves the answer through the same arithmetic.

Disabling a factor removes it from both factor lists, from the paths and from the summary's
sentences that name it; retrieval itself is unchanged (it ranks by feature similarity, not by
factor), so an ablation changes exactly what the model is shown.

With ``AnswerContext.reason_first`` the model first writes, in free text, how this user would see
the input (an ``llm`` step "Reason before answering"), and the answering prompt carries that text.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from typing import Any

import numpy as np

from core.data.model import Item
from core.env import env_int
from core.errors import InputError, Problem
from core.llm.client import LLMClient
from core.llm.tokens import count_tokens
from core.llm.types import ChatRequest
from core.methods import decision
from core.methods.context import AnswerContext
from core.methods.prompting import (
    CLOSED_MAX_TOKENS,
    LLMOutcome,
    call_answer,
    fit_messages,
    format_example,
    prompt_budget,
    truncate,
)
from core.methods.render import describe_factor, factor_record, path_text
from core.methods.steps import retrieve_step
from core.methods.style import StyleModel, check_meaning, choose_wording
from core.methods.summary import SUMMARY_TITLE
from core.methods.types import Answer, RetrievedDoc, Step, StepDetail, Trace
from core.stages.retrieval import FeatureRetriever
from core.stages.stats import effect, strength
from core.stages.types import Factor, Feature

MAX_FACTORS = 6
FALLBACK_FACTORS = 2
CENTROID_MIN_SIM = 0.35
MATCH_MIN_SIM = 0.3
DEV_SIZE = 20  # dev items the decision rule is fitted on (each costs one answering call, cached); with 12,
# one item's one-star error moves a rule's leave-one-out mean by 0.083, about how close candidate rules often are
MIN_DEV_ITEMS = 8  # below this, leave-one-out error is noise: keep the model's raw answer
FIT_LABEL = "Fitting this user's decision rule"  # what the fitting reports through AnswerContext.report
REASON_MAX_TOKENS = 160
REASON_TITLE = "Reasoning about this user and the input (written first)"
REASON_INSTRUCTION = ("Before any answer: in two or three sentences, reason about how this user would respond to "
                      "the input above, from their summary, factors and past items. Do not give the final answer.")
FACTORS_TITLE = "This user's strongest factors (computed from their history)"
PATHS_TITLE = "Similar past items: what this user answered and how they reasoned"
TOUCHED_TITLE = "Factors this input touches"
DEMO_CHARS = 160  # each demonstration's input (~40 tokens): the per-query part of the prompt is what costs time
BM25_WEIGHT = 1.0  # BM25's share in rpm's retrieval (reciprocal-rank fusion with the feature ranking)
FUSE_MIN_ITEMS = 50  # shorter histories: features alone (see rpm_retriever)
SHARED_SECTIONS = 2  # the summary and the strongest factors: the same for every query of the user
SHARED_SHARE = 0.45  # of the prompt budget, at most, for those two
ENV_QUERY_TOKENS = "INFLOW_RPM_QUERY_TOKENS"  # an optional cap on the per-query part of the prompt (see RPMMethod)
MIN_QUERY_TOKENS = 100  # below this not even the input and the answer format fit
TOUCHED_EXTRA = 1  # touched factors outside the shared block shown in a short line
WORDING_TITLE = ("Keep the rewrite or the given wording (the rewrite only if it restates the given text "
                 "and its words are evidently the user's)")
STYLE_TITLE = "How to write the answer"
STYLE_NOTE = ("Write it the way this user writes in the examples above (their words, spelling, casing, "
              "punctuation and length), and keep the input's meaning and as much of its wording as their style allows.")


def select_factors(context: AnswerContext, docs: list[RetrievedDoc], query_features: list[Feature],
                   query_vectors: np.ndarray | None) -> list[tuple[Factor, str]]:
    """Choose the factors to show and why (``matched``, ``query``, ``pinned`` or ``strongest``).

    See the module docstring for the rule.
    """
    active = {f.id: f for f in context.active_factors()}
    reasons: dict[str, str] = {}
    for doc in docs:
        for m in doc.matched:
            fid = m.get("factor_id")
            if fid in active and float(m.get("similarity", 0.0)) >= MATCH_MIN_SIM:
                reasons.setdefault(fid, "matched")
    if query_vectors is not None and len(query_vectors):
        for f in active.values():
            if f.id in reasons or not f.centroid or len(f.centroid) != query_vectors.shape[1]:
                continue
            c = np.asarray(f.centroid, dtype=np.float32)
            norm = float(np.linalg.norm(c))
            if norm > 0 and float((query_vectors @ (c / norm)).max()) >= CENTROID_MIN_SIM:
                reasons[f.id] = "query"
    for f in active.values():
        if f.pinned:
            reasons[f.id] = "pinned"
    if not any(r != "pinned" for r in reasons.values()):
        for f in sorted(active.values(), key=lambda f: (-strength(f), f.id))[:FALLBACK_FACTORS]:
            reasons.setdefault(f.id, "strongest")
    chosen = sorted(reasons, key=lambda fid: (not active[fid].pinned, -abs(effect(active[fid].stats)), fid))
    pinned = [fid for fid in chosen if active[fid].pinned]
    rest = [fid for fid in chosen if not active[fid].pinned][: max(0, MAX_FACTORS - len(pinned))]
    return [(active[fid], reasons[fid]) for fid in pinned + rest]


def factor_distribution(context: AnswerContext, factor: Factor) -> str:
    """Return the user's responses given ``factor`` next to their overall responses, as one phrase.

    Closed-set tasks only (``""`` otherwise): ``P(response | this factor): 1 40%, 2 60% (5 items)``
    over the items holding a feature of the factor; the overall distribution heads the factor
    block once (:func:`overall_distribution`). Options nobody chose are left out.
    """
    options = context.answer_choices
    if not options or context.task.kind not in ("score", "label"):
        return ""
    items = {f.item_id for f in context.profile.all_features() if context.profile.assignments.get(f.id) == factor.id}
    given = [it.output for it in context.profile.items if it.id in items]

    def dist(outputs: list[str]) -> str:
        counts = Counter(decision.option_index(options, o, context.task) for o in outputs)
        n = sum(v for k, v in counts.items() if k is not None)
        return ", ".join(f"{options[i]} {counts[i] / n:.0%}" for i in range(len(options)) if counts[i]) if n else "-"

    return f"P(response | this factor): {dist(given)} ({len(given)} items)"


def overall_distribution(context: AnswerContext) -> str:
    """The user's response distribution over all their items, ``P(response): ...`` (closed-set tasks; else ``""``)."""
    options = context.answer_choices
    if not options or context.task.kind not in ("score", "label"):
        return ""
    counts = Counter(decision.option_index(options, it.output, context.task) for it in context.profile.items)
    n = sum(v for k, v in counts.items() if k is not None)
    if not n:
        return ""
    dist = ", ".join(f"{options[i]} {counts[i] / n:.0%}" for i in range(len(options)) if counts[i])
    return f"P(response) over all {n} of their items: {dist}"


def demonstrations(context: AnswerContext, docs: list[RetrievedDoc]) -> str:
    """Render the retrieved items as demonstrations: input, the user's response, their reasoning path.

    Each input is cut to :data:`DEMO_CHARS` (or the context's ``max_history_chars``, if smaller):
    the demonstrations are the part of the prompt that changes with every query, so they are what
    llama.cpp evaluates anew each time.
    """
    blocks = []
    noise = {f.id for f in context.profile.factors if f.is_noise}
    for n, doc in enumerate(docs, 1):
        item = context.item(doc.id)
        if item is None:
            continue
        if own_text(item):
            # a history of the user's own texts (LaMP-7's tweets): input and response are one text,
            # shown once and whole enough to carry the user's style; a path that only goes through
            # Unclustered says nothing about them
            lines = [f"Example {n}", f"The user wrote: {truncate(item.output, context.max_history_chars)}"]
            path = context.profile.paths.get(doc.id)
            if doc.path and path is not None and any(h.get("factor_id") not in noise for h in path.steps):
                lines.append(f"How they reasoned: {doc.path}")
            blocks.append("\n".join(lines))
            continue
        lines = [f"Example {n}", format_example(item, min(DEMO_CHARS, context.max_history_chars))]
        if doc.path:
            lines.append(f"How they reasoned: {doc.path}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def profile_factors(context: AnswerContext) -> list[Factor]:
    """The factors every prompt of the user shows: pinned ones, then the strongest (``|effect| x coverage``).

    At most :data:`MAX_FACTORS`; they do not depend on the query, so they sit in the prompt's
    shared prefix.
    """
    active = context.active_factors()
    pinned = sorted((f for f in active if f.pinned), key=lambda f: f.id)
    rest = sorted((f for f in active if not f.pinned), key=lambda f: (-strength(f), f.id))
    return [*pinned, *rest][: max(MAX_FACTORS, len(pinned))]


def profile_factor_block(context: AnswerContext, shown: list[Factor]) -> str:
    """The user's overall response distribution (closed-set tasks), then one line per factor in ``shown``.

    The weakest factors are dropped while the summary and the block together exceed
    :data:`SHARED_SHARE` of the prompt budget: the shared prefix then has one length whatever the
    query, and the per-query part keeps room without cutting into it.
    """
    head = overall_distribution(context)
    lines = [_factor_line(context, f) for f in shown]
    limit = int(prompt_budget(context, CLOSED_MAX_TOKENS) * SHARED_SHARE) - count_tokens(context.summary_text)
    while len(lines) > 1 and count_tokens("\n".join([head, *lines])) > limit:
        lines.pop()
    return "\n".join([head] * bool(head) + lines)


def touched_factors(context: AnswerContext, chosen: list[tuple[Factor, str]], shown: list[Factor]) -> str:
    """The factors the query touches: named when the block above shows them, else in a short line.

    The short line (name, influence, coverage, the responses given the factor) leaves out the
    description and the interval, and at most :data:`TOUCHED_EXTRA` factors get one: this section
    is evaluated anew for every query.
    """
    above = {f.id for f in shown}
    lines = []
    extra = 0
    for f, _ in chosen:
        if f.id in above:
            lines.append(f"- {f.name} (above)")
            continue
        extra += 1
        if extra > TOUCHED_EXTRA:  # chosen factors come strongest first; the rest stay in the trace
            continue
        s = f.stats
        stats = [f"influence {s.influence:+.2f}"] if context.task.kind == "score" and s.influence is not None else []
        stats.append(f"coverage {s.coverage:.0%}")
        dist = factor_distribution(context, f)
        lines.append(f"- {f.name} [{'; '.join(stats)}]" + (f" {dist}" if dist else ""))
    return "\n".join(lines)


def rpm_retriever(context: AnswerContext) -> Any:
    """The user's feature retriever fused with BM25 by reciprocal rank (built once, shared by copies).

    Features find items that share aspects and sentiment, BM25 items that share words (often the
    same product); on the 578 held-out LaMP-3 reviews their fused kNN vote had MAE 0.365 against
    0.391 (features) and 0.397 (BM25) (``bench/feature_retrieval.py``), so ``rpm`` retrieves its
    demonstrations and its decision rule's kNN term this way. Histories under
    :data:`FUSE_MIN_ITEMS` items keep the plain feature ranking: BM25's word weights need a corpus,
    and on a handful of items a shared "the" is a rare word. The plain feature retriever stays the
    context's own (the ``knn-feature`` baseline).
    """
    def build() -> Any:
        base = context.feature_retriever()
        if len(context.profile.items) < FUSE_MIN_ITEMS:
            return base
        return FeatureRetriever(context.profile, base.extractor, base.embedder, bm25_weight=BM25_WEIGHT)

    return context.memo("rpm-retriever", build)


class RPMMethod:
    """Factors with statistics + summary + the retrieved items with their reasoning paths (see the module docstring).

    Args:
        dev_size: Dev items the per-user decision rule is fitted on (closed-set tasks; 0 = no rule).
        query_tokens: Estimated tokens allowed after the prompt's shared prefix (demonstrations,
            touched factors, task and input), the part llama.cpp evaluates anew for every query;
            None = ``$INFLOW_RPM_QUERY_TOKENS``, else no cap. With Qwen2.5-Coder-1.5B on 2 cores a
            cap of 400 brought a warm answer from 11.1 s to 6.0 s (``bench/rpm_latency.py``) but
            raised MAE on the five LaMP-3 users' queries 1-20 from 0.350 to 0.410, level with
            always answering the user's most common rating (``bench/personalization.py``), so
            speed is the caller's choice, not the default.

    Raises:
        core.errors.InputError: ``query_tokens`` (or the variable) is not a whole number of at
            least :data:`MIN_QUERY_TOKENS` (field ``INFLOW_RPM_QUERY_TOKENS``).
    """

    name = "rpm"

    def __init__(self, dev_size: int = DEV_SIZE, query_tokens: int | None = None) -> None:
        """Set the dev slice size and the per-query token cap."""
        self.dev_size = dev_size
        self.query_tokens = query_tokens if query_tokens is not None else query_tokens_from_env()
        if self.query_tokens is not None and self.query_tokens < MIN_QUERY_TOKENS:
            raise InputError(Problem("settings", None, ENV_QUERY_TOKENS,
                                     f"must be at least {MIN_QUERY_TOKENS} tokens, not {self.query_tokens}"))

    def answer(self, query: str, context: AnswerContext) -> Answer:
        """Answer ``query`` through the user's factors, demonstrations and decision rule."""
        options = context.answer_choices
        closed = bool(options) and context.task.kind in ("score", "label")
        t_fit = time.perf_counter()
        fitted = self.fitted_rule(context) if closed else None  # first: its calls come before the query's
        fit_ms = (time.perf_counter() - t_fit) * 1000.0  # the dev slice's answers (cached after the first query)
        steps, docs, out = self._run(query, context)
        version = context.profile.summary_version if context.summary_text else None
        if fitted is None:
            text, value = out.text, out.value
            if context.task.kind == "text" and out.value is not None and self_written(context):
                text, wording = choose_wording_step(context, query, str(out.value))
                steps.append(wording)
                value = text
            return Answer(text=text, value=value,
                          trace=Trace(method=self.name, query=query, steps=steps, summary_version=version))
        t0 = time.perf_counter()
        terms = self._terms(context, docs, out)
        d = decision.decide(terms, fitted.rule, context.task)
        # The step's time includes fitting the rule (done before the other steps, so that the trace
        # accounts for the whole answer); detail.extra["fit_ms"] gives that part.
        decide = Step(kind="reason", name="Decide with this user's rule",
                      input={"model_answer": out.text, "rule": fitted.rule.to_dict()}, output=d["answer"],
                      latency_ms=(time.perf_counter() - t0) * 1000.0 + fit_ms,
                      detail=StepDetail(extra={"fit_ms": round(fit_ms, 1)},
                                        decision={**fitted.to_dict(), **d, "model_scored": terms.model_scored,
                                                  "alternatives": decision.alternatives(terms, fitted, context.task),
                                                  "knn_items": [{"id": doc.id, "response": doc.output,
                                                                 "weight": round(max(0.0, doc.score), 4)}
                                                                for doc in docs]}))
        return Answer(text=d["answer"], value=d["value"],
                      trace=Trace(method=self.name, query=query, steps=[*steps, decide], summary_version=version))

    def fitted_rule(self, context: AnswerContext) -> decision.FittedRule:
        """Return the user's decision rule, fitted once per context family (see :mod:`core.methods.decision`).

        Each dev item is answered by this method with everything in (no ablation) and the item
        itself held out of retrieval and of the prior; with fewer than :data:`MIN_DEV_ITEMS` dev
        items the rule is ``raw`` (the model's own answer). While fitting it reports
        ``(i, n, FIT_LABEL)`` through :meth:`AnswerContext.report` for i = 0..n dev items answered;
        a rule taken from the memo (or not fitted on dev items) reports nothing.
        """
        options = tuple(context.answer_choices or ())

        def fit() -> decision.FittedRule:
            base = dataclasses.replace(context, disabled_factors=frozenset(), disabled_items=frozenset(),
                                       use_summary=True)
            base._cache = context._cache
            ids = decision.dev_slice([(it.id, it.output) for it in context.profile.items], options, context.task,
                                     self.dev_size)
            if len(ids) < MIN_DEV_ITEMS:
                return decision.fit_rule([], context.task, ids)
            dev = []
            # the fitting is most of a first answer's time (one answering call per dev item), so it
            # says how far it is: n + 1 reports, before the first item and after each
            context.report(0, len(ids), FIT_LABEL)
            for n, iid in enumerate(ids, 1):
                item = base.item(iid)
                assert item is not None
                _, docs, out = self._run(item.input, base, held_out=iid)
                dev.append((self._terms(base, docs, out, held_out=iid), item.output))
                context.report(n, len(ids), FIT_LABEL)
            return decision.fit_rule(dev, context.task, ids)

        return context.memo(("decision-rule", self.dev_size, options, context.reason_first, self.query_tokens), fit)

    def _terms(self, context: AnswerContext, docs: list[RetrievedDoc], out: LLMOutcome,
               held_out: str | None = None) -> decision.Terms:
        options = tuple(context.answer_choices or ())
        task = context.task
        prior = decision.prior_distribution([it.output for it in context.profile.items if it.id != held_out],
                                            options, task)
        knn = decision.knn_distribution([(d.output, d.score) for d in docs], options, task, prior)
        raw, calibrated, scored = decision.model_distribution(out.step.detail.choice_scores, options,
                                                              out.value, task)
        return decision.Terms(options=options, raw=raw, calibrated=calibrated, knn=knn, prior=prior,
                              model_scored=scored)

    def _run(self, query: str, context: AnswerContext,
             held_out: str | None = None) -> tuple[list[Step], list[RetrievedDoc], LLMOutcome]:
        """Features, retrieval, factor choice and the model call; ``held_out`` is never retrieved."""
        t0 = time.perf_counter()  # the retriever's setup (embedding the history's features) is part of this step
        calls_before = _client_calls(context.client)
        retriever = context.feature_retriever()
        query_features = retriever.extract_query(query)
        features_step = Step(kind="features", name="Extract the query's features", input=query,
                             output=[f.to_dict() for f in query_features],
                             latency_ms=(time.perf_counter() - t0) * 1000.0,
                             detail=StepDetail(extra={"extractor": _identity(retriever.extractor),
                                                      "llm_calls": _client_calls(context.client) - calls_before}))

        fused = rpm_retriever(context)

        def fetch(text: str, k: int) -> list[RetrievedDoc]:
            found = fused.retrieve(text, k + (held_out is not None), query_features=query_features)
            return [d for d in found if d.id != held_out][:k]

        docs, retrieve = retrieve_step(context, fetch, query, name="Retrieve by feature-set similarity" + (
            ", fused with BM25" if getattr(fused, "bm25_weight", 0.0) > 0 else ""))

        t1 = time.perf_counter()
        vectors = context.embedder.embed([f.text for f in query_features]) if query_features else None
        chosen = select_factors(context, docs, query_features, vectors)
        paths: list[dict[str, Any]] = []
        for doc in docs:
            path = context.profile.paths.get(doc.id)
            if path is not None:
                doc.path = path_text(path, context.disabled_factors)
                paths.append({"item_id": doc.id, "text": doc.path, "consistent": path.consistent})
        shown = profile_factors(context)
        factor_lines = "\n".join(_factor_line(context, f) for f, _ in chosen)
        path_lines = "\n".join(f"- {p['text']}" for p in paths)
        summary = context.summary_text
        version = context.profile.summary_version if summary else None
        reason = Step(kind="reason", name="Choose factors and reasoning paths",
                      input={"query_features": [f.phrase for f in query_features],
                             "retrieved": [d.id for d in docs]},
                      output={"factors": factor_lines, "paths": path_lines},
                      latency_ms=(time.perf_counter() - t1) * 1000.0,
                      detail=StepDetail(factors=[factor_record(f, why) for f, why in chosen], paths=paths,
                                        summary_version=version,
                                        extra={"profile_factors": [f.id for f in shown],
                                               "disabled_factors": sorted(context.disabled_factors)}))
        # What is the same for every query of the user comes first (the summary, then the user's
        # strongest factors), what depends on the query last (demonstrations, the factors the
        # query touches, the input): llama.cpp then keeps the shared prefix in its key/value cache
        # (or a prefix snapshot) from one query and dev item to the next, and evaluates only the rest.
        sections = [(SUMMARY_TITLE, summary), (FACTORS_TITLE, profile_factor_block(context, shown)),
                    (PATHS_TITLE, demonstrations(context, docs)),
                    (TOUCHED_TITLE, touched_factors(context, chosen, shown))]
        steps = [features_step, retrieve, reason]
        preamble = None
        if context.reason_first:
            thought, thought_step = reason_first(context, query, sections)
            steps.append(thought_step)
            preamble = f"## {REASON_TITLE}\n{thought}" if thought else None
        if context.task.kind == "text" and docs:  # an instruction, so not fenced as data like the sections
            preamble = "\n\n".join(p for p in (preamble, f"## {STYLE_TITLE}\n{STYLE_NOTE}") if p)
        out = call_answer(context, query, sections, name="Answer from factors, summary and demonstrations",
                          preamble=preamble, shared=SHARED_SECTIONS, late_budget=self.query_tokens,
                          detail=StepDetail(summary_version=version, factor_ids=[f.id for f, _ in chosen]))
        return [*steps, out.step], docs, out


def query_tokens_from_env() -> int | None:
    """``$INFLOW_RPM_QUERY_TOKENS`` as a whole number, or None when unset or empty.

    Raises:
        core.errors.InputError: It is set to something else (field ``INFLOW_RPM_QUERY_TOKENS``).
    """
    return env_int(os.environ, ENV_QUERY_TOKENS, ENV_QUERY_TOKENS)


def self_written(context: AnswerContext) -> bool:
    """Whether the history is the user's own texts (every item's input is its response, as LaMP-7's tweets).

    A query then asks to restate a given text in the user's voice, and the given text itself is
    a candidate answer (:func:`choose_wording_step`).
    """
    items = context.profile.items
    return bool(items) and all(own_text(it) for it in items)


def own_text(item: Item) -> bool:
    """Whether an item is a text the user wrote themselves: its input and response are one text (whitespace aside)."""
    return squashed(item.input) == squashed(item.output)


def squashed(text: str) -> str:
    """``text`` with its runs of whitespace made single spaces and its ends trimmed: one text, however spaced."""
    return " ".join(text.split())


def choose_wording_step(context: AnswerContext, query: str, rewrite: str) -> tuple[str, Step]:
    """Keep the model's rewrite only if it restates the query and the words it changes are evidently the user's.

    See :mod:`core.methods.style`: the rewrite must be nearer, by the context's embedder, to the
    given text than to any earlier text of the user (:func:`~core.methods.style.check_meaning`),
    and a one-sided Welch test must find the words it brings in likelier under a unigram model of
    the user's texts than the words it takes out (no fitted parameter). The step records both
    candidates' scores, the cosines, the changed words, the p-value and any dropped handle.
    """
    t0 = time.perf_counter()
    texts = [it.output for it in context.profile.items]
    key = tuple(texts)  # ablated copies share the memo: key by the texts, not by the context
    model = context.memo(("style-model", key), lambda: StyleModel.from_texts(texts))
    own_vectors = context.memo(("own-text-vectors", key), lambda: np.asarray(context.embedder.embed(texts)))
    same = squashed(query)
    others = [i for i, text in enumerate(texts) if squashed(text) != same]  # the given text is not "another"
    given_vec, rewrite_vec = np.asarray(context.embedder.embed([query, rewrite]))
    meaning = check_meaning(given_vec, rewrite_vec, own_vectors[others], [texts[i] for i in others])
    choice = choose_wording(model, query, rewrite, meaning)
    step = Step(kind="reason", name=WORDING_TITLE, input={"given": query, "rewrite": rewrite}, output=choice.text,
                latency_ms=(time.perf_counter() - t0) * 1000.0, detail=StepDetail(extra={"wording": choice.to_dict()}))
    return choice.text, step


def reason_first(context: AnswerContext, query: str, sections: list[tuple[str, str]]) -> tuple[str, Step]:
    """Ask the model to reason about the user and the query in free text; return the text and its step.

    The prompt is the answer's prompt with the answer-format line replaced by
    :data:`REASON_INSTRUCTION`; the text goes into the answering prompt as a preamble.
    """
    messages, trimmed = fit_messages(context.task, query, sections, None,
                                     budget=prompt_budget(context, REASON_MAX_TOKENS), shared=SHARED_SECTIONS)
    head = messages[-1]["content"].rpartition("\n\n")[0]
    messages = [*messages[:-1], {"role": "user", "content": f"{head}\n\n{REASON_INSTRUCTION}"}]
    t0 = time.perf_counter()
    result = context.client.chat(ChatRequest(messages=messages, max_tokens=REASON_MAX_TOKENS, temperature=0.0,
                                             stage="answer", run_id=context.run_id))
    text = squashed(result.text)
    step = Step(kind="llm", name="Reason before answering", input=messages[-1]["content"], output=text,
                tokens_in=result.tokens_in, tokens_out=result.tokens_out,
                latency_ms=float(result.latency_ms or (time.perf_counter() - t0) * 1000.0),
                status="ok" if text else "error",
                detail=StepDetail(system=messages[0]["content"], cache_hit=result.cache_hit, trimmed=trimmed,
                                  error=None if text else "the model wrote no reasoning"))
    return text, step


def _factor_line(context: AnswerContext, factor: Factor) -> str:
    dist = factor_distribution(context, factor)
    return f"- {describe_factor(factor, context.task)}" + (f" {dist}" if dist else "")


def _identity(extractor: Any) -> Any:
    identity = getattr(extractor, "identity", None)
    return identity() if callable(identity) else type(extractor).__name__


def _client_calls(client: LLMClient) -> int:
    """Model calls plus cache hits made by the client so far (0 when it keeps no stats)."""
    stats = getattr(client, "stats", None)
    return int(getattr(stats, "model_calls", 0) + getattr(stats, "cache_hits", 0)) if stats is not None else 0
