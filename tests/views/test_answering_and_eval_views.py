import math

from core.data.model import Dataset, Item, Query, Task, User
from core.evaluate.result import EvalResult
from core.store.workspace import Workspace
from core.views.answering import answer_error, error_text
from core.views.eval_view import drill_target, eval_inputs, metric_rows, per_query_rows

SCORE = Task(kind="score", name="r")


def test_answer_error_follows_lamp_rules():
    assert answer_error(SCORE, "4", "2") == {"abs_error": 2.0, "parsed": True}
    assert answer_error(SCORE, "banana", "2") == {"abs_error": 3.0, "parsed": False}  # farther bound 5
    assert answer_error(SCORE, "3", None) is None
    assert answer_error(Task(kind="label", labels=("a", "b")), " a", "a") == {"correct": True}
    text = answer_error(Task(kind="text"), "the cat sat", "the cat sat")
    assert math.isclose(text["rouge-l"], 1.0)
    assert error_text({"abs_error": 3.0, "parsed": False}) == "|err| 3.00 (unparsed)"
    assert error_text({"correct": False}) == "wrong" and error_text(None) == "—"


def _dataset(with_queries: bool) -> Dataset:
    users = [User("u1", [Item(f"i{n}", f"text {n}", str(1 + n % 5)) for n in range(10)]),
             User("u2", [Item(f"j{n}", f"text {n}", "3") for n in range(5)])]
    queries = [Query("q1", "u1", "new text", "4")] if with_queries else []
    return Dataset("orig", SCORE, users, queries)


def test_eval_inputs_split_or_own_queries():
    history, queries, how = eval_inputs(_dataset(False), "ds", fraction=0.2)
    assert history.name == "ds" and [q.id for q in queries] == ["i8", "i9", "j4"]
    assert len(history.user("u1").items) == 8 and "time split" in how
    history, queries, how = eval_inputs(_dataset(True), "ds", user_ids=["u1"])
    assert [u.id for u in history.users] == ["u1"] and [q.id for q in queries] == ["q1"]
    assert history.queries == [] and "own 1 queries" in how


RESULT = {
    "dataset": "ds", "k": 3, "metric_names": ["mae", "rmse"],
    "methods": {"zero": {"mae": 1.0, "rmse": float("nan"), "n": 2, "prompt_tokens_mean": 50.123, "errors": 0}},
    "baselines": {"user_mean": {"mae": 0.5, "rmse": 0.6, "n": 2}},
    "per_query": [{"id": "i9", "user_id": "u1", "gold": "5", "predictions": {"zero": "4"}, "errors": {},
                   "baselines": {"user_mean": "3"}},
                  {"id": "q1", "user_id": "u1", "gold": "4", "predictions": {"zero": ""},
                   "errors": {"zero": "boom"}, "baselines": {}}],
}


def test_metric_and_per_query_rows():
    rows = metric_rows(EvalResult.from_dict(RESULT))
    assert rows[0] == {"system": "zero", "kind": "method", "mae": 1.0, "rmse": None, "n": 2,
                       "prompt_tokens_mean": 50.1, "errors": 0}
    assert rows[1]["system"] == "user_mean" and rows[1]["kind"] == "baseline"
    pq = per_query_rows(EvalResult.from_dict(RESULT))
    assert pq[0] == {"id": "i9", "user": "u1", "gold": "5", "zero": "4", "baseline:user_mean": "3"}
    assert pq[1]["zero"] == "⚠ "


def test_drill_target_finds_item_or_query():
    ws = Workspace(":memory:")
    ws.add_dataset(_dataset(True), dataset_id="ds")
    item = drill_target(ws, EvalResult.from_dict(RESULT), "i9", "zero")
    assert item == {"dataset": "ds", "user": "u1", "gold": "5", "method": "zero", "k": 3, "pick": "i:i9",
                    "query": "text 9", "item_id": "i9"}
    query = drill_target(ws, EvalResult.from_dict(RESULT), "q1", "rpm")
    assert query["pick"] == "q:q1" and query["query"] == "new text" and query["item_id"] is None
    assert drill_target(ws, EvalResult.from_dict(RESULT), "nope", "zero") is None
    assert drill_target(ws, EvalResult.from_dict({**RESULT, "dataset": "gone"}), "i9", "zero") is None
