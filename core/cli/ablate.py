"""``python -m core ablate``: re-run a method with one factor, one item or the summary removed.

Prints whether and how the answer changed (score shift, label flip, or ROUGE-L of the new text to
the original). With ``--all-factors`` every factor is removed in turn. The ``pool`` method uses the
user's stored prompt pool when there is one (stored with ``python -m core answer --pool FILE.json``);
pool entries tied to a removed factor or item are left out with it. The ablation is recorded the way
the pages record one (:func:`core.views.answering.ablate_query`): an ``ablation`` run.
"""

from __future__ import annotations

import argparse
import json

from core.cli.answer import add_common_arguments, fitting_display, open_session
from core.errors import InputError, Problem
from core.methods.ablation import AblationResult
from core.views.answering import ablate_query


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``ablate`` command's arguments."""
    add_common_arguments(parser)
    parser.add_argument("--factor", default=None, help="Factor id (e.g. F2) or name to remove.")
    parser.add_argument("--item", default=None, help="History item id to remove from what is retrieved.")
    parser.add_argument("--summary", action="store_true", help="Remove the preference summary.")
    parser.add_argument("--all-factors", action="store_true", help="Remove each factor in turn.")


def _line(result: AblationResult) -> str:
    o, a = result.original, result.ablated
    if result.shift is not None:
        how = f"shift {result.shift:+g}"
    elif result.flipped is not None:
        how = "label flipped" if result.flipped else "label kept"
    elif result.rouge_l is not None:
        how = f"ROUGE-L to original {result.rouge_l:.3f}"
    else:
        how = "changed" if result.changed else "unchanged"
    verdict = "CHANGED" if result.changed else "unchanged"
    return f"without {result.removed}: {o.text!r} -> {a.text!r}  ({verdict}; {how})"


def run(args: argparse.Namespace) -> int:
    """Run the ablation and print the comparison."""
    if not (args.factor or args.item or args.summary or args.all_factors):
        raise InputError(Problem("arguments", None, "factor",
                                 "say what to remove: --factor F, --item ID, --summary or --all-factors"))
    session = open_session(args)
    ws = session.workspace
    bar, fitting = fitting_display(session)
    record = ablate_query(ws, session.profile, method=args.method, query=args.query, client=session.client,
                          embedder=session.embedder, k=args.k, factor=args.factor, item=args.item,
                          summary=args.summary, all_factors=args.all_factors,
                          reason_first=bool(getattr(args, "reason_first", False)), source="cli",
                          method_progress=fitting)
    bar.close(summary=False)
    payload = ws.get_artifact(record.run_id, "ablation")  # printed exactly as stored
    results = record.results
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    else:
        print(f"user {session.user_id} in {session.dataset_id}, run {record.run_label} ({record.run_id})")
        if results:
            print(f"method {args.method}, original answer: {results[0].original.text!r}")
        else:
            print("no factors to remove")
        for r in results:
            print(_line(r))
    ws.close()
    return 0
