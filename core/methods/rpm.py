"""``rpm``: reasoning-level personalization: factors with statistics + summary + reasoning paths.

Steps (each in the trace):

1. ``features``: extract the query's features with the profile's extractor.
2. ``retrieve``: feature-level retrieval of the top ``k`` history items (documents carry the
   matched feature pairs and their reasoning paths).
3. ``reason``: choose the factors to show: the active (not noise, not disabled) factors that the
   retrieved items' matched features belong to (pairs with similarity >= :data:`MATCH_MIN_SIM`), or
   that a query feature is close to (cosine to the factor centroid >= :data:`CENTROID_MIN_SIM`), plus
   every pinned factor; when none is relevant, the :data:`FALLBACK_FACTORS` strongest
   (``|effect| x coverage``). At most :data:`MAX_FACTORS` are shown, pinned first, then by
   ``|effect|``. The retrieved items' paths are re-rendered without hops through disabled factors.
4. ``llm``: the final prompt = factors with statistics + summary + paths.

Disabling a factor removes it from the factor list, from the paths and from the summary's
sentences that name it; retrieval itself is unchanged (its factor weights are part of the index),
so an ablation changes exactly what the model is shown.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from core.methods.context import AnswerContext
from core.methods.prompting import call_answer
from core.methods.render import describe_factor, factor_record, path_text
from core.methods.steps import retrieve_step
from core.methods.summary import SUMMARY_TITLE
from core.methods.types import Answer, RetrievedDoc, Step, Trace
from core.stages.stats import effect, strength
from core.stages.types import Factor, Feature

MAX_FACTORS = 6
FALLBACK_FACTORS = 2
CENTROID_MIN_SIM = 0.35
MATCH_MIN_SIM = 0.3
FACTORS_TITLE = "This user's factors (computed from their history)"
PATHS_TITLE = "How this user reasoned about similar past items"


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


class RPMMethod:
    """Factors with statistics + summary + the retrieved items' reasoning paths (see the module docstring)."""

    name = "rpm"

    def answer(self, query: str, context: AnswerContext) -> Answer:
        """Answer ``query`` through the user's factors and reasoning paths."""
        t0 = time.perf_counter()  # the retriever's setup (embedding the history's features) is part of this step
        calls_before = _client_calls(context.client)
        retriever = context.feature_retriever()
        query_features = retriever.extract_query(query)
        features_step = Step(kind="features", name="Extract the query's features", input=query,
                             output=[f.to_dict() for f in query_features],
                             latency_ms=(time.perf_counter() - t0) * 1000.0,
                             detail={"extractor": _identity(retriever.extractor),
                                     "llm_calls": _client_calls(context.client) - calls_before})

        def fetch(text: str, k: int) -> list[RetrievedDoc]:
            return retriever.retrieve(text, k, query_features=query_features)

        docs, retrieve = retrieve_step(context, fetch, query, name="Retrieve by feature-set similarity")

        t1 = time.perf_counter()
        vectors = context.embedder.embed([f.text for f in query_features]) if query_features else None
        chosen = select_factors(context, docs, query_features, vectors)
        paths: list[dict[str, Any]] = []
        for doc in docs:
            path = context.profile.paths.get(doc.id)
            if path is not None:
                doc.path = path_text(path, context.disabled_factors)
                paths.append({"item_id": doc.id, "text": doc.path, "consistent": path.consistent})
        factor_lines = "\n".join(f"- {describe_factor(f, context.task)}" for f, _ in chosen)
        path_lines = "\n".join(f"- {p['text']}" for p in paths)
        summary = context.summary_text
        version = context.profile.summary_version if summary else None
        reason = Step(kind="reason", name="Choose factors and reasoning paths",
                      input={"query_features": [f.phrase for f in query_features],
                             "retrieved": [d.id for d in docs]},
                      output={"factors": factor_lines, "paths": path_lines},
                      latency_ms=(time.perf_counter() - t1) * 1000.0,
                      detail={"factors": [factor_record(f, why) for f, why in chosen], "paths": paths,
                              "disabled_factors": sorted(context.disabled_factors), "summary_version": version})
        out = call_answer(context, query, [(FACTORS_TITLE, factor_lines), (SUMMARY_TITLE, summary),
                                           (PATHS_TITLE, path_lines)],
                          name="Answer from factors, summary and paths",
                          detail={"summary_version": version, "factor_ids": [f.id for f, _ in chosen]})
        return Answer(text=out.text, value=out.value,
                      trace=Trace(method=self.name, query=query,
                                  steps=[features_step, retrieve, reason, out.step], summary_version=version))


def _identity(extractor: Any) -> Any:
    identity = getattr(extractor, "identity", None)
    return identity() if callable(identity) else type(extractor).__name__


def _client_calls(client: Any) -> int:
    """Model calls plus cache hits made by the client so far (0 when it keeps no stats)."""
    stats = getattr(client, "stats", None)
    return int(getattr(stats, "model_calls", 0) + getattr(stats, "cache_hits", 0)) if stats is not None else 0
