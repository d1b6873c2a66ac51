"""``python -m core ablate``: re-run a method with one factor, one item or the summary removed.

Prints whether and how the answer changed (score shift, label flip, or ROUGE-L of the new text to
the original). With ``--all-factors`` every factor is removed in turn. The ``pool`` method uses the
user's stored prompt pool when there is one (stored with ``python -m core answer --pool FILE.json``);
pool entries tied to a removed factor or item are left out with it.
"""

from __future__ import annotations

import argparse
import json

from core.cli.answer import add_common_arguments, open_session
from core.errors import InputError, Problem
from core.methods.ablation import AblationResult, ablate, ablate_all_factors


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
    session = open_session(args, stage="ablate")
    ws, ctx = session.workspace, session.context
    assert ctx.run_id is not None
    try:
        if args.all_factors:
            results = ablate_all_factors(args.method, args.query, ctx)
        else:
            results = [ablate(args.method, args.query, ctx, factor=args.factor, item=args.item,
                              summary=args.summary)]
    except BaseException:
        ws.finish_run(ctx.run_id, "failed")
        raise
    payload = {"dataset": session.dataset_id, "user": session.user_id, "method": args.method,
               "query": args.query, "run_id": ctx.run_id, "results": [r.to_dict() for r in results]}
    ws.put_artifact(ctx.run_id, "ablation", payload)
    ws.finish_run(ctx.run_id)
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    else:
        if results:
            print(f"method {args.method}, original answer: {results[0].original.text!r}")
        else:
            print("no factors to remove")
        for r in results:
            print(_line(r))
    ws.close()
    return 0
