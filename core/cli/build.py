"""``python -m core build PATH [PATH...] --workspace W``: run stages 1-4 and print each user's factors.

The files are loaded (any supported format), stored in the workspace as one dataset, and each user
(or the ``--user`` ones) gets features, factors, a summary and reasoning paths. Progress goes to
stderr; stdout gets, per user, the factors with coverage, influence (95% CI) or label lift, polarity,
then the summary and its token count next to the raw history's. Stage results are stored and reused,
so running the command again is fast, and an interrupted run resumes where it stopped. Loading shows
its progress too (bytes read, rows checked). A user that cannot be built (e.g. no history) is
reported and skipped; the others are built and the exit code is 2. Items, factor names, the summary
or paths whose model call failed (or fell back) are listed on stderr after each user, and running the
command again retries exactly those.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from core.cli.engine_args import UsersLine, add_engine_arguments, budget_local_client, make_cli_engine
from core.data.load import load
from core.data.loaders.source import repair_text
from core.embed.base import Embedder
from core.embed.factory import make_embedder
from core.engine import prepare_run
from core.errors import InputError, Problem
from core.llm.client import LLMClient, activity_note, stats_snapshot
from core.llm.factory import make_client
from core.llm.settings import BackendSettings
from core.stages.pipeline import build_profile, load_profile
from core.stages.profile import PipelineSettings, Profile, profile_to_json
from core.stages.reduce import DEFAULT_N_FACTORS
from core.stages.summary import summary_token_report
from core.store.files import open_workspace
from core.store.workspace import Workspace
from core.views.build_view import failure_report
from core.views.profile_view import direction_note, unclustered_share
from core.views.progress import BUILD_STAGES, ESTIMATING, ProgressTracker, duration_text

EMBEDDERS = {"hash": "hashing", "hashing": "hashing", "minilm": "minilm", "openai": "openai"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="data files or folders (CSV, JSONL, JSON, LaMP)")
    parser.add_argument("--workspace", required=True, help="workspace file (SQLite), created when missing")
    parser.add_argument("--user", action="append", default=[], dest="users", metavar="U",
                        help="build only this user; repeatable (default: every user)")
    parser.add_argument("--dataset-id", default=None, help="id to store the dataset under (default: its name)")
    parser.add_argument("--backend", choices=["local", "openai"], default=None,
                        help="chat backend (default: $INFLOW_BACKEND, else local)")
    parser.add_argument("--no-cache", action="store_true",
                        help="Bypass the LLM cache: every call goes to the model (also $INFLOW_NO_CACHE=1).")
    parser.add_argument("--extractor", choices=["auto", "llm", "lexicon"], default="auto",
                        help="feature extractor (default auto: the LLM when the backend is capable, else lexicon)")
    parser.add_argument("--embedder", choices=sorted(EMBEDDERS), default="hash",
                        help="feature embedder (default hash; minilm is semantic but slower)")
    parser.add_argument("--min-cluster-size", type=int, default=5, help="HDBSCAN min_cluster_size (default 5)")
    parser.add_argument("--min-samples", type=int, default=None, help="HDBSCAN min_samples (default: cluster size)")
    parser.add_argument("--factors", type=int, default=DEFAULT_N_FACTORS, metavar="N", dest="n_factors",
                        help=f"most factors per user: finer clusters are merged into N, their sub-factors kept "
                             f"(default {DEFAULT_N_FACTORS}; 0 = one factor per HDBSCAN cluster)")
    parser.add_argument("--no-split-directions", action="store_true",
                        help="keep clusters that mix features which raised and lowered the score as one factor")
    parser.add_argument("--json", action="store_true", help="print each profile as JSON instead of text")
    add_engine_arguments(parser)


# -- progress ---------------------------------------------------------------------------------------------
class ProgressBar:
    """A one-line progress display on a stream.

    On a terminal the line is redrawn in place; otherwise each stage gets a line when it ends, and a
    long stage also every :attr:`every` seconds, so a log is never silent for minutes. The counts and
    the estimate of time left come from the same model as the pages' (:mod:`core.views.progress`).
    """

    every = 10.0

    def __init__(self, stream: TextIO, label: str, width: int = 24, client: LLMClient | None = None,
                 stages: tuple[str, ...] = ()) -> None:
        """Create the display for one user; with ``client``, its model calls, cache hits and failures too.

        ``stages``: the stages expected, in order (a build's: "step 2/6" is shown with them).
        """
        self.stream = stream
        self.client = client
        self._base = stats_snapshot(client)
        self.label = label
        self.width = width
        self.tracker = ProgressTracker(stages)
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._stage: str | None = None
        self._last = 0.0
        self._start = time.perf_counter()
        self._logged = self._start

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Report progress of a stage."""
        self.tracker.update(stage, done, total)
        if stage != self._stage:
            self._end_line()
            self._stage = stage
        finished = total > 0 and done >= total
        now = time.perf_counter()
        if not finished and now - self._last < 0.1:
            return
        self._last = now
        if self.tty:
            filled = int(self.width * done / total) if total else 0
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r{self.label} {stage:<10} [{bar}] {done}/{total}{self._step(stage)}{self._eta(stage)}"
                              f"{self.llm_note()}\x1b[K")  # erase what a longer line left
            self.stream.flush()
        elif finished or now - self._logged >= self.every:
            self._logged = now
            self.stream.write(f"{self.label} {stage}: {done}/{total}{self._step(stage)}{self._eta(stage)}"
                              f"{self.llm_note()}\n")
            self.stream.flush()

    def _step(self, stage: str) -> str:
        names = list(self.tracker.stages)  # only a known list of stages has a "step i of n"
        return f" (step {names.index(stage) + 1} of {len(names)})" if stage in names else ""

    def _eta(self, stage: str) -> str:
        cur = self.tracker.snapshot().stage(stage)
        if cur is None or cur.status != "running" or not cur.counted:
            return ""
        return f" · {ESTIMATING}" if cur.eta_s is None else f" · about {duration_text(cur.eta_s)} left"

    def llm_note(self) -> str:
        """The client's model calls, cache hits and failures since this display started."""
        return activity_note(self.client, self._base)

    def _end_line(self) -> None:
        if self.tty and self._stage is not None:
            self.stream.write("\n")

    def close(self, *, summary: bool = True) -> None:
        """Finish the display (with ``summary``, a line saying how long it took)."""
        self._end_line()
        self._stage = None
        if not summary:
            return
        self.stream.write(f"{self.label} done in {time.perf_counter() - self._start:.1f} s\n")
        self.stream.flush()


# -- rendering --------------------------------------------------------------------------------------------
def factor_line(factor: Any, kind: str) -> str:
    """Render one factor with its statistics."""
    s = factor.stats
    parts = [f"coverage {s.coverage:4.0%}"]
    if kind == "score":
        if s.influence is None:
            parts.append("influence   n/a")
        else:
            ci = f" [{s.ci_low:+.2f}, {s.ci_high:+.2f}]" if s.ci_low is not None and s.ci_high is not None else ""
            parts.append(f"influence {s.influence:+.2f}{ci}")
    elif kind == "label" and s.top_label is not None:
        parts.append(f"top label {s.top_label} (lift {s.lift.get(s.top_label, 1.0):.2f}x, MI {s.mutual_info or 0:.3f})")
    parts.append(f"polarity {s.polarity:+.2f} (consistency {s.consistency:.0%})")
    pin = " [pinned]" if factor.pinned else ""
    return f"  {factor.id:<6} {factor.name[:48]:<48}{pin}  " + "  ".join(parts) + f"  ({s.n_features} features)"


def runs_line(ws: Workspace, run_ids: dict[str, str]) -> str:
    """Return a profile's stage runs by readable label, e.g. ``Runs: features-002, projection-002, ...``."""
    return "Runs: " + ", ".join(ws.run_label(rid) for rid in run_ids.values() if rid)


def render_profile(profile: Profile) -> str:
    """Render a profile for the terminal: factors, summary and its size against the raw history."""
    feats = profile.all_features()
    st = profile.settings
    lines = [f"== user {profile.user_id} ({len(profile.items)} items, {len(feats)} features, "
             f"extractor {st.get('extractor_kind')}, embedder {st.get('embedder_name')}) =="]
    lines.append("Factors (strongest first):")
    lines += [factor_line(f, profile.task.kind) for f in profile.factors]
    lines.append(f"Unclustered: {unclustered_share(profile):.0%} of the features")
    if direction_note(profile):
        lines.append(direction_note(profile))
    report = summary_token_report(profile.summary, profile.items)
    lines.append(f"Summary v{profile.summary_version} ({report['summary_tokens']} tokens vs "
                 f"{report['history_tokens']} tokens of raw history, {report['ratio']:.1%}):")
    lines.append(f"  {profile.summary}")
    consistent = sum(p.consistent for p in profile.paths.values())
    lines.append(f"Reasoning paths: {len(profile.paths)} ({consistent} consistent with the statistics)")
    return "\n".join(lines)


# -- backend ----------------------------------------------------------------------------------------------
def make_cli_client(kind: str | None, ws: Workspace, *, required: bool, use_cache: bool = True) -> Any | None:
    """Create the chat client for ``kind``; None when the local model is unavailable and not required.

    ``use_cache=False`` (or ``$INFLOW_NO_CACHE=1``) bypasses the LLM cache.

    Raises:
        InputError: Bad or unreachable backend settings (or a missing local model when ``required``).
    """
    settings = BackendSettings.from_env()
    settings.kind = (kind or settings.kind or "local")  # type: ignore[assignment]
    settings.use_cache = settings.use_cache and use_cache
    try:
        return make_client(settings, ws)
    except InputError as exc:
        if settings.kind == "local" and not required:
            print(f"note: local model unavailable ({exc.problems[0].message}); using the offline stages",
                  file=sys.stderr)
            return None
        raise


def run(args: argparse.Namespace) -> int:
    """Run the command; return the exit code."""
    if args.min_cluster_size < 2:
        raise InputError(Problem("--min-cluster-size", None, None, "must be at least 2"))
    if args.n_factors < 0:
        raise InputError(Problem("--factors", None, None, "must be 0 (one factor per cluster) or more"))
    engine = make_cli_engine(args)
    bar = ProgressBar(sys.stderr, "[load]")
    try:
        result = load([Path(p) for p in args.paths], progress=bar)
    finally:
        bar.close(summary=False)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    dataset = result.dataset
    ws = open_workspace(args.workspace, create=True)
    skipped: list[str] = []
    try:
        dataset_id = ws.add_dataset(dataset, dataset_id=repair_text(args.dataset_id) if args.dataset_id else None,
                                    source=repair_text(", ".join(os.fspath(p) for p in args.paths)))
        users = args.users or ws.list_users(dataset_id)
        known = set(ws.list_users(dataset_id))
        missing = [u for u in users if u not in known]
        if missing:
            raise InputError([Problem(args.paths[0], None, "user", f"no user {u!r} in the data") for u in missing])
        required = args.extractor == "llm"
        client = make_cli_client(args.backend, ws, required=required, use_cache=not args.no_cache)
        embedder = make_embedder(EMBEDDERS[args.embedder])
        settings = PipelineSettings(extractor=args.extractor, embedder=args.embedder,
                                    hdbscan_min_cluster_size=args.min_cluster_size,
                                    hdbscan_min_samples=args.min_samples,
                                    split_directions=not args.no_split_directions, n_factors=args.n_factors)
        print(f"dataset {dataset_id}: {len(dataset.users)} users, {dataset.n_items} items, task {dataset.task.kind}",
              file=sys.stderr)
        if engine.name != "local":  # the local path stays the per-user loop below, with stage progress bars
            return _run_on_engine(engine, ws, dataset_id, users, client, embedder, settings, as_json=args.json)
        budget_local_client(client)
        exported = []
        for user in users:
            bar = ProgressBar(sys.stderr, f"[{user}]", client=client, stages=BUILD_STAGES)
            try:
                profile = build_profile(ws, dataset_id, user, client=client, embedder=embedder, settings=settings,
                                        progress=bar)
            except InputError as exc:  # this user's problem (e.g. no history): report it, build the others
                skipped.append(user)
                for problem in exc.problems:
                    print(f"skipped user {user}: {problem}", file=sys.stderr)
                continue
            finally:
                bar.close()
            heading, lines = failure_report(ws, profile)
            if heading:
                sys.stderr.write(f"[{user}] {heading}:\n" + "".join(f"  {line}\n" for line in lines))
            if args.json:
                exported.append(profile_to_json(profile))
            else:
                print(render_profile(profile))
                print(runs_line(ws, profile.run_ids))
                print()
        if args.json:
            print(json.dumps(exported, ensure_ascii=False, indent=1))
    finally:
        ws.close()
    if skipped:
        print(f"{len(skipped)} of {len(users)} users not built: {', '.join(skipped[:20])}", file=sys.stderr)
        return 2
    return 0


def _run_on_engine(engine: Any, ws: Workspace, dataset_id: str, users: list[str], client: LLMClient | None,
                   embedder: Embedder, settings: PipelineSettings, *, as_json: bool) -> int:
    """Build the users as units of the chosen engine, then print the profiles; failed users go to stderr.

    Returns:
        0 when every user was built, 1 when some failed (Ctrl-C stops the run: see :mod:`core.__main__`).
    """
    from dataclasses import replace

    run = prepare_run(engine, client, embedder, settings)
    line = UsersLine(sys.stderr)
    try:
        report = engine.run(ws, replace(run.spec, dataset_id=dataset_id), users, limits=run.limits, progress=line)
    finally:
        line.close()
    b = report.budget
    print(f"{report.engine} engine, {report.workers} workers: {report.progress.line()}; mean calls in flight "
          f"while busy {b.mean_in_flight:.2f} of {run.limits.max_in_flight}", file=sys.stderr)
    exported = []
    for outcome in report.outcomes:
        if outcome.status == "failed":
            print(f"user {outcome.user_id} failed: {outcome.error}", file=sys.stderr)
        if outcome.status != "done":
            continue
        profile = load_profile(ws, dataset_id, outcome.user_id)
        if profile is None:  # cannot happen after a done build; say so rather than skip silently
            print(f"user {outcome.user_id}: built, but its profile cannot be reopened", file=sys.stderr)
            continue
        if as_json:
            exported.append(profile_to_json(profile))
        else:
            print(render_profile(profile))
            print(runs_line(ws, profile.run_ids))
            print()
    if as_json:
        print(json.dumps(exported, ensure_ascii=False, indent=1))
    return 1 if report.failed() else 0
