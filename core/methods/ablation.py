"""Faithfulness: re-run a method with one factor, one retrieved item (its path) or the summary removed.

If the shown reasoning really drives the answer, removing an influential factor should move it
and removing an irrelevant one should not. :func:`ablate` reports whether and how the answer
changed: the score shift, a label flip, or the ROUGE-L F-measure of the new text to the original.
Both runs go through the client's cache, so repeating an ablation makes no new model call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.data.model import Task
from core.errors import Cancelled, InputError, Problem
from core.methods.context import AnswerContext
from core.methods.registry import get_method
from core.methods.types import Answer
from core.metrics import text_metrics  # ROUGE-L as LaMP configures it


@dataclass
class AblationResult:
    """The effect of removing one thing from a method's input.

    Attributes:
        original: The answer with everything in.
        ablated: The answer with the thing removed.
        changed: Whether the answer changed (parsed value; text for unparsed or text answers).
        shift: Score tasks: ablated minus original score (None when either is unparsed).
        flipped: Label tasks: whether the label changed.
        rouge_l: Text tasks: ROUGE-L F-measure of the ablated text to the original.
        removed: What was removed, readable (e.g. ``factor F2 (Durability)``).
        kind: ``factor``, ``item``, ``summary`` (or several joined by ``+``).
        target: The factor / item id removed, if one.
    """

    original: Answer
    ablated: Answer
    changed: bool
    shift: float | None
    flipped: bool | None
    rouge_l: float | None
    removed: str
    kind: str = ""
    target: str | None = None

    @property
    def effect(self) -> float:
        """A magnitude for sorting: ``|shift|``, 1 for a flip, ``1 - rouge_l``, else 1/0 for changed."""
        if self.shift is not None:
            return abs(self.shift)
        if self.flipped is not None:
            return float(self.flipped)
        if self.rouge_l is not None:
            return 1.0 - self.rouge_l
        return float(self.changed)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"removed": self.removed, "kind": self.kind, "target": self.target, "changed": self.changed,
                "shift": self.shift, "flipped": self.flipped, "rouge_l": self.rouge_l, "effect": self.effect,
                "original": self.original.to_dict(), "ablated": self.ablated.to_dict()}


def resolve_factor(context: AnswerContext, ref: str) -> str:
    """Return the id of the factor named or numbered ``ref`` (id first, then case-insensitive name).

    Raises:
        core.errors.InputError: No such factor (field ``factor``).
    """
    factors = context.profile.factors
    for f in factors:
        if f.id == ref:
            return f.id
    matches = [f for f in factors if f.name.strip().lower() == ref.strip().lower()]
    if len(matches) == 1:
        return matches[0].id
    known = ", ".join(f"{f.id} ({f.name})" for f in factors if not f.is_noise) or "none"
    why = "is ambiguous" if matches else "is not a factor of this user"
    raise InputError(Problem("factor", None, "factor", f"{ref!r} {why}; factors: {known}"))


def _check_item(context: AnswerContext, item_id: str) -> None:
    if context.item(item_id) is None:
        raise InputError(Problem("item", None, "item", f"{item_id!r} is not a history item of this user"))


def compare(original: Answer, ablated: Answer, task: Task) -> tuple[bool, float | None, bool | None, float | None]:
    """Compare two answers: ``(changed, shift, flipped, rouge_l)`` as in :class:`AblationResult`."""
    if task.kind == "score":
        a, b = original.value, ablated.value
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            shift = float(b) - float(a)
            return shift != 0.0, shift, None, None
        return _norm(original.text) != _norm(ablated.text), None, None, None
    if task.kind == "label":
        if original.value is None or ablated.value is None:
            changed = _norm(original.text) != _norm(ablated.text)
            return changed, None, None, None
        flipped = original.value != ablated.value
        return flipped, None, flipped, None
    score = text_metrics([ablated.text or ""], [original.text or ""])["rouge-l"]
    return _norm(original.text) != _norm(ablated.text), None, None, float(score)


def _norm(text: str) -> str:
    return " ".join((text or "").split()).lower()


def ablate(method_name: str, query: str, context: AnswerContext, *, factor: str | None = None,
           item: str | None = None, summary: bool = False, original: Answer | None = None) -> AblationResult:
    """Re-run a method with a factor, a retrieved item (and its path) or the summary removed.

    Args:
        method_name: One of :data:`core.methods.registry.METHOD_NAMES`.
        query: The query text.
        context: The full context (nothing removed beyond what it already disables).
        factor: Factor id or name to remove.
        item: History item id to remove from what is retrieved (not replaced by the next best).
        summary: Remove the preference summary.
        original: The answer of the full context, if already computed (saves a run).

    Returns:
        The comparison of the two answers.

    Raises:
        core.errors.InputError: Nothing to remove, an unknown factor / item / method.
    """
    if factor is None and item is None and not summary:
        raise InputError(Problem("ablate", None, "factor", "say what to remove: a factor, an item or the summary"))
    method = get_method(method_name)
    parts, kinds = [], []
    factor_id = None
    if factor is not None:
        factor_id = resolve_factor(context, factor)
        parts.append(f"factor {factor_id} ({context.profile.factor(factor_id).name})")
        kinds.append("factor")
    if item is not None:
        _check_item(context, item)
        parts.append(f"item {item}")
        kinds.append("item")
    if summary:
        parts.append("the summary")
        kinds.append("summary")
    if original is None:
        original = method.answer(query, context)
    ablated = method.answer(query, context.ablated(factor=factor_id, item=item, summary=summary))
    changed, shift, flipped, rouge_l = compare(original, ablated, context.task)
    target = factor_id if factor_id is not None else item
    return AblationResult(original=original, ablated=ablated, changed=changed, shift=shift, flipped=flipped,
                          rouge_l=rouge_l, removed=" + ".join(parts), kind="+".join(kinds), target=target)


def ablate_all_factors(method_name: str, query: str, context: AnswerContext, *,
                       factors: list[str] | None = None, progress: Callable[[int, int], None] | None = None,
                       cancel: Callable[[], bool] | None = None) -> list[AblationResult]:
    """Ablate each factor in turn (the UI's ablation panel), running the full context once.

    Args:
        method_name: The method.
        query: The query text.
        context: The full context.
        factors: Factor ids or names to try; default every active (non-noise, not disabled) factor.
        progress: ``progress(done, total)`` after each answer (the full one, then one per factor).
        cancel: Checked before each factor's answer; once True the factors finished so far are returned.
            A factor's answer stopped mid-way by a cancel (:class:`core.errors.Cancelled` from a
            guarded client) is dropped the same way; a cancel during the full answer propagates
            (nothing finished to keep).

    Returns:
        One result per factor finished, strongest effect first (ties in profile order).
    """
    ids = [resolve_factor(context, f) for f in factors] if factors is not None else [
        f.id for f in context.active_factors()]
    original = get_method(method_name).answer(query, context)
    if progress is not None:
        progress(1, len(ids) + 1)
    results = []
    for n, fid in enumerate(ids):
        if cancel is not None and cancel():
            break
        try:
            results.append(ablate(method_name, query, context, factor=fid, original=original))
        except Cancelled:
            break
        if progress is not None:
            progress(n + 2, len(ids) + 1)
    order = {fid: n for n, fid in enumerate(ids)}
    return sorted(results, key=lambda r: (-r.effect, order.get(r.target or "", 0)))
