"""What a stage run could not do with the model: items, factors, names or paths that failed or fell back.

A stage that keeps going past a failed model call (a feature item left without features, a factor
keeping its keyword name, the template summary, a template path) records each one here, stored with
the run as artifact ``failures``, and finishes the run as ``partial`` instead of ``done``. Stages only
reuse ``done`` runs, so the next build runs a partial stage again: the LLM client's cache answers
every call that worked, and exactly the failed ones go to the model again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.store.workspace import RunHandle, Workspace

FAILURES_ARTIFACT = "failures"
PARTIAL = "partial"  # run status of a stage that finished with failures or fallbacks


@dataclass(frozen=True)
class StageFailure:
    """One thing a stage could not do with the model.

    Attributes:
        stage: ``features``, ``factors``, ``summary`` or ``paths``.
        kind: What failed: ``item`` (no features), ``name`` (a factor kept its keyword name),
            ``summary`` (the template summary was used) or ``path`` (the template path was used).
        target: The item id, factor id or ``summary``.
        outcome: ``failed`` (nothing in its place) or ``fell back`` (a deterministic stand-in is used).
        message: Why (the endpoint error, shortened).
    """

    stage: str
    kind: str
    target: str
    outcome: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Return the failure as a plain dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageFailure:
        """Build a failure from :meth:`to_dict` output."""
        return cls(stage=str(d.get("stage", "")), kind=str(d.get("kind", "")), target=str(d.get("target", "")),
                   outcome=str(d.get("outcome", "")), message=str(d.get("message", "")))

    def line(self) -> str:
        """Return the failure as one line, e.g. ``features item r12 failed: HTTP 500 ...``."""
        return f"{self.stage} {self.kind} {self.target} {self.outcome}: {self.message}"


def short(message: str, limit: int = 300) -> str:
    """Return an error message on one line, cut to ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def finish_stage(ws: Workspace, run: RunHandle, failures: list[StageFailure]) -> None:
    """Store an open run's failures (if any) and mark it ``partial`` for :meth:`Workspace.run` to close.

    Without failures the run keeps the status it has (``done``). The run itself is closed by the
    ``with ws.run(...)`` block around the stage, so a failure after this call still marks it failed.
    """
    if failures:
        ws.put_artifact(run.id, FAILURES_ARTIFACT, [f.to_dict() for f in failures])
        run.status = PARTIAL


def run_failures(ws: Workspace, run_id: str | None) -> list[StageFailure]:
    """Return the failures stored with one run ([] for a run without any, or None)."""
    if not run_id:
        return []
    return [StageFailure.from_dict(d) for d in ws.get_artifact(run_id, FAILURES_ARTIFACT, []) or []]


def profile_failures(ws: Workspace, run_ids: dict[str, str]) -> list[StageFailure]:
    """Return the failures of every stage run of a profile (``Profile.run_ids``), in pipeline order."""
    out: list[StageFailure] = []
    for stage in ("features", "factors", "summary", "paths"):
        out += run_failures(ws, run_ids.get(stage))
    return out
