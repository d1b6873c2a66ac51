import csv
import json
import math
from collections.abc import Iterator

import pytest

from core.data.model import split_last
from core.embed.hashing import HashingEmbedder
from core.evaluate.harness import evaluate, export_csv, export_json, export_metrics_csv, format_table, select_queries
from core.evaluate.result import EvalResult
from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.methods.registry import METHOD_NAMES
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from tests.evaluate.conftest import rating_dataset, rule
from tests.fakes.openai_server import FakeOpenAIServer

SETTINGS = PipelineSettings(extractor="lexicon", hdbscan_min_cluster_size=3, umap_neighbors=5)


class Run:
    def __init__(self, ws: Workspace, result: EvalResult, queries: list, history, progress: list) -> None:
        self.ws = ws
        self.result = result
        self.queries = queries
        self.history = history
        self.progress = progress


def _client(server: FakeOpenAIServer, ws: Workspace) -> LLMClient:
    backend = OpenAIBackend(server.base_url, "sk-test", "fake-model", free_text_quality="weak")
    return LLMClient(backend, ws, max_retries=0, timeout_s=10.0)


@pytest.fixture(scope="module")
def run(fake_server: FakeOpenAIServer, tmp_path_factory, embedder: HashingEmbedder) -> Iterator[Run]:
    ws = Workspace(tmp_path_factory.mktemp("eval") / "ws.sqlite")
    history, queries = split_last(rating_dataset(), 0.2)
    seen = []
    result = evaluate(ws, history, queries, methods=METHOD_NAMES, client=_client(fake_server, ws), embedder=embedder,
                      settings=SETTINGS, k=3, progress=lambda d, t: seen.append((d, t)), order="round_robin")
    yield Run(ws, result, queries, history, seen)
    ws.close()


def test_result_shape(run: Run):
    r = run.result
    assert r.task == "product_rating" and r.n == len(run.queries) == 4 and r.n_users == 2
    assert set(r.methods) == set(METHOD_NAMES)
    assert set(r.baselines) == {"majority", "user-mean", "knn-bm25", "knn-feature"}
    assert r.backend["kind"] == "openai" and r.backend["model"] == "fake-model"
    assert r.backend["extractor"] == "lexicon"
    assert run.progress[-1] == (4, 4)
    assert [q["user_id"] for q in r.per_query] == ["ava", "ben", "ava", "ben"]  # round robin
    q = r.per_query[0]
    assert set(q) >= {"id", "user_id", "gold", "predictions", "values", "tokens", "baselines"}
    assert set(q["predictions"]) == set(METHOD_NAMES)
    assert all(q["tokens"][m] > 0 for m in METHOD_NAMES)
    assert not any(p["errors"] for p in r.per_query)


def test_method_metrics_match_direct_computation(run: Run):
    golds = {q.id: float(q.gold) for q in run.queries}
    expected = {q.id: float(rule(q.input)) for q in run.queries}
    errs = [abs(expected[i] - golds[i]) for i in golds]
    mae = sum(errs) / len(errs)
    rmse = math.sqrt(sum(e * e for e in errs) / len(errs))
    for name in ("zero", "bm25", "summary", "pool"):  # the fake model's answer is the method's
        assert run.result.methods[name]["mae"] == pytest.approx(mae), name
        assert run.result.methods[name]["rmse"] == pytest.approx(rmse), name
    # rpm's answer is its decision rule's (which may keep the user's prior over the model): its
    # metrics are those of its own per-query predictions
    rpm = [(float(rec["predictions"]["rpm"]), golds[rec["id"]]) for rec in run.result.per_query]
    assert run.result.methods["rpm"]["mae"] == pytest.approx(sum(abs(p - g) for p, g in rpm) / len(rpm))
    assert run.result.methods["rpm"]["rmse"] == pytest.approx(math.sqrt(sum((p - g) ** 2 for p, g in rpm) / len(rpm)))
    for rec in run.result.per_query:
        assert rec["predictions"]["zero"] == rule(next(q.input for q in run.queries if q.id == rec["id"]))


def test_baselines_match_direct_computation(run: Run):
    by_user = {u.id: [float(it.output) for it in u.items] for u in run.history.users}
    errs = [abs(sum(by_user[q.user_id]) / len(by_user[q.user_id]) - float(q.gold)) for q in run.queries]
    assert run.result.baselines["user-mean"]["mae"] == pytest.approx(sum(errs) / len(errs), abs=1e-3)
    for name in ("knn-bm25", "knn-feature"):
        preds = [float(p["baselines"][name]) for p in run.result.per_query]
        assert all(1.0 <= x <= 5.0 for x in preds)
        assert run.result.baselines[name]["n"] == 4


def test_eval_run_stored_and_exports(run: Run, tmp_path):
    stored = run.ws.get_eval_run(run.result.eval_id)
    assert stored["result"]["methods"]["zero"]["mae"] == pytest.approx(run.result.methods["zero"]["mae"])
    assert stored["params"]["methods"] == METHOD_NAMES
    export_csv(run.result, tmp_path / "pq.csv")
    rows = list(csv.DictReader((tmp_path / "pq.csv").open(encoding="utf-8")))
    assert len(rows) == 4 * (len(METHOD_NAMES) + 4)
    export_metrics_csv(run.result, tmp_path / "m.csv")
    assert len((tmp_path / "m.csv").read_text().splitlines()) == 1 + len(METHOD_NAMES) + 4
    export_json(run.result, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["n"] == 4
    table = format_table(run.result)
    assert "baseline: knn-feature" in table and "fake-model" in table


def test_rerun_reuses_cache_and_cancel_keeps_finished(run: Run, fake_server: FakeOpenAIServer, embedder):
    client = _client(fake_server, run.ws)
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    result = evaluate(run.ws, run.history, run.queries, methods=["zero", "rpm"], client=client, embedder=embedder,
                      settings=SETTINGS, k=3, cancel=cancel)
    assert result.cancelled and result.n == 3 and result.n_planned == 4
    assert result.methods["rpm"]["n"] == 3
    assert client.stats.model_calls == 0  # every answer came from the workspace cache
    assert run.ws.get_run(result.run_id).status == "cancelled"


def test_select_queries_limits():
    _, queries = split_last(rating_dataset(), 0.2)
    assert [q.user_id for q in select_queries(queries, limit_per_user=1)] == ["ava", "ben"]
    assert [q.user_id for q in select_queries(queries, order="round_robin")] == ["ava", "ben", "ava", "ben"]
    assert [q.user_id for q in select_queries(queries)] == ["ava", "ava", "ben", "ben"]
    assert len(select_queries(queries, limit=3)) == 3


def test_label_task_narrowed_per_query(fake_server: FakeOpenAIServer, embedder, tmp_path):
    from core.data.model import Dataset, Item, Query, Task, User

    task = Task(kind="label", name="tags", labels=("action", "drama", "horror"))
    texts = ["A car chase movie", "A sad family story", "A haunted house", "Explosions and fights",
             "Tears and loss", "Ghosts at night"]
    outs = ["action", "drama", "horror", "action", "drama", "horror"]
    users = [User(id=u, items=[Item(id=f"{u}{n}", input=t, output=o, meta={"labels": labs})
                               for n, (t, o) in enumerate(zip(texts, outs, strict=True))])
             for u, labs in (("u1", ["horror", "drama"]), ("u2", None))]
    queries = [Query(id="q1", user_id="u1", input="A haunted castle", gold="horror",
                     meta={"labels": ["horror", "drama"]}),
               Query(id="q2", user_id="u2", input="A car race", gold="action")]
    ws = Workspace(tmp_path / "ws.sqlite")
    result = evaluate(ws, Dataset(name="tags", task=task, users=users), queries, methods=["zero"],
                      client=_client(fake_server, ws), embedder=embedder, settings=SETTINGS, k=2)
    ws.close()
    # the scripted server answers with the first allowed choice: u1's own label set starts with "horror"
    assert [r["predictions"]["zero"] for r in result.per_query] == ["horror", "action"]
    assert result.labels == ["action", "drama", "horror"]
    assert result.methods["zero"]["accuracy"] == 1.0
    assert set(result.baselines) == {"majority", "user-majority", "knn-bm25", "knn-feature"}


def test_answer_progress_moves_with_each_method(fake_server: FakeOpenAIServer, tmp_path, embedder: HashingEmbedder):
    # A display must move while the methods answer, not only between queries (one query of rpm took minutes).
    ws = Workspace(tmp_path / "ws.sqlite")
    history, queries = split_last(rating_dataset(), 0.2)
    seen: list[tuple[int, int, str]] = []
    result = evaluate(ws, history, queries, methods=["zero", "bm25"], client=_client(fake_server, ws),
                      embedder=embedder, settings=SETTINGS, k=3, limit=2, baselines=False,
                      answer_progress=lambda d, t, m: seen.append((d, t, m)))
    assert result.n == 2
    assert seen == [(0, 4, "zero"), (1, 4, "bm25"), (2, 4, ""), (2, 4, "zero"), (3, 4, "bm25"), (4, 4, "")]
    ws.close()
