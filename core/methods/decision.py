"""A per-user decision rule for closed-set answers, fitted on the user's own history.

The model's option scores alone are a poor answer for many users (a small model's favourite
option, or a calibration that helps one user and hurts the next), while no-model baselines such as
the user's most common response are hard to beat. So a closed-set answer (scores, labels) is
decided by one of four rules, chosen per user:

* ``prior``: the user's own response distribution alone (its median for scores, its mode for
  labels): no model, no retrieval, the rule every other one must beat;
* ``raw``: the option the model's raw option distribution ranks first;
* ``calibrated``: the option the contextually calibrated distribution ranks first;
* ``fusion``: a mixture of three distributions over the options,

      p(o) = w_model * p_model(o) + w_knn * p_knn(o) + w_prior * p_prior(o)

  where ``p_model`` is the raw or calibrated model distribution, ``p_knn`` the retrieved items'
  similarity-weighted responses and ``p_prior`` the user's response distribution (add-half
  smoothed). The answer is the distribution's median for score tasks (it minimises the expected
  absolute error, LaMP-3's metric) or its mean when that did better, and its mode for labels.
  The weights come from a grid on the simplex, so the fusion includes the no-model baselines
  (``w_knn = 1`` is a kNN vote, ``w_prior = 1`` the user's median / majority).

The rule is fitted on a *dev slice* of the profile's own items (the latest ones; never a query):
each dev item is answered as if it were a query, without itself, giving its :class:`Terms`. Each
rule is scored by leave-one-out error on that slice (for ``fusion`` the weights are re-fitted
without the left-out item, so its error is not flattered by the fit). The model rules compete on
that error alone, and the best of them decides only if it beats ``prior`` by more than one
standard error of their per-item error differences (the one-standard-error rule of CART model
selection, with the model as the added complexity); otherwise ``prior`` decides. A model rule
that beats the user's own prior on 20 items by less than the noise of 20 items is not trusted: on
a LaMP-3 user the model's raw answer won the latest 20 history items by 0.05 and then lost the
next 20 queries by 0.55. A held-out dev item is left out of retrieval and of the prior, but
the profile's factors, their statistics and the summary were built with it, so dev errors are a
little optimistic for every rule alike. Everything here is plain arithmetic on numpy arrays: the method that
produces the terms (:mod:`core.methods.rpm`) owns the model calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.data.model import Task

RULES = ("prior", "raw", "calibrated", "fusion")  # ties go to the earlier
GRID_STEP = 0.25
PRIOR_SMOOTHING = 0.5
_ROUND = 4


@dataclass(frozen=True)
class Terms:
    """The distributions over the options that a decision is made from, for one query.

    Attributes:
        options: The closed answer set, in order.
        raw: The model's option probabilities (renormalised over the set).
        calibrated: The contextually calibrated probabilities (None when the backend gave none).
        knn: The retrieved items' similarity-weighted responses.
        prior: The user's response distribution.
        model_scored: Whether ``raw`` came from option scores (False: a one-hot on the parsed answer).
    """

    options: tuple[str, ...]
    raw: np.ndarray
    calibrated: np.ndarray | None
    knn: np.ndarray
    prior: np.ndarray
    model_scored: bool = True

    def model(self, source: str) -> np.ndarray | None:
        """Return the model distribution named ``source`` (``raw`` or ``calibrated``)."""
        return self.raw if source == "raw" else self.calibrated


@dataclass(frozen=True)
class Rule:
    """A decision rule: which model distribution, the mixture weights, and how to read the answer.

    Attributes:
        name: ``prior``, ``raw``, ``calibrated`` or ``fusion``.
        source: The model distribution used (``raw`` or ``calibrated``).
        weights: ``(w_model, w_knn, w_prior)``, summing to 1.
        estimator: ``mode``, ``median`` or ``mean`` (``mean`` only for score tasks).
    """

    name: str
    source: str = "raw"
    weights: tuple[float, float, float] = (1.0, 0.0, 0.0)
    estimator: str = "mode"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"name": self.name, "source": self.source, "weights": {"model": self.weights[0],
                "knn": self.weights[1], "prior": self.weights[2]}, "estimator": self.estimator}


@dataclass
class FittedRule:
    """The rule a user got and how it was chosen.

    Attributes:
        rule: The chosen rule (fusion weights fitted on the whole dev slice).
        dev_errors: Leave-one-out error of each candidate rule on the dev slice (absent: unavailable).
        dev_items: The ids of the dev items.
        metric: ``absolute error`` (scores) or ``error rate`` (labels).
        lowest: The candidate with the lowest dev error (None without a dev slice).
        standard_errors: Under ``prior``, the standard error of the prior's per-item error
            differences against the best model rule: the margin the model had to beat.
        candidates: Every candidate rule as fitted on the whole dev slice, by name, so a trace can
            show what each would have answered.
    """

    rule: Rule
    dev_errors: dict[str, float]
    dev_items: list[str] = field(default_factory=list)
    metric: str = "absolute error"
    lowest: str | None = None
    standard_errors: dict[str, float] = field(default_factory=dict)
    candidates: dict[str, Rule] = field(default_factory=dict)

    @property
    def dev_error(self) -> float | None:
        """The chosen rule's leave-one-out dev error (None without a dev slice)."""
        return self.dev_errors.get(self.rule.name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"rule": self.rule.to_dict(), "dev_error": self.dev_error, "metric": self.metric,
                "dev_errors": {k: round(v, _ROUND) for k, v in self.dev_errors.items()},
                "selection": "one standard error", "lowest": self.lowest,
                "standard_errors": {k: round(v, _ROUND) for k, v in self.standard_errors.items()},
                "n_dev": len(self.dev_items), "dev_items": list(self.dev_items)}


def normalise(values: np.ndarray) -> np.ndarray:
    """Return ``values`` scaled to sum to 1 (uniform when they sum to 0)."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, None)
    total = float(v.sum())
    return v / total if total > 0 else np.full(len(v), 1.0 / max(1, len(v)))


def option_index(options: Sequence[str], value: Any, task: Task) -> int | None:
    """Return the index of the option ``value`` names (scores compared as numbers), or None."""
    if value is None:
        return None
    if task.kind == "score":
        target = task.parse_score(str(value))
        if target is None:
            return None
        for i, o in enumerate(options):
            v = task.parse_score(o)
            if v is not None and abs(v - target) < 1e-9:
                return i
        return None
    text = str(value).strip().lower()
    return next((i for i, o in enumerate(options) if o.strip().lower() == text), None)


def prior_distribution(outputs: Sequence[str], options: Sequence[str], task: Task,
                       smoothing: float = PRIOR_SMOOTHING) -> np.ndarray:
    """Return the user's response distribution over ``options`` (add-``smoothing`` counts)."""
    counts = np.full(len(options), smoothing, dtype=np.float64)
    for out in outputs:
        i = option_index(options, out, task)
        if i is not None:
            counts[i] += 1.0
    return normalise(counts)


def knn_distribution(responses: Sequence[tuple[str, float]], options: Sequence[str], task: Task,
                     fallback: np.ndarray) -> np.ndarray:
    """Return the retrieved items' responses as a distribution, weighted by their retrieval scores.

    Scores are clipped at 0; when all are 0 the items count equally (as the kNN baselines do).
    ``fallback`` (the prior) is returned when no retrieved response is one of the options.
    """
    idx = [(option_index(options, out, task), max(0.0, float(s))) for out, s in responses]
    idx = [(i, s) for i, s in idx if i is not None]
    if not idx:
        return fallback
    if sum(s for _, s in idx) <= 0:
        idx = [(i, 1.0) for i, _ in idx]
    dist = np.zeros(len(options), dtype=np.float64)
    for i, s in idx:
        dist[i] += s
    return normalise(dist)


def model_distribution(choice_scores: dict[str, Any] | None, options: Sequence[str], parsed: Any,
                       task: Task) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Return ``(raw, calibrated, scored)`` from a completion's ``choice_scores`` record.

    Without option scores (a remote model) the model's parsed answer becomes a one-hot ``raw``
    distribution (uniform when it names no option) and there is no calibrated one.
    """
    def dist(key: str) -> np.ndarray | None:
        d = (choice_scores or {}).get(key)
        if not isinstance(d, dict) or not all(o in d for o in options):
            return None
        return normalise(np.array([float(d[o] or 0.0) for o in options]))

    raw = dist("raw")
    if raw is not None:
        return raw, dist("calibrated"), True
    onehot = np.zeros(len(options), dtype=np.float64)
    i = option_index(options, parsed, task)
    if i is not None:
        onehot[i] = 1.0
    return normalise(onehot), None, False


def numeric_options(options: Sequence[str], task: Task) -> np.ndarray | None:
    """Return the options as numbers for score tasks (None for labels or unparsable options)."""
    if task.kind != "score":
        return None
    values = [task.parse_score(o) for o in options]
    return None if any(v is None for v in values) else np.array(values, dtype=np.float64)


def point(dist: np.ndarray, estimator: str, values: np.ndarray | None) -> tuple[int | None, float | None]:
    """Read an answer from a distribution: ``(option index, numeric value)``.

    ``mode`` is the most probable option (ties: the first), ``median`` the first option where the
    cumulative probability reaches one half, ``mean`` the expected value (no single option).
    """
    if estimator == "mean" and values is not None:
        return None, float(dist @ values)
    if estimator == "median" and values is not None:
        i = int(np.searchsorted(np.cumsum(dist), 0.5 - 1e-12))
        i = min(i, len(dist) - 1)
        return i, float(values[i])
    i = int(np.argmax(dist))
    return i, float(values[i]) if values is not None else None


def mixture(terms: Terms, rule: Rule) -> np.ndarray | None:
    """Return the rule's distribution over the options (None when its model source is missing)."""
    model = terms.model(rule.source)
    if model is None:
        return None
    wm, wk, wp = rule.weights
    return wm * model + wk * terms.knn + wp * terms.prior


def decide(terms: Terms, rule: Rule, task: Task) -> dict[str, Any]:
    """Apply ``rule`` to one query's terms and return the answer with each term's contribution.

    Returns:
        ``{"answer": option text or formatted mean, "value": float (scores) or label, "index",
        "distribution": {option: p}, "contributions": {"model"|"knn"|"prior": {option: w * p}},
        "terms": {"raw"|"calibrated"|"knn"|"prior": {option: p}}}``.

    Raises:
        ValueError: The rule's model source is missing from ``terms``.
    """
    dist = mixture(terms, rule)
    if dist is None:
        raise ValueError(f"the rule needs the {rule.source} model distribution, which this backend did not give")
    values = numeric_options(terms.options, task)
    index, number = point(dist, rule.estimator, values)
    model = terms.model(rule.source)
    assert model is not None

    def table(v: np.ndarray | None) -> dict[str, float] | None:
        return None if v is None else {o: round(float(x), _ROUND) for o, x in zip(terms.options, v, strict=True)}

    wm, wk, wp = rule.weights
    if index is not None:
        answer = terms.options[index]
        value: Any = number if values is not None else answer
    else:
        value = number
        answer = f"{number:.2f}".rstrip("0").rstrip(".") if number is not None else ""
    return {"answer": answer, "value": value, "index": index, "distribution": table(dist),
            "contributions": {"model": table(wm * model), "knn": table(wk * terms.knn),
                              "prior": table(wp * terms.prior)},
            "terms": {"raw": table(terms.raw), "calibrated": table(terms.calibrated), "knn": table(terms.knn),
                      "prior": table(terms.prior)}}


def alternatives(terms: Terms, fitted: FittedRule, task: Task) -> dict[str, Any]:
    """What each candidate rule would answer for one query's terms (by rule name; the chosen one included).

    Shown in the trace beside the chosen rule, and read by ``bench/personalization.py`` to report
    each candidate's error on the queries.
    """
    out: dict[str, Any] = {}
    for name, rule in fitted.candidates.items():
        if mixture(terms, rule) is not None:
            out[name] = decide(terms, rule, task)["value"]
    return out


def error(terms: Terms, rule: Rule, gold: Any, task: Task) -> float | None:
    """The rule's error on one dev item: absolute error (scores) or 0/1 (labels); None if not applicable."""
    dist = mixture(terms, rule)
    if dist is None:
        return None
    values = numeric_options(terms.options, task)
    index, number = point(dist, rule.estimator, values)
    if values is not None:
        target = task.parse_score(str(gold))
        return None if target is None or number is None else abs(number - target)
    gi = option_index(terms.options, gold, task)
    return float(index != gi)


def fusion_candidates(task: Task, sources: Sequence[str], step: float = GRID_STEP) -> list[Rule]:
    """Return the fusion rules searched: every weight triple on the simplex grid x source x estimator."""
    n = round(1.0 / step)
    triples = [(a * step, b * step, (n - a - b) * step) for a in range(n + 1) for b in range(n + 1 - a)]
    estimators = ("median", "mean") if task.kind == "score" else ("mode",)
    return [Rule("fusion", src, tuple(round(w, 6) for w in t), est)  # type: ignore[arg-type]
            for src, t, est in itertools.product(sources, triples, estimators)
            if t[0] > 0 or src == sources[0]]  # with w_model = 0 the source does not matter: keep one


def _errors(dev: Sequence[tuple[Terms, Any]], rule: Rule, task: Task) -> list[float] | None:
    errs = [error(t, rule, g, task) for t, g in dev]
    if not errs or any(e is None for e in errs):
        return None
    return [float(e) for e in errs if e is not None]


def _mean_error(dev: Sequence[tuple[Terms, Any]], rule: Rule, task: Task) -> float | None:
    errs = _errors(dev, rule, task)
    return None if errs is None else float(np.mean(errs))


def _best(dev: Sequence[tuple[Terms, Any]], candidates: Sequence[Rule], task: Task) -> Rule | None:
    best: tuple[float, int] | None = None
    for n, rule in enumerate(candidates):
        e = _mean_error(dev, rule, task)
        if e is not None and (best is None or e < best[0] - 1e-12):
            best = (e, n)
    return candidates[best[1]] if best is not None else None


def prior_rule(task: Task) -> Rule:
    """The no-model rule: the user's prior alone, read by its median (scores) or mode (labels)."""
    return Rule("prior", "raw", (0.0, 0.0, 1.0), "median" if task.kind == "score" else "mode")


def paired_standard_error(a: Sequence[float], b: Sequence[float]) -> float:
    """Standard error of the mean of the per-item differences ``a - b`` (0 for fewer than two items)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0


def one_standard_error(per_item: dict[str, list[float]]) -> tuple[str, str, dict[str, float]]:
    """Choose between the user's prior and the best model rule by the one-standard-error rule.

    The model rules (``raw``, ``calibrated``, ``fusion``) compete on their leave-one-out error
    alone: none is simpler than the others in the sense that matters (calibration fits nothing,
    and the fusion's error already pays for its fitted weights). The model as a whole is the
    added complexity: its best rule decides only when it beats ``prior`` by more than one
    standard error of their per-item error differences; otherwise ``prior`` does.

    Args:
        per_item: Each candidate's per-item leave-one-out errors (same items, same order), keyed
            by a name of :data:`RULES`.

    Returns:
        ``(chosen, lowest, standard_errors)``: the rule chosen, the candidate with the lowest
        mean error, and the standard error of ``prior`` against the best model rule (under the key
        ``prior``; empty when either is missing).
    """
    names = [n for n in RULES if n in per_item]
    means = {n: float(np.mean(per_item[n])) for n in names}

    def best(pool: list[str]) -> str:
        return min(pool, key=lambda n: (round(means[n], 9), RULES.index(n)))

    lowest = best(names)
    models = [n for n in names if n != "prior"]
    if "prior" not in means or not models:
        return lowest, lowest, {}
    model = best(models)
    se = paired_standard_error(per_item["prior"], per_item[model])
    chosen = model if means["prior"] - means[model] > se + 1e-9 else "prior"
    return chosen, lowest, {"prior": se}


def fit_rule(dev: Sequence[tuple[Terms, Any]], task: Task, dev_items: Sequence[str] = ()) -> FittedRule:
    """Choose a user's rule by leave-one-out error on the dev slice (see the module docstring).

    Args:
        dev: ``(terms, gold response)`` of each dev item, each answered without itself.
        task: The task (score or label).
        dev_items: The dev items' ids (recorded).

    Returns:
        The chosen rule; with an empty dev slice, ``raw`` with no errors.
    """
    metric = "absolute error" if task.kind == "score" else "error rate"
    if not dev:
        return FittedRule(Rule("raw"), {}, list(dev_items), metric)
    sources = ["raw"] + (["calibrated"] if all(t.calibrated is not None for t, _ in dev) else [])
    fixed = {"prior": prior_rule(task), **{name: Rule(name, name) for name in sources}}
    per_item: dict[str, list[float]] = {}
    for name, rule in fixed.items():
        errs = _errors(dev, rule, task)
        if errs is not None:
            per_item[name] = errs
    candidates = fusion_candidates(task, sources)
    loo = []
    for j in range(len(dev)):
        rest = [d for i, d in enumerate(dev) if i != j]
        rule = _best(rest, candidates, task) if rest else None
        e = error(dev[j][0], rule, dev[j][1], task) if rule is not None else None
        if e is not None:
            loo.append(e)
    if len(loo) == len(dev):
        per_item["fusion"] = loo
    fitted = {**fixed, "fusion": _best(dev, candidates, task) or Rule("raw")}
    chosen, lowest, ses = one_standard_error(per_item)
    errors = {n: float(np.mean(per_item[n])) for n in RULES if n in per_item}
    return FittedRule(fitted[chosen], errors, list(dev_items), metric, lowest=lowest, standard_errors=ses,
                      candidates={n: fitted[n] for n in per_item})


def dev_slice(outputs: Sequence[tuple[str, str]], options: Sequence[str], task: Task, size: int) -> list[str]:
    """Return the ids of the dev items: the latest ``size`` items whose response is one of the options.

    Args:
        outputs: ``(item id, response)`` in history order (oldest first).
        options: The closed answer set.
        task: The task.
        size: How many.
    """
    valid = [iid for iid, out in outputs if option_index(options, out, task) is not None]
    return valid[-size:] if size > 0 else []

