"""The typed result of an evaluation (:func:`core.evaluate.harness.evaluate`).

The stored form (an eval run's ``result_json``, the CLI's ``--json-out``) stays the dict it always
was: :meth:`EvalResult.to_dict` writes exactly those keys and :meth:`EvalResult.from_dict` reads
them back, including results stored by older versions that lack the keys added since (``n_planned``,
``task_spec``, ``scoring``, ``run_id``...), so every stored evaluation still opens.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

MetricTable = dict[str, dict[str, Any]]
"""``{system: {metric: value, ..., "n": count, "lamp": {metric: value}}}`` (see ``harness.aggregate``)."""

_OPTIONAL = ("eval_id", "engine", "portability", "faithfulness")
"""Keys written only when the evaluation has them (absent, not null, in the stored JSON)."""


@dataclass
class EvalResult:
    """What an evaluation measured.

    Attributes:
        task: The task's name.
        task_kind: ``score``, ``label`` or ``text``.
        task_spec: The task as :meth:`core.data.model.Task.to_dict` gives it.
        labels: Label tasks: the label set macro-F1 runs over; else None.
        dataset: The history dataset's name.
        dataset_id: The workspace dataset the evaluation stored its histories under.
        n: Queries finished.
        n_planned: Queries selected to run.
        n_users: Users among the finished queries.
        backend: The backend, model and embedder that answered (``{"kind", "model", "embedder", ...}``).
        k: History items / pool entries retrieved per query.
        metric_names: The task's metrics, in table order.
        methods: Each method's metrics.
        baselines: Each no-model baseline's metrics.
        per_query: One record per finished query: ``{"id", "user_id", "gold", "predictions", "values",
            "raw", "rescued", "tokens", "tokens_out", "latency_ms", "errors", "baselines"}`` (and
            ``"faithfulness"`` when probed), each inner dict keyed by system name.
        cancelled: True when the run was stopped before every query finished.
        runtime_s: Wall time.
        run_id: The ``eval`` stage run its LLM calls are filed under.
        scoring: The scoring the text table leads with (``inflow`` or ``lamp``).
        engine: The engine's report, when run on one (``{"engine", "done", "failed", "failures", ...}``).
        portability: The ported-summary description, when another model wrote the summaries.
        faithfulness: Faithfulness aggregates per method, when probed.
        eval_id: The stored eval run's id, when stored.
        extra: Keys of a stored result this version does not know, kept so they are written back.
    """

    task: str | None = None
    task_kind: str | None = None
    task_spec: dict[str, Any] = field(default_factory=dict)
    labels: list[str] | None = None
    dataset: str | None = None
    dataset_id: str | None = None
    n: int = 0
    n_planned: int | None = None
    n_users: int = 0
    backend: dict[str, Any] = field(default_factory=dict)
    k: int = 4
    metric_names: list[str] = field(default_factory=list)
    methods: MetricTable = field(default_factory=dict)
    baselines: MetricTable = field(default_factory=dict)
    per_query: list[dict[str, Any]] = field(default_factory=list)
    cancelled: bool = False
    runtime_s: float | None = None
    run_id: str | None = None
    scoring: str = "inflow"
    engine: dict[str, Any] | None = None
    portability: dict[str, Any] | None = None
    faithfulness: dict[str, Any] | None = None
    eval_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the stored JSON form: the fields as keys, optional ones only when set, unknown keys kept."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if f.name in _OPTIONAL and value is None:
                continue
            out[f.name] = value
        return {**self.extra, **out}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalResult:
        """Read a stored result (any version's); keys it lacks take the defaults above (None where unknown)."""
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in d.items() if k in known}
        kwargs["methods"] = dict(d.get("methods") or {})
        kwargs["baselines"] = dict(d.get("baselines") or {})
        kwargs["per_query"] = list(d.get("per_query") or [])
        kwargs["metric_names"] = list(d.get("metric_names") or [])
        return cls(**kwargs, extra={k: v for k, v in d.items() if k not in known})
