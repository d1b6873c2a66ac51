"""EvalResult: the stored JSON form round-trips, and results stored by older versions still open."""

import math

from core.evaluate.result import EvalResult
from core.store.workspace import Workspace

CURRENT = {
    "task": "t", "task_kind": "score", "task_spec": {"name": "t", "kind": "score"}, "labels": None,
    "dataset": "d", "dataset_id": "d-1", "n": 2, "n_planned": 3, "n_users": 1,
    "backend": {"kind": "openai", "model": "m", "embedder": "hash"}, "k": 4, "metric_names": ["mae", "rmse"],
    "methods": {"zero": {"mae": 1.0, "rmse": math.nan, "n": 2}}, "baselines": {"majority": {"mae": 2.0, "n": 2}},
    "per_query": [{"id": "q1", "user_id": "u", "gold": "4", "predictions": {"zero": "3"}}],
    "cancelled": True, "runtime_s": 1.5, "run_id": "r1", "scoring": "lamp",
}


def test_to_dict_writes_the_stored_keys_and_nothing_else():
    r = EvalResult.from_dict(CURRENT)
    assert r.to_dict() == CURRENT  # no optional key appears unset
    r.eval_id, r.faithfulness = "eval-1", {"zero": {}}
    assert r.to_dict() == {**CURRENT, "faithfulness": {"zero": {}}, "eval_id": "eval-1"}
    assert list(r.to_dict())[-1] == "eval_id"  # the order evaluate() has always written


def test_an_old_stored_result_opens_with_its_unknown_keys_kept():
    old = {"task": "t", "task_kind": "label", "n": 1, "metric_names": ["accuracy"], "methods": {"zero": {}},
           "baselines": {}, "per_query": [], "legacy_note": "x"}  # before n_planned, scoring, run_id, task_spec
    r = EvalResult.from_dict(old)
    assert (r.n, r.n_planned, r.scoring, r.run_id, r.task_spec) == (1, None, "inflow", None, {})
    assert r.extra == {"legacy_note": "x"} and r.to_dict()["legacy_note"] == "x"


def test_stored_eval_run_reads_back_as_the_same_result():
    ws = Workspace(":memory:")
    r = EvalResult.from_dict(CURRENT)
    eid = ws.add_eval_run({"methods": ["zero"]}, r.to_dict())
    back = EvalResult.from_dict(ws.get_eval_run(eid)["result"])
    assert back.methods["zero"]["mae"] == 1.0 and back.n_planned == 3 and back.cancelled
    assert math.isnan(back.methods["zero"]["rmse"])  # NaN survives the store (json allows it)
