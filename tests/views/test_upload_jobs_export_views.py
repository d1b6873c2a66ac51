import json
import threading
from pathlib import Path

from core.errors import Problem
from core.views.export_view import csv_bytes, json_bytes, selection_rows
from core.views.jobs import Job
from core.views.query_view import query_options
from core.views.upload_view import (
    dataset_id_for,
    display_problem,
    explicit_mapping,
    guess_mapping,
    preview,
    safe_name,
    save_uploads,
)


def test_save_and_preview_csv_jsonl_json(tmp_path: Path):
    paths = save_uploads([("../evil/a b.csv", b"user_id,review,rating\nu,Nice,5\n"),
                          ("x.jsonl", b'{"user": "u", "text": "t", "label": "a"}\n'),
                          ("y.json", json.dumps({"u": [{"text": "t", "score": 3}]}).encode()),
                          ("bad.json", b"{not json")], tmp_path)
    assert [p.name for p in paths] == ["a_b.csv", "x.jsonl", "y.json", "bad.json"]
    assert all(p.parent == tmp_path for p in paths)
    cols, rows, note = preview(paths[0])
    assert cols == ["user_id", "review", "rating"] and rows == [{"user_id": "u", "review": "Nice", "rating": "5"}]
    assert note == "CSV"
    assert preview(paths[1])[0] == ["user", "text", "label"]
    cols, rows, note = preview(paths[2])
    assert rows == [{"user": "u", "text": "t", "score": 3}] and note == "JSON {user: [items]}"
    assert preview(paths[3])[1] == [] and "not readable" in preview(paths[3])[2]
    assert safe_name("/x/y/z.csv") == "z.csv"


def test_mapping_guess_and_explicit():
    guess = guess_mapping(["User_Id", "review_text", "Rating", "misc"])
    assert guess == {"user": "User_Id", "id": None, "input": "review_text", "output": "Rating", "timestamp": None}
    form = {**guess, "input": "misc"}
    assert explicit_mapping(form, guess) == {"input": "misc"}
    assert dataset_id_for([Path("lamp_3_questions.json")]) == "lamp_3" and dataset_id_for([]) == "dataset"


def test_display_problem_strips_upload_folder(tmp_path: Path):
    p = Problem(str(tmp_path / "f.csv"), 3, "rating", "bad")
    assert display_problem(p, tmp_path) == "f.csv:3:rating: bad"
    assert display_problem(p, None) == str(p)
    assert display_problem(Problem("other.csv", None, None, "x"), tmp_path) == "other.csv::: x"


def test_job_progress_cancel_and_error():
    gate = threading.Event()

    def work(job):
        done = 0
        for i in range(100):
            if job.cancelled():
                break
            job.report(i + 1, 100, "step")
            done += 1
            gate.wait(1)
        return done

    job = Job(work).start()
    job.cancel()
    gate.set()
    assert job.wait(5) and job.result < 100 and job.error is None
    assert job.progress.total == 100 and 0 < job.progress.fraction <= 1
    failing = Job(lambda j: 1 / 0).start()
    assert failing.wait(5) and "division" in failing.error and failing.result is None


def test_export_bytes(profile):
    rows = selection_rows(profile, ["a#0", "zz", "d#0"])
    assert [r["feature_id"] for r in rows] == ["a#0", "d#0"]
    assert rows[0]["factor"] == "Durability" and rows[0]["response"] == "1" and rows[0]["x"] == 0.0
    text = csv_bytes(rows).decode()
    assert text.splitlines()[0].startswith("feature_id,item_id,phrase")
    assert json.loads(json_bytes({"a": float("nan"), "b": [1.5]})) == {"a": None, "b": [1.5]}


def test_query_options_offer_queries_then_newest_items(profile):
    from core.data.model import Dataset, Query, User
    from core.store.workspace import Workspace

    ws = Workspace(":memory:")
    ws.add_dataset(Dataset("ds", profile.task, [User("u", profile.items)], [Query("q1", "u", "new", "4")]),
                   dataset_id="ds")
    opts = query_options(ws, profile, held_out=2)
    assert [o.key for o in opts] == ["q:q1", "i:d", "i:c"]
    assert opts[1].gold == "3" and opts[1].item_id == "d" and opts[0].item_id is None
    opts = query_options(ws, profile, held_out=1, extra_items=["a"])
    assert [o.key for o in opts] == ["q:q1", "i:a", "i:d"]


def test_bundle_workspace_and_eval_exports(profile):
    from core.data.model import Dataset, User
    from core.evaluate.result import EvalResult
    from core.store.workspace import Workspace
    from core.views.export_view import eval_csv_bytes, llm_call_records, user_bundle_bytes, workspace_bytes

    ws = Workspace(":memory:")
    ws.add_dataset(Dataset("ds", profile.task, [User("u", profile.items)]), dataset_id="ds")
    ws.add_summary_version("ds", "u", "Hates breakage.", source="generated")
    bundle = json.loads(user_bundle_bytes(ws, profile))
    assert bundle["format"] == "inflow-user" and bundle["summaries"][0]["text"] == "Hates breakage."
    assert {f["id"] for f in bundle["profile"]["factors"]} == {"F1", "F2", "noise"}
    assert json.loads(workspace_bytes(ws))["format"] == "inflow-workspace"
    result = EvalResult.from_dict({"metric_names": ["mae"], "methods": {"zero": {"mae": 1.0, "n": 1}}, "baselines": {},
              "per_query": [{"id": "q", "user_id": "u", "gold": "5", "predictions": {"zero": "4"},
                             "values": {"zero": 4.0}, "tokens": {"zero": 10}, "latency_ms": {"zero": 1.0},
                             "errors": {}, "baselines": {}}]})
    rows = eval_csv_bytes(result).decode().splitlines()
    assert rows[0].startswith("id,user_id,gold,system") and rows[1].startswith("q,u,5,zero,method,4")
    assert eval_csv_bytes(result, metrics=True).decode().splitlines()[1].startswith("zero,method,1.0")
    run = ws.start_run("answer", {})
    ws.add_trace({"run_id": run, "stage": "answer", "output": "4"})
    assert [r["output"] for r in llm_call_records(ws, [run])] == ["4"]


def test_preview_reads_a_large_json_file_whole_like_the_loader(tmp_path: Path):
    # A LaMP questions file over 2 MB: a preview of its first bytes only would be cut off mid-string.
    record = {"id": "q1", "input": "x" * 1000, "profile": [{"id": f"p{k}", "text": "y" * 500} for k in range(5000)]}
    path = tmp_path / "big_questions.json"
    path.write_text(json.dumps([record, {**record, "id": "q2"}]), encoding="utf-8")
    assert path.stat().st_size > 3_000_000
    cols, rows, note = preview(path)
    assert note == "LaMP file" and [r["id"] for r in rows] == ["q1", "q2"]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"a": 1}, {"b": ', encoding="utf-8")
    assert preview(bad)[2].startswith("not readable: invalid JSON at line 1, column 18")


def test_dataset_lists_and_ids():
    from core.store.workspace import EVALUATION_SOURCE
    from core.views.upload_view import free_dataset_id, user_datasets

    ds = [{"id": "a", "source": "a.csv"}, {"id": "ev", "source": EVALUATION_SOURCE}]
    assert [d["id"] for d in user_datasets(ds)] == ["a"]
    assert [d["id"] for d in user_datasets(ds, active="ev")] == ["a", "ev"]
    assert free_dataset_id(["a", "a_2"], "a") == "a_3" and free_dataset_id(["a"], "b") == "b"
