"""Stage 4, reasoning paths: from an item's features through the user's factors to the known response.

A path has up to three hops, one per distinct factor, strongest factor first (``|effect|``, see
:func:`core.stages.stats.effect`); each hop uses the item's strongest feature in that factor. Features
only in Unclustered give a hop only when the item has nothing else. Rendered e.g.
``mentions "battery died" -> Durability (influence -1.4 stars) -> rated 2``.

Every path is checked against the statistics (:func:`check_path`):

* score tasks: only hops through factors with a clear effect count (95% CI excluding 0, see
  :func:`clear_effect`): each such hop's claimed direction (the feature's direction, or the model's
  claim) agrees with the sign of its factor's influence, and their summed influence has the sign of
  ``response - user mean`` (responses within 0.25 of the mean agree with anything);
* label tasks: the first hop whose factor has a top label points to the response;
* text tasks: always consistent.

:class:`TemplatePathWriter` is deterministic; :class:`LLMPathWriter` has a model pick the hops and
write the sentence, and its claims are checked the same way.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field, create_model

from core.data.model import Item, Task
from core.errors import BackendError
from core.llm.client import LLMClient
from core.llm.fence import quote, with_data_rule
from core.llm.types import ChatRequest
from core.stages.failures import StageFailure, finish_stage, short
from core.stages.features import directions_for
from core.stages.stats import effect, user_mean
from core.stages.summary import factors_digest, unit
from core.stages.text import truncate
from core.stages.types import Factor, Feature, PathProgress, ReasoningPath
from core.store.workspace import Workspace

MAX_HOPS = 3


@runtime_checkable
class PathWriter(Protocol):
    """Writes one reasoning path per history item."""

    name: str

    def identity(self) -> dict[str, Any]:
        """Return what identifies this writer's output."""
        ...

    def write(self, items: list[Item], features: dict[str, list[Feature]], factors: list[Factor],
              assignments: dict[str, str], task: Task, progress: PathProgress | None = None, *,
              run_id: str | None = None) -> dict[str, ReasoningPath]:
        """Return paths by item id (``run_id``: the paths run a model's calls are filed under)."""
        ...


def _sign(x: float, eps: float = 0.0) -> int:
    return 0 if abs(x) <= eps else (1 if x > 0 else -1)


def hop_label(factor: Factor, task: Task) -> str:
    """Render a factor with its key statistic, e.g. ``Durability (influence -1.4 stars)``."""
    s = factor.stats
    if factor.is_noise:
        return factor.name
    if s.influence is not None:
        return f"{factor.name} (influence {s.influence:+.1f} {unit(task)})"
    if s.top_label is not None:
        return f"{factor.name} (lift {s.lift.get(s.top_label, 1.0):.1f}x for '{s.top_label}')"
    return f"{factor.name} ({s.coverage:.0%} of items)"


def response_text(item: Item, task: Task) -> str:
    """Render the known response: ``rated 2``, ``labelled X`` or ``wrote "..."``."""
    out = item.output.strip()
    if task.kind == "score":
        return f"rated {out}"
    if task.kind == "label":
        return f"labelled {out}"
    return f'wrote "{truncate(out, 60)}"'


def choose_hops(item_features: list[Feature], factors_by_id: dict[str, Factor],
                assignments: dict[str, str], max_hops: int = MAX_HOPS) -> list[tuple[Feature, Factor]]:
    """Pick up to ``max_hops`` (feature, factor) hops: one per factor, strongest factor first."""
    best: dict[str, Feature] = {}
    for f in item_features:
        fid = assignments.get(f.id)
        if fid is None or fid not in factors_by_id:
            continue
        if fid not in best or f.strength > best[fid].strength:
            best[fid] = f
    real = [(feat, factors_by_id[fid]) for fid, feat in best.items() if not factors_by_id[fid].is_noise]
    real.sort(key=lambda h: (not h[1].pinned, -abs(effect(h[1].stats)), -h[0].strength, h[1].id))
    if real:
        return real[:max_hops]
    noise = [(feat, factors_by_id[fid]) for fid, feat in best.items() if factors_by_id[fid].is_noise]
    return noise[:1]


def clear_effect(factor: Factor) -> bool:
    """True when a factor's influence is statistically clear: its 95% CI excludes 0 (or, without a CI, |x| >= 0.5)."""
    s = factor.stats
    if s.influence is None:
        return False
    if s.ci_low is not None and s.ci_high is not None:
        return s.ci_low > 0 or s.ci_high < 0
    return abs(s.influence) >= 0.5


def check_path(steps: list[dict[str, Any]], item: Item, factors_by_id: dict[str, Factor], task: Task,
               mean: float | None) -> bool:
    """Return whether a path agrees with the factor statistics and the response (module docstring)."""
    hops = [(s, factors_by_id.get(s.get("factor_id", ""))) for s in steps]
    hops = [(s, f) for s, f in hops if f is not None and not f.is_noise]
    if task.kind == "score":
        total = 0.0
        for s, f in hops:
            if not clear_effect(f):
                continue
            infl = float(f.stats.influence or 0.0)
            total += infl
            claimed = {"raised": 1, "lowered": -1}.get(str(s.get("direction", "")), 0)
            if claimed and claimed != _sign(infl):
                return False
        score = task.parse_score(item.output)
        if score is None or mean is None:
            return True
        actual = _sign(score - mean, 0.25)
        predicted = _sign(total, 0.05)
        return actual == 0 or predicted == 0 or actual == predicted
    if task.kind == "label":
        for _, f in hops:
            if f.stats.top_label is not None:
                return f.stats.top_label == item.output.strip()
        return True
    return True


def render(steps: list[dict[str, Any]], response: str) -> str:
    """Render steps as ``mentions "x" -> Factor (...); mentions "y" -> Factor (...) -> rated 2``."""
    if not steps:
        return f"no features found -> {response}"
    hops = "; ".join(f'mentions "{truncate(s["feature"], 50)}" -> {s["hop"]}' for s in steps)
    return f"{hops} -> {response}"


def _step(feat: Feature, factor: Factor, task: Task) -> dict[str, Any]:
    return {"feature": feat.phrase, "feature_id": feat.id, "direction": feat.direction, "factor_id": factor.id,
            "factor": factor.name, "influence": factor.stats.influence, "effect": round(effect(factor.stats), 4),
            "hop": hop_label(factor, task)}


class TemplatePathWriter:
    """Deterministic paths from the features, the factor statistics and the response."""

    name = "template"

    def identity(self) -> dict[str, Any]:
        """Return what identifies this writer's output."""
        return {"kind": "template", "version": 1, "hops": MAX_HOPS}

    def write(self, items: list[Item], features: dict[str, list[Feature]], factors: list[Factor],
              assignments: dict[str, str], task: Task, progress: PathProgress | None = None, *,
              run_id: str | None = None) -> dict[str, ReasoningPath]:
        """Return paths by item id (``run_id`` is unused: no model is called)."""
        by_id = {f.id: f for f in factors}
        mean = user_mean(items, task)
        out: dict[str, ReasoningPath] = {}
        for n, item in enumerate(items, 1):
            steps = [_step(feat, fac, task) for feat, fac in choose_hops(features.get(item.id, []), by_id, assignments)]
            resp = response_text(item, task)
            out[item.id] = ReasoningPath(item_id=item.id, steps=steps, response=item.output, text=render(steps, resp),
                                         consistent=check_path(steps, item, by_id, task, mean))
            if progress:
                progress(n, len(items))
        return out


def refresh_paths(paths: dict[str, ReasoningPath], items: list[Item], factors: list[Factor],
                  assignments: dict[str, str], task: Task) -> dict[str, ReasoningPath]:
    """Re-point existing (e.g. model-written) paths at curated factors and re-check them.

    Each step's factor is re-read from the feature's current assignment (steps whose feature is
    gone are dropped); the text is kept, the ``consistent`` flag recomputed.
    """
    by_id = {f.id: f for f in factors}
    mean = user_mean(items, task)
    items_by_id = {it.id: it for it in items}
    out = {}
    for iid, p in paths.items():
        steps = []
        for s in p.steps:
            fac = by_id.get(assignments.get(s.get("feature_id", ""), ""))
            if fac is None:
                continue
            steps.append({**s, "factor_id": fac.id, "factor": fac.name, "influence": fac.stats.influence,
                          "effect": round(effect(fac.stats), 4), "hop": hop_label(fac, task)})
        item = items_by_id.get(iid)
        ok = check_path(steps, item, by_id, task, mean) if item else p.consistent
        out[iid] = ReasoningPath(item_id=iid, steps=steps, response=p.response, text=p.text, consistent=ok)
    return out


_PATH_SYSTEM = (
    "You explain why a user responded to an item the way they did, using the user's factors (recurring reasons "
    "with measured influence). Pick at most 3 of the item's features that best explain the response, say for "
    "each whether it raised or lowered the response (or which label it points to), and write one short sentence "
    "of the form: mentions X -> factor (influence) -> response. Answer with JSON only."
)


def path_schema(directions: tuple[str, ...]) -> type[BaseModel]:
    """Return the pydantic model of a model-written path."""
    hop = create_model("PathHop", feature_id=(str, ...),
                       direction=(Literal[directions], ...))  # type: ignore[valid-type]
    return create_model("PathOut", hops=(list[hop], Field(...)), text=(str, ...))  # required: see feature_schema


class LLMPathWriter:
    """Paths written by a chat model, checked against the statistics.

    The model picks hops by feature id; each hop's factor is the feature's actual assignment (a model
    cannot re-assign features), and its claimed direction is checked by :func:`check_path`. Items
    whose call fails get the template path (listed in :attr:`failures`).

    Args:
        client: An :class:`core.llm.client.LLMClient`.
    """

    name = "llm"

    def __init__(self, client: LLMClient) -> None:
        """Create the writer."""
        self.client = client
        self.failures: dict[str, str] = {}  # {item id: why it got the template path} of the last call

    def identity(self) -> dict[str, Any]:
        """Return the model identity and prompt version."""
        caps = self.client.capabilities
        return {"kind": "llm", "version": 1, "backend": caps.backend, "model": caps.model}

    def request(self, item: Item, feats: list[Feature], by_id: dict[str, Factor], assignments: dict[str, str],
                task: Task, *, run_id: str | None = None) -> ChatRequest:
        """Build the path request of one item (filed under the paths run ``run_id``)."""
        lines = []
        for f in feats:
            fac = by_id.get(assignments.get(f.id, ""))
            lines.append(f"- id {quote(f.id)}, aspect {quote(f.aspect)}, phrase {quote(f.phrase)} -> factor "
                         f"{quote(hop_label(fac, task)) if fac else 'none'}")
        # every piece of data is fenced as a JSON string (core.llm.fence)
        user = (f"Item: {quote(truncate(item.input, 600))}\nResponse: {quote(response_text(item, task))}\n"
                f"Features (id, aspect, phrase -> factor):\n" + "\n".join(lines))
        return ChatRequest(messages=[{"role": "system", "content": with_data_rule(_PATH_SYSTEM)},
                                     {"role": "user", "content": user}],
                           schema=path_schema(directions_for(task)), max_tokens=260, stage="paths",
                           run_id=run_id)

    def write(self, items: list[Item], features: dict[str, list[Feature]], factors: list[Factor],
              assignments: dict[str, str], task: Task, progress: PathProgress | None = None, *,
              run_id: str | None = None) -> dict[str, ReasoningPath]:
        """Return paths by item id (the model calls filed under the paths run ``run_id``)."""
        by_id = {f.id: f for f in factors}
        mean = user_mean(items, task)
        template = TemplatePathWriter().write(items, features, factors, assignments, task)
        todo = [it for it in items if features.get(it.id)]
        reqs = [self.request(it, features[it.id], by_id, assignments, task, run_id=run_id) for it in todo]

        def on_progress(p: Any) -> None:
            if progress:
                progress(p.done, p.total)

        results = self.client.map(reqs, progress=on_progress) if reqs else []
        out = dict(template)
        self.failures = {}
        for item, res in zip(todo, results, strict=True):
            if isinstance(res, BackendError) or res.parsed is None:
                self.failures[item.id] = str(res) if isinstance(res, BackendError) else "no structured output"
                continue
            feats = {f.id: f for f in features[item.id]}
            steps = []
            for hop in res.parsed.hops[:MAX_HOPS]:
                feat = feats.get(hop.feature_id)
                fac = by_id.get(assignments.get(hop.feature_id, ""))
                if feat is None or fac is None:
                    continue
                step = _step(feat, fac, task)
                step["direction"] = hop.direction
                steps.append(step)
            text = " ".join(str(res.parsed.text).split())[:400] or render(steps, response_text(item, task))
            out[item.id] = ReasoningPath(item_id=item.id, steps=steps, response=item.output, text=text,
                                         consistent=check_path(steps, item, by_id, task, mean))
        return out


def run_paths(ws: Workspace, factors_run_id: str, items: list[Item], features: dict[str, list[Feature]],
              factors: list[Factor], assignments: dict[str, str], task: Task, writer: PathWriter, *,
              dataset_id: str, user_id: str, progress: PathProgress | None = None,
              reuse: bool = True) -> tuple[str, dict[str, ReasoningPath]]:
    """Write (or reuse, when ``reuse``) the reasoning paths for the curated factors (artifact ``paths``).

    Model-written paths are cached call by call by the LLM client, so an interrupted run loses no
    model call. Items whose call failed (template path used) are listed in the run's ``failures``
    and make it ``partial``, so the next build asks the model for exactly those again.

    Returns:
        The ``paths`` run id and the paths by item id.
    """
    params = {"writer": writer.identity(), "factors": factors_digest(factors)}
    with ws.run("paths", params, dataset_id=dataset_id, user_id=user_id, parents=[factors_run_id],
                reuse=reuse) as run:
        if run.reused:
            if progress:
                progress(len(items), len(items))
            return run.id, load_paths(ws, run.id)
        paths = writer.write(items, features, factors, assignments, task, progress=progress, run_id=run.id)
        ws.put_artifact(run.id, "paths", {iid: _path_dict(p) for iid, p in paths.items()})
        finish_stage(ws, run, [StageFailure("paths", "path", iid, "fell back", short(f"template path: {msg}"))
                               for iid, msg in (getattr(writer, "failures", {}) or {}).items()])
    return run.id, paths


def _path_dict(p: ReasoningPath) -> dict[str, Any]:
    """``ReasoningPath.to_dict`` without ``dataclasses.asdict``'s deep copies (steps are plain dicts)."""
    return {"item_id": p.item_id, "steps": p.steps, "response": p.response, "text": p.text,
            "consistent": p.consistent}


def load_paths(ws: Workspace, run_id: str) -> dict[str, ReasoningPath]:
    """Load the paths stored by a ``paths`` run."""
    return {k: ReasoningPath.from_dict(v) for k, v in (ws.get_artifact(run_id, "paths") or {}).items()}
