"""How long ``rpm``'s model calls took in a finished evaluation, read from its workspace's traces.

    python bench/call_latency.py .inflow/results-avx512.sqlite

For each evaluation run in the workspace (``bench/results.py --workspace ...`` leaves one per data
set and section): how many of its answering calls came from ``rpm``, reached the model and
succeeded, and their median and largest latency. An ``rpm`` call is recognised by its prompt's
factors section (:data:`core.methods.rpm.FACTORS_TITLE`), which no other method's prompt has; the
calls of its decision-rule fitting (one per dev item) are ``rpm`` calls too. Unlike
``bench/rpm_latency.py``, which answers a few queries in a quiet loop, this shows what the calls cost
in a whole evaluation, with users and methods alternating.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.results import uncached_answer_calls  # noqa: E402
from core.methods.rpm import FACTORS_TITLE  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Print one row per evaluation run that made uncached ``rpm`` calls."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workspace", type=Path, help="a workspace an evaluation ran in")
    args = ap.parse_args(argv)
    if not args.workspace.is_file():
        ap.error(f"{args.workspace}: no such workspace file")
    ws = Workspace(args.workspace)
    print("| evaluation run | data set | rpm calls (uncached) | median s | max s |")
    print("|---|---|---:|---:|---:|")
    for run in ws.list_runs("eval"):
        calls = [t for t in uncached_answer_calls(ws, run_id=run.id)
                 if FACTORS_TITLE in json.dumps(t["messages"], ensure_ascii=False)]
        if calls:
            secs = [t["latency_ms"] / 1000.0 for t in calls if t["latency_ms"] is not None]
            print(f"| {run.label or run.id} ({run.id}) | {run.params.get('dataset', '-')} | {len(calls)} | "
                  f"{statistics.median(secs):.1f} | {max(secs):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
