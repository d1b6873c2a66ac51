"""Stage 1, feature extraction: what in each history item made this user respond this way.

A :class:`FeatureExtractor` turns items into :class:`~core.stages.types.Feature` records. Two
implementations:

* :class:`LLMFeatureExtractor`: one schema-constrained call per item (batched with
  ``LLMClient.map``, cached by the client); every feature's evidence is checked against the item and
  trimmed to the span actually found, or the feature is dropped.
* :class:`core.stages.lexicon.LexiconFeatureExtractor`: deterministic and offline.

:func:`choose_extractor` picks one from the backend's capabilities (or the analyst's choice) and
:func:`run_features` runs the stage for one user, storing one artifact per item (``item:<id>``) as
it finishes, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import lru_cache
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field, create_model

from core.data.model import Item, Task
from core.errors import BackendError, InputError, Problem
from core.llm.client import LLMClient
from core.llm.fence import quote, with_data_rule
from core.llm.types import ChatRequest
from core.stages.directions import DirectionCheck
from core.stages.failures import PARTIAL, StageFailure, finish_stage, short
from core.stages.lexicon import LexiconFeatureExtractor
from core.stages.text import locate_evidence, truncate
from core.stages.types import Feature, FeatureProgress
from core.store.workspace import Workspace

"""``progress(done, total)`` for items."""

MAX_FEATURES = 6
PROMPT_CHARS = 3000
CHUNK = 16


@runtime_checkable
class FeatureExtractor(Protocol):
    """Extracts response-influential features from items.

    Attributes:
        name: Short kind, e.g. ``"llm"`` or ``"lexicon"``.
    """

    name: str

    def identity(self) -> dict[str, Any]:
        """Return what identifies this extractor's outputs (stored as the stage run's parameters)."""
        ...

    def extract(self, items: list[Item], task: Task, progress: FeatureProgress | None = None, *,
                run_id: str | None = None) -> dict[str, list[Feature]]:
        """Return the features of each item, by item id (items without features map to ``[]``).

        ``run_id`` is the features run the calls are made for; a model-backed extractor files its
        calls' traces under it.
        """
        ...


# -- the LLM extractor -------------------------------------------------------------------------------
def directions_for(task: Task) -> tuple[str, ...]:
    """Return the allowed feature directions of a task (labels plus neutral for label tasks)."""
    if task.kind == "label":
        return (*task.labels, "neutral") if task.labels else ("neutral",)
    if task.kind == "text":
        return ("neutral",)
    return ("raised", "lowered", "neutral")


@lru_cache(maxsize=64)
def feature_schema(directions: tuple[str, ...]) -> type[BaseModel]:
    """Return the pydantic model a model's feature list must validate against.

    Args:
        directions: The allowed values of ``direction`` (see :func:`directions_for`).
    """
    direction_type = Literal[directions]  # type: ignore[valid-type]
    item_model = create_model(
        "ExtractedFeature",
        phrase=(str, Field(description="Short feature phrase, at most 8 words")),
        aspect=(str, Field(description="The aspect it belongs to, 1-3 words, e.g. 'durability'")),
        direction=(direction_type, Field(description="How it pushed the user's response")),
        strength=(float, Field(description="0..1, how strongly it drove the response")),
        evidence=(str, Field(description="An exact quote from the item text")),
    )
    # ``features`` is required (no default): a reply like {"wrong": 1} must fail validation, not pass as "no features".
    return create_model("ExtractedFeatures", features=(list[item_model], Field(...)))


_SYSTEM = (
    "You analyse one item from a user's history and the user's response to it. List the features of the item "
    "that most plausibly made this user respond this way: concrete properties, events or themes, not generic "
    "praise. For each feature give a short phrase, the aspect it belongs to (a reusable 1-3 word category such "
    "as 'durability', 'price and value', 'plot twist'), the direction it pushed the response, a strength from 0 "
    "to 1, and an evidence span copied exactly from the item text. Answer with JSON only."
)


def _direction_help(task: Task) -> str:
    if task.kind == "score":
        return (f"direction: 'raised' if it pushed the score up (towards {task.score_max:g}), 'lowered' if it pushed "
                f"it down (towards {task.score_min:g}), 'neutral' otherwise.")
    if task.kind == "label":
        return "direction: the label this feature points to, or 'neutral'."
    return "direction: always 'neutral'."


def feature_request(item: Item, task: Task, *, max_features: int = MAX_FEATURES) -> ChatRequest:
    """Build the structured chat request extracting one item's features.

    Args:
        item: The item; an empty ``output`` means the response is unknown (a query).
        task: The task (its instruction and response kind shape the prompt).
        max_features: Most features to ask for.
    """
    response = item.output.strip()
    known = f"The user's response: {quote(response)}" if response else \
        "The user's response is not known yet; list the features most likely to influence it."
    user = "\n".join([  # every piece of data is fenced as a JSON string (core.llm.fence)
        f"Task: {quote(task.instruction or task.name)} ({task.kind})",
        f"Item text: {quote(truncate(item.input, PROMPT_CHARS))}",
        known,
        f"List at most {max_features} features. {_direction_help(task)}",
    ])
    return ChatRequest(messages=[{"role": "system", "content": with_data_rule(_SYSTEM)},
                                 {"role": "user", "content": user}],
                       schema=feature_schema(directions_for(task)), max_tokens=120 + 90 * max_features,
                       temperature=0.0, stage="features")


def validate_features(item: Item, raw: list[dict[str, Any]], task: Task, *,
                      max_features: int = MAX_FEATURES) -> list[Feature]:
    """Turn a model's feature list into features, checking each evidence span against the item.

    Evidence not found in the item (even fuzzily, see :func:`core.stages.text.locate_evidence`) drops
    the feature; evidence found only in part is trimmed to that part. Strength is clamped to 0..1
    and directions outside the task's set become ``neutral``.
    """
    allowed = set(directions_for(task))
    out: list[Feature] = []
    seen: set[tuple[str, str]] = set()
    for f in raw:
        phrase = " ".join(str(f.get("phrase", "")).split())[:120]
        aspect = " ".join(str(f.get("aspect", "")).split()).lower()[:60]
        if not phrase or not aspect or (aspect, phrase.lower()) in seen:
            continue
        evidence = locate_evidence(str(f.get("evidence", "")), item.input)
        if evidence is None:
            continue
        direction = str(f.get("direction", "neutral"))
        try:
            strength = float(f.get("strength", 0.5))
        except (TypeError, ValueError):
            strength = 0.5
        seen.add((aspect, phrase.lower()))
        out.append(Feature(id=f"{item.id}#{len(out)}", item_id=item.id, phrase=phrase, aspect=aspect,
                           direction=direction if direction in allowed else "neutral",
                           strength=round(min(1.0, max(0.0, strength)), 3), evidence=evidence))
        if len(out) >= max_features:
            break
    return out


class LLMFeatureExtractor:
    """Extract features with a chat model, one structured call per item.

    Args:
        client: An :class:`core.llm.client.LLMClient` (cache, retries, concurrency).
        max_features: Most features per item.
        skip_failures: When True an item whose call failed gets no features (and is reported in
            :attr:`failures`); when False the first failure raises :class:`core.errors.BackendError`.

    Attributes:
        failures: ``{item_id: message}`` of the items whose latest :meth:`extract` call failed.
    """

    name = "llm"

    def __init__(self, client: LLMClient, *, max_features: int = MAX_FEATURES, skip_failures: bool = False) -> None:
        """Create the extractor."""
        self.client = client
        self.max_features = max_features
        self.skip_failures = skip_failures
        self.failures: dict[str, str] = {}
        self._failures_lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        """Return the model identity and prompt version (never an API key)."""
        caps = self.client.capabilities
        return {"kind": "llm", "version": 1, "backend": caps.backend, "model": caps.model,
                "max_features": self.max_features}

    def extract(self, items: list[Item], task: Task, progress: FeatureProgress | None = None, *,
                run_id: str | None = None) -> dict[str, list[Feature]]:
        """Extract features of each item; see :class:`FeatureExtractor`.

        Raises:
            core.errors.BackendError: A call failed and ``skip_failures`` is False.
        """
        requests = []
        for item in items:
            req = feature_request(item, task, max_features=self.max_features)
            req.run_id = run_id
            requests.append(req)
        failures: dict[str, str] = {}

        def on_progress(p: Any) -> None:
            if progress:
                progress(p.done, p.total)

        results = self.client.map(requests, progress=on_progress)
        out: dict[str, list[Feature]] = {}
        for item, res in zip(items, results, strict=True):
            if isinstance(res, BackendError):
                if not self.skip_failures:
                    raise res
                failures[item.id] = str(res)
                out[item.id] = []
                continue
            if res.parsed is None:  # a structured call always parses; never turn its absence into "no features"
                if not self.skip_failures:
                    raise BackendError(Problem(str(getattr(self.client, "endpoint", "llm")), None, None,
                                                "no structured output"))
                failures[item.id] = "no structured output"
                out[item.id] = []
                continue
            out[item.id] = validate_features(item, res.parsed.model_dump()["features"], task,
                                             max_features=self.max_features)
        # run_features extracts two chunks at once: each call updates only its own items' entries
        with self._failures_lock:
            for item in items:
                self.failures.pop(item.id, None)
            self.failures.update(failures)
        return out


# -- choosing ---------------------------------------------------------------------------------------
def choose_extractor(client: LLMClient | None, prefer: str | None = None) -> FeatureExtractor:
    """Pick the feature extractor: the analyst's choice, else what the backend can do well.

    Args:
        client: The LLM client, or None when no model is configured.
        prefer: ``"llm"``, ``"lexicon"``, or None / ``"auto"`` to follow the backend's capabilities
            (LLM when it is not weak and supports structured output, else lexicon).

    Raises:
        InputError: ``prefer`` is unknown, or ``"llm"`` was asked for without a client.
    """
    choice = (prefer or "auto").lower()
    if choice == "lexicon":
        return LexiconFeatureExtractor()
    if choice == "llm":
        if client is None:
            raise InputError(Problem("extractor", None, "extractor", "the LLM extractor needs a model backend"))
        return LLMFeatureExtractor(client)
    if choice != "auto":
        raise InputError(Problem("extractor", None, "extractor",
                                 f"unknown extractor {prefer!r}; use auto, llm or lexicon"))
    if client is not None and is_capable(client):
        return LLMFeatureExtractor(client)
    return LexiconFeatureExtractor()


def is_capable(client: LLMClient | None) -> bool:
    """True when a client's model is good enough to drive a stage (not weak, structured output)."""
    if client is None:
        return False
    caps = client.capabilities
    return (not caps.is_weak) and bool(caps.structured_output)


def task_with_labels(task: Task, items: list[Item]) -> Task:
    """Return the task with its label set filled from the items' outputs when a label task lists none."""
    if task.kind != "label" or task.labels:
        return task
    labels = tuple(sorted({it.output.strip() for it in items if it.output.strip()}))
    return replace(task, labels=labels)


# -- the stage --------------------------------------------------------------------------------------
def items_digest(items: list[Item], task: Task) -> str:
    """Return a short digest of a user's items and task (part of stage parameters, so data changes rerun)."""
    h = hashlib.sha256(json.dumps(task.to_dict(), sort_keys=True).encode())
    for it in items:
        h.update(json.dumps([it.id, it.input, it.output], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def features_params(extractor: FeatureExtractor, items: list[Item], task: Task) -> dict[str, Any]:
    """Return the parameters of a features run (extractor identity, data digest, direction check)."""
    return {"extractor": extractor.identity(), "data": items_digest(items, task),
            "directions": DirectionCheck.for_items(items, task).identity()}


def load_features(ws: Workspace, run_id: str) -> dict[str, list[Feature]]:
    """Return the features stored by a features run, by item id."""
    arts = ws.get_artifacts(run_id, "item:")
    return {k[len("item:"):]: [Feature.from_dict(f) for f in v] for k, v in arts.items()}


def run_features(ws: Workspace, dataset_id: str, user_id: str, extractor: FeatureExtractor, *,
                 progress: FeatureProgress | None = None, chunk: int = CHUNK,
                 reuse: bool = True) -> tuple[str, dict[str, list[Feature]]]:
    """Run (or reuse, or resume) feature extraction for one user.

    A finished run with the same extractor identity and data is reused. An unfinished one (a crash
    or interrupt) is resumed: items already stored are skipped. A ``partial`` one (items whose model
    call failed, listed in its ``failures`` artifact) is continued in a new run: the stored items are
    copied, the failed ones extracted again. An extractor with a ``failures`` dict (the LLM extractor
    with ``skip_failures``) has each failed item recorded instead of stored as featureless. Items are
    extracted in chunks of ``chunk`` and each item's features are stored as artifact ``item:<id>`` as soon as its chunk
    returns, so an interruption loses at most the chunk in flight (and the LLM client's cache keeps
    even those calls).

    Args:
        ws: The workspace.
        dataset_id: Stored dataset.
        user_id: The user.
        extractor: The extractor to use.
        progress: ``progress(done, total)`` over the user's items.
        chunk: Items per extraction batch.
        reuse: False: neither reuse nor resume an earlier run; extract every item in a new run
            (``python -m core stage``).

    Returns:
        The run id and the features by item id (every item present, possibly with ``[]``).
    """
    items = ws.get_items(dataset_id, user_id)
    task = task_with_labels(ws.get_dataset(dataset_id, user_ids=[]).task, items)
    params = features_params(extractor, items, task)
    # directions are checked against each item's score relative to the user's usual one; the
    # sentiment lexicon's are replaced by the data's where they disagree, a model's only marked
    check = DirectionCheck.for_items(items, task)
    done = ws.find_run("features", params, dataset_id=dataset_id, user_id=user_id) if reuse else None
    if done is not None:
        feats = load_features(ws, done.id)
        if progress:
            progress(len(items), len(items))
        return done.id, {it.id: feats.get(it.id, []) for it in items}
    latest = ws.find_run("features", params, dataset_id=dataset_id, user_id=user_id, status=None) if reuse else None
    # An unfinished run (a crash or interrupt) is continued under its own id; a partial one is not:
    # the new run (so the later stages rebuild on the completed features) starts from its stored
    # items, and exactly the failed ones are extracted again.
    partial = latest.id if latest is not None and latest.status == PARTIAL else None
    resume = latest.id if latest is not None and partial is None else None
    with ws.run("features", params, dataset_id=dataset_id, user_id=user_id, run_id=resume) as run:
        if partial is not None:
            kept = load_features(ws, partial)
            with ws.transaction():
                for item_id, fs in kept.items():
                    ws.put_artifact(run.id, f"item:{item_id}", [f.to_dict() for f in fs])
        failures: list[StageFailure] = []
        feats = _extract_missing(ws, run.id, items, task, extractor, check, progress=progress, chunk=chunk,
                                 failures=failures)
        if failures and len(failures) == len(items):  # nothing worked: the endpoint is down, not a few items
            raise BackendError(Problem(str(getattr(getattr(extractor, "client", None), "endpoint", "llm")), None,
                                       None, f"every item's feature call failed; the first: {failures[0].message}"))
        finish_stage(ws, run, failures)
    return run.id, {it.id: feats.get(it.id, []) for it in items}


def _extract_missing(ws: Workspace, run_id: str, items: list[Item], task: Task, extractor: FeatureExtractor,
                     check: DirectionCheck, *, progress: FeatureProgress | None, chunk: int,
                     failures: list[StageFailure]) -> dict[str, list[Feature]]:
    """Extract the items a features run has not stored yet, storing each chunk as it returns.

    Items whose model call failed are appended to ``failures`` and left unstored.

    Returns:
        The run's features by item id (the stored ones and the new ones).
    """
    feats = load_features(ws, run_id)
    todo = [it for it in items if it.id not in feats]
    base = len(items) - len(todo)
    if progress:
        progress(base, len(items))
    batches = [todo[start:start + chunk] for start in range(0, len(todo), chunk)]
    done_per_batch = [0] * len(batches)
    lock = threading.Lock()

    def sub(k: int) -> FeatureProgress:
        def report(done_n: int, _total: int) -> None:
            with lock:
                done_per_batch[k] = done_n
                total_done = base + sum(done_per_batch)
            if progress:
                progress(total_done, len(items))
        return report

    # Two chunks in flight: the next chunk's calls take the slots the current chunk's last calls leave
    # idle, so the endpoint stays busy across chunk boundaries; chunks are still stored one by one, in order.
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="features")
    try:
        futures = [pool.submit(extractor.extract, batch, task, progress=sub(k), run_id=run_id)
                   for k, batch in enumerate(batches)]
        for batch, fut in zip(batches, futures, strict=True):
            out = fut.result()
            reported: dict[str, str] = dict(getattr(extractor, "failures", {}) or {})
            failed = {it.id: reported[it.id] for it in batch if it.id in reported}
            with ws.transaction():  # one write per chunk
                for it in batch:
                    if it.id in failed:  # not stored: the next build extracts exactly these again
                        failures.append(StageFailure("features", "item", it.id, "failed", short(failed[it.id])))
                        continue
                    fs = check.apply(it, task, out.get(it.id, []), correct=extractor.name == "lexicon")
                    ws.put_artifact(run_id, f"item:{it.id}", [f.to_dict() for f in fs])
                    feats[it.id] = fs
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return feats
