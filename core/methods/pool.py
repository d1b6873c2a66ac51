"""``pool`` (PILLOW's idea): pick the best few snippets of a user's prompt pool and prepend them.

The pool is a list of :class:`~core.methods.context.PoolEntry` (instructions and demonstrations).
An analyst may supply one (``AnswerContext.pool``); otherwise :func:`default_pool` builds it from the
profile: the summary's sentences, one line per factor (name, description, statistics) and a few
representative demonstrations per factor (the items whose features in that factor are strongest).

**Matcher.** Every entry is scored by the cosine similarity of its embedding to the query's.

**Re-ranker** (optional, on by default). A logistic regression fit on the user's own history by
leave-one-out: each history item ``i`` plays the query, and each entry ``e`` (except ``i``'s own
demonstration) gives one training pair with

* features ``x(i, e)`` = [similarity, similarity x is-demo, is-demo, the entry factor's normalised
  absolute influence (or mutual information for labels), the entry factor's coverage];
* label ``y(i, e)`` = "the entry helps predict ``i``'s known response": a demonstration helps when
  its response matches ``i``'s (same score within an eighth of the score range, same label, or
  ROUGE-L F >= 0.3 for text); a factor-tied instruction helps when ``i`` touches that factor and
  the factor's direction agrees with ``i``'s response (influence sign vs. ``i``'s deviation from the
  user's mean score; top label equals ``i``'s label; for text, touching is enough). Entries tied
  to no factor give no training pairs (no supervision) and are scored with zero factor features.

Factor statistics are not recomputed per left-out item (they are aggregates over the whole
history, so the leak is small and documented). A long history is fit on a fixed-seed sample of
:data:`MAX_PAIRS` pairs (all of them would be items x entries, tens of thousands for a LaMP user,
and the fit would dominate the answer). The fit needs both classes and at least
:data:`MIN_PAIRS` pairs; otherwise entries are ranked by similarity alone. The final score is the
predicted probability of helping. The top ``k`` entries are prepended, instructions first.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.data.model import Item, Task
from core.embed.base import Embedder
from core.methods.context import AnswerContext, PoolEntry
from core.methods.prompting import call_answer, format_example
from core.methods.render import describe_factor
from core.methods.types import Answer, PoolMatch, RetrievedDoc, Step, StepDetail, Trace
from core.metrics import text_metrics  # ROUGE-L as LaMP configures it
from core.stages.profile import Profile
from core.stages.types import Factor

MIN_PAIRS = 8
MAX_PAIRS = 4000  # training pairs the re-ranker is fit on at most (a fixed-seed sample)
DEMOS_PER_FACTOR = 2
DEMO_CHARS = 300
FEATURE_NAMES = ("similarity", "similarity_x_demo", "is_demo", "factor_strength", "factor_coverage")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


# -- the default pool -------------------------------------------------------------------------------
def default_pool(profile: Profile, task: Task, *, demos_per_factor: int = DEMOS_PER_FACTOR,
                 demo_chars: int = DEMO_CHARS) -> list[PoolEntry]:
    """Build a pool from a profile: summary sentences, factor lines and representative demos.

    Args:
        profile: The user's :class:`core.stages.profile.Profile`.
        task: The task (how factor statistics read).
        demos_per_factor: Demonstrations per factor.
        demo_chars: Cap on a demonstration's input text.

    Returns:
        Entries with ids ``S<n>`` (summary sentences, tied to the factor they name, if one),
        ``F:<factor id>`` (factor lines) and ``D:<item id>`` (demos, each item at most once).
    """
    factors = [f for f in profile.factors if not f.is_noise]
    entries: list[PoolEntry] = []
    for n, sentence in enumerate(s.strip() for s in _SENTENCE.split(profile.summary or "") if s.strip()):
        named = [f for f in factors if f.name and f.name.lower() in sentence.lower()]
        entries.append(PoolEntry(id=f"S{n + 1}", text=sentence, kind="instruction",
                                 factor_id=named[0].id if len(named) == 1 else None, source="summary"))
    for f in factors:
        entries.append(PoolEntry(id=f"F:{f.id}", text=f"This user's factor {describe_factor(f, task)}",
                                 kind="instruction", factor_id=f.id, source="factor"))
    used: set[str] = set()
    items = {it.id: it for it in profile.items}
    for f in factors:
        picked = 0
        for item_id in _representative_items(profile, f):
            if picked >= demos_per_factor:
                break
            if item_id in used or item_id not in items:
                continue
            used.add(item_id)
            picked += 1
            entries.append(PoolEntry(id=f"D:{item_id}", text=format_example(items[item_id], demo_chars),
                                     kind="demo", factor_id=f.id, item_id=item_id, source="demo"))
    return entries


def _representative_items(profile: Profile, factor: Factor) -> list[str]:
    """Items touching ``factor``, strongest member feature first."""
    members = set(factor.feature_ids)
    best: dict[str, float] = {}
    for feat in profile.all_features():
        if feat.id in members or profile.assignments.get(feat.id) == factor.id:
            best[feat.item_id] = max(best.get(feat.item_id, 0.0), float(feat.strength))
    return sorted(best, key=lambda i: (-best[i], i))


# -- the re-ranker ----------------------------------------------------------------------------------
@dataclass
class PoolReranker:
    """Logistic weights over pair features (see the module docstring).

    Attributes:
        weights: One weight per :data:`FEATURE_NAMES` entry.
        bias: The intercept.
        n_pairs: Training pairs.
        n_positive: Pairs labelled "helps".
    """

    weights: np.ndarray
    bias: float
    n_pairs: int
    n_positive: int

    def score(self, x: np.ndarray) -> np.ndarray:
        """Return P(helps) for feature rows ``x``."""
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (weights by feature name)."""
        return {"weights": {n: float(w) for n, w in zip(FEATURE_NAMES, self.weights, strict=True)},
                "bias": float(self.bias), "n_pairs": self.n_pairs, "n_positive": self.n_positive}


def _factor_features(entry: PoolEntry, factors: dict[str, Factor], task: Task, scale: float) -> tuple[float, float]:
    f = factors.get(entry.factor_id or "")
    if f is None:
        return 0.0, 0.0
    if task.kind == "score":
        strength = abs(f.stats.influence or 0.0) / scale if scale else 0.0
    elif task.kind == "label":
        strength = min(1.0, (f.stats.mutual_info or 0.0) * 5.0)
    else:
        strength = abs(f.stats.polarity)
    return float(min(1.0, strength)), float(f.stats.coverage)


def pair_features(similarity: np.ndarray, entries: list[PoolEntry], factors: dict[str, Factor],
                  task: Task) -> np.ndarray:
    """Return the ``(n_queries, n_entries, len(FEATURE_NAMES))`` pair features for a similarity matrix."""
    scale = float(task.score_max - task.score_min) or 1.0
    sim = np.atleast_2d(similarity).astype(np.float64)
    is_demo = np.array([1.0 if e.kind == "demo" else 0.0 for e in entries])
    fac = np.array([_factor_features(e, factors, task, scale) for e in entries]).reshape(len(entries), 2)
    n = sim.shape[0]
    return np.stack([sim, sim * is_demo, np.broadcast_to(is_demo, sim.shape),
                     np.broadcast_to(fac[:, 0], sim.shape), np.broadcast_to(fac[:, 1], (n, len(entries)))], axis=-1)


def _responses_match(a: str, b: str, task: Task) -> bool:
    if task.kind == "score":
        x, y = task.parse_score(a), task.parse_score(b)
        return x is not None and y is not None and abs(x - y) <= (task.score_max - task.score_min) / 8.0
    if task.kind == "label":
        return a.strip().lower() == b.strip().lower()
    return text_metrics([a], [b])["rouge-l"] >= 0.3


def _instruction_helps(item: Item, factor: Factor, touched: set[str], task: Task, mean: float | None) -> bool:
    if factor.id not in touched:
        return False
    if task.kind == "score":
        y, infl = task.parse_score(item.output), factor.stats.influence
        if y is None or infl is None or mean is None:
            return True
        return (y - mean) * infl > 0
    if task.kind == "label":
        top = factor.stats.top_label
        return top is None or top.strip().lower() == item.output.strip().lower()
    return True


def fit_reranker(profile: Profile, task: Task, entries: list[PoolEntry], embedder: Embedder, *,
                 max_chars: int = 600) -> PoolReranker | None:
    """Fit the leave-one-out re-ranker on the user's history (see the module docstring).

    Returns:
        The re-ranker, or None when there is too little signal (one class, or fewer than
        :data:`MIN_PAIRS` pairs).
    """
    from sklearn.linear_model import LogisticRegression

    items: list[Item] = list(profile.items)
    if len(items) < 2 or not entries:
        return None
    factors = {f.id: f for f in profile.factors}
    touched: dict[str, set[str]] = {it.id: set() for it in items}
    for feat in profile.all_features():
        fid = profile.assignments.get(feat.id)
        if fid and feat.item_id in touched:
            touched[feat.item_id].add(fid)
    scores = [task.parse_score(it.output) for it in items] if task.kind == "score" else []
    known = [s for s in scores if s is not None]
    total, count = float(sum(known)), len(known)
    by_id = {it.id: it for it in items}
    vecs = embedder.embed([it.input[:max_chars] for it in items] + [e.text for e in entries])
    sim = vecs[: len(items)] @ vecs[len(items):].T
    feats = pair_features(sim, entries, factors, task)
    # Every (item, entry) pair that can be labelled; a long history gives items x entries pairs, so a
    # fixed-seed sample of at most MAX_PAIRS keeps the fit (and text tasks' ROUGE labels) bounded.
    pairs = [(i, j) for i, it in enumerate(items) for j, e in enumerate(entries)
             if e.item_id != it.id  # leave-one-out: an item's own demo would trivially "help"
             and (e.item_id in by_id if e.kind == "demo" and e.item_id else e.factor_id in factors)]
    if len(pairs) > MAX_PAIRS:
        keep = np.sort(np.random.default_rng(0).choice(len(pairs), MAX_PAIRS, replace=False))
        pairs = [pairs[k] for k in keep]
    matches: dict[tuple[str, str], bool] = {}  # scores and labels repeat: label each response pair once
    xs, ys = [], []
    for i, j in pairs:
        it, e = items[i], entries[j]
        if e.kind == "demo" and e.item_id:
            key = (by_id[e.item_id].output, it.output)
            if key not in matches:
                matches[key] = _responses_match(key[0], key[1], task)
            y = matches[key]
        else:
            own = scores[i] if scores else None
            rest = count - (own is not None)
            mean = (total - (own or 0.0)) / rest if scores and rest else None
            y = _instruction_helps(it, factors[str(e.factor_id)], touched[it.id], task, mean)
        xs.append(feats[i, j])
        ys.append(int(y))
    if len(ys) < MIN_PAIRS or len(set(ys)) < 2:
        return None
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=500)
    model.fit(np.array(xs), np.array(ys))
    return PoolReranker(weights=model.coef_[0].astype(np.float64), bias=float(model.intercept_[0]),
                        n_pairs=len(ys), n_positive=int(sum(ys)))


# -- the method -------------------------------------------------------------------------------------
class PoolMethod:
    """Match the query against the user's pool and prepend the best ``k`` entries.

    Args:
        rerank: Re-rank by the history-fitted re-ranker when it can be fit.

    Trace: ``retrieve`` (the chosen entries as documents with scores; ``detail.pool``, a
    :class:`~core.methods.types.PoolMatch`: every candidate's similarity and score, ``pool_source``
    ``stored`` (the user's own pool) or ``default``, the re-ranker's weights), ``llm``.
    """

    name = "pool"

    def __init__(self, *, rerank: bool = True) -> None:
        """Create the method."""
        self.rerank = rerank

    def pool_of(self, context: AnswerContext) -> list[PoolEntry]:
        """Return the context's pool, or the (cached) default pool of its profile."""
        if context.pool is not None:
            return list(context.pool)
        return context.memo(("default_pool", context.task), lambda: default_pool(context.profile, context.task))

    def reranker_of(self, context: AnswerContext, pool: list[PoolEntry]) -> PoolReranker | None:
        """Return the re-ranker fit on the full pool (cached per pool, so ablations keep its weights)."""
        key = ("pool_reranker", context.task, tuple((e.id, e.text) for e in pool))
        return context.memo(key, lambda: fit_reranker(context.profile, context.task, pool, context.embedder,
                                                      max_chars=context.max_history_chars))

    def available(self, context: AnswerContext, pool: list[PoolEntry]) -> list[PoolEntry]:
        """Entries allowed by the context: not tied to a disabled factor or item; summary entries need the summary."""
        return [e for e in pool
                if e.factor_id not in context.disabled_factors and e.item_id not in context.disabled_items
                and (e.source != "summary" or context.summary_text)]

    def match(self, query: str, context: AnswerContext) -> tuple[list[dict[str, Any]], PoolReranker | None]:
        """Score every available entry for ``query``, best first.

        Returns:
            Candidate records ``{id, kind, text, source, factor_id, item_id, similarity, score}`` and
            the re-ranker used (None for similarity-only ranking).
        """
        pool = self.pool_of(context)
        entries = self.available(context, pool)
        if not entries:
            return [], None
        reranker = self.reranker_of(context, pool) if self.rerank else None
        vecs = context.embedder.embed([query] + [e.text for e in entries])
        sim = (vecs[1:] @ vecs[0]).astype(np.float64)
        if reranker is not None:
            factors = {f.id: f for f in context.profile.factors}
            score = reranker.score(pair_features(sim[None, :], entries, factors, context.task)[0])
        else:
            score = sim
        records = [{"id": e.id, "kind": e.kind, "text": e.text, "source": e.source, "factor_id": e.factor_id,
                    "item_id": e.item_id, "similarity": float(s), "score": float(p)}
                   for e, s, p in zip(entries, sim, score, strict=True)]
        records.sort(key=lambda r: (-r["score"], -r["similarity"], r["id"]))
        return records, reranker

    def answer(self, query: str, context: AnswerContext) -> Answer:
        """Answer ``query`` with the best-matching pool entries prepended."""
        t0 = time.perf_counter()
        candidates, reranker = self.match(query, context)
        chosen = candidates[: max(0, context.k)]
        docs = [RetrievedDoc(id=c["id"], text=c["text"], output=self._output(context, c), score=c["score"])
                for c in chosen]
        step = Step(kind="retrieve", name="Match pool entries to the query", input=query,
                    output=[c["id"] for c in chosen], documents=docs, latency_ms=(time.perf_counter() - t0) * 1000,
                    detail=StepDetail(pool=PoolMatch(
                        entries=chosen, candidates=candidates[:20], pool_size=len(self.pool_of(context)),
                        pool_source="default" if context.pool is None else "stored",
                        reranker=reranker.to_dict() if reranker else None,
                        ranking="reranker" if reranker else "similarity")))
        instructions = "\n".join(f"- {c['text']}" for c in chosen if c["kind"] == "instruction")
        demos = "\n\n".join(c["text"] for c in chosen if c["kind"] == "demo")
        uses_summary = any(c["source"] == "summary" for c in chosen)
        version = context.profile.summary_version if uses_summary else None
        out = call_answer(context, query, [("Notes about this user", instructions),
                                           ("Examples of this user's past responses", demos)],
                          name="Answer with the chosen pool entries", detail=StepDetail(summary_version=version))
        return Answer(text=out.text, value=out.value,
                      trace=Trace(method=self.name, query=query, steps=[step, out.step], summary_version=version))

    @staticmethod
    def _output(context: AnswerContext, record: dict[str, Any]) -> str:
        item = context.item(record["item_id"]) if record.get("item_id") else None
        return item.output if item is not None else ""
