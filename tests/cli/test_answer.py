from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.__main__ import main
from core.data.model import Dataset, Item, Task, User
from core.store.workspace import Workspace
from tests.fakes.openai_server import FakeOpenAIServer, default_responder

TASK = Task(kind="score", name="phone_rating", instruction="What score from 1 to 5 would this user give?")

BATTERY = ["The battery died after two days.", "Battery drains fast and dies by noon.",
           "Terrible battery, it died in a week.", "The battery is weak and dies quickly.",
           "Battery died again, very disappointing.", "Awful battery life, drains overnight.",
           "The battery drains in hours."]
SCREEN = ["Gorgeous bright screen, colours pop.", "The screen is bright and sharp.",
          "Lovely bright screen with sharp colours.", "Sharp screen, bright and vivid.",
          "Bright screen, the display is gorgeous.", "Vivid sharp display, lovely screen.",
          "The bright screen looks gorgeous."]


def _answer(messages: list[dict[str, Any]], fmt: dict[str, Any] | None) -> str:
    name = ((fmt or {}).get("json_schema") or {}).get("name")
    if name == "Answer":
        prompt = messages[-1]["content"]
        return json.dumps({"answer": "1" if "battery" in prompt.lower().split("## task")[0] else "3"})
    return default_responder(messages, fmt)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(responder=_answer) as s:
        yield s


# 14 single-feature items: below the projection's UMAP threshold, so PCA is used (no numba compile).
@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "ws.sqlite"
    items = [Item(id=f"b{i}", input=t, output="1") for i, t in enumerate(BATTERY)]
    items += [Item(id=f"s{i}", input=t, output="5") for i, t in enumerate(SCREEN)]
    with Workspace(path) as ws:
        ws.add_dataset(Dataset(name="phones", task=TASK, users=[User(id="u1", items=items)]))
    return path


@pytest.fixture
def env(server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFLOW_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("INFLOW_MODEL", "fake-model")
    monkeypatch.setenv("INFLOW_EMBEDDER", "hashing")
    monkeypatch.setenv("INFLOW_STAGES", "deterministic")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_answer_json_builds_the_profile_and_prints_answer_and_trace(env, workspace, capsys):
    code, out, err = run_cli(capsys, "answer", "--workspace", str(workspace), "--user", "u1", "--query",
                             "My battery died overnight.", "--method", "rpm", "--k", "3", "--json")
    assert code == 0, err
    data = json.loads(out)
    n_dev = data["trace"]["steps"][-1]["detail"]["decision"]["n_dev"]
    assert n_dev >= 8 and f"user u1 fitting rule: {n_dev}/{n_dev}" in err  # rpm's rule fitting, on stderr
    assert set(data) >= {"dataset", "user", "method", "run_id", "text", "value", "trace"}
    assert data["dataset"] == "phones" and data["user"] == "u1" and data["method"] == "rpm"
    assert data["value"] == 1.0 and data["text"] == "1"
    steps = data["trace"]["steps"]
    assert [s["kind"] for s in steps] == ["features", "retrieve", "reason", "llm", "reason"]
    assert steps[4]["detail"]["decision"]["rule"]["name"] in ("raw", "calibrated", "fusion")
    assert len(steps[1]["documents"]) == 3
    assert all(d["id"].startswith("b") for d in steps[1]["documents"])
    assert steps[1]["documents"][0]["matched"]
    assert steps[3]["tokens_in"] > 0
    assert "sk-test-secret" not in out
    with Workspace(workspace) as ws:
        run = ws.get_run(data["run_id"])
        assert run.stage == "answer" and run.status == "done"
        assert data["run_label"] == run.label and run.label.startswith("answer-0")
        assert ws.get_artifact(data["run_id"], "answer")["value"] == 1.0
        assert any(t["stage"] == "answer" for t in ws.list_traces(data["run_id"]))


@pytest.mark.parametrize("method", ["zero", "bm25", "summary", "reflect", "pool"])
def test_answer_text_output_for_every_method(env, workspace, capsys, method):
    code, out, err = run_cli(capsys, "answer", "--workspace", str(workspace), "--user", "u1", "--query",
                             "The screen is bright.", "--method", method)
    assert code == 0, err
    assert out.splitlines()[1].startswith("answer: ")
    assert f"method: {method}" in out and "trace:" in out and "[1] " in out
    assert "fitting rule" not in err  # only rpm fits a rule


def test_ablate_reports_the_shift(env, workspace, capsys):
    code, out, err = run_cli(capsys, "ablate", "--workspace", str(workspace), "--user", "u1", "--query",
                             "My battery died overnight.", "--all-factors", "--k", "3", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["results"] and data["results"][0]["original"]["value"] == 1.0
    effects = [r["effect"] for r in data["results"]]
    assert effects == sorted(effects, reverse=True)
    with Workspace(workspace) as ws:  # its own ablation run, on the profile's stage runs, its calls filed under it
        run = ws.get_run(data["run_id"])
        assert run.stage == "ablation" and run.status == "done" and run.label == data["run_label"]
        assert set(run.parents) >= {r.id for r in ws.list_runs("factors", user_id="u1")[:1]}
        assert any(t["stage"] == "answer" for t in ws.list_traces(data["run_id"]))


@pytest.mark.parametrize("argv, field", [
    (["--user", "nobody"], "user"),
    (["--user", "u1", "--method", "magic"], "method"),
    (["--user", "u1", "--dataset", "nope"], "dataset"),
])
def test_answer_input_errors_name_the_field(env, workspace, capsys, argv, field):
    code, out, err = run_cli(capsys, "answer", "--workspace", str(workspace), "--query", "q", *argv)
    assert code == 2 and out == ""
    assert f":{field}: " in err and "Traceback" not in err


def test_ablate_unknown_factor_and_missing_workspace(env, workspace, tmp_path, capsys):
    code, _, err = run_cli(capsys, "ablate", "--workspace", str(workspace), "--user", "u1", "--query", "q",
                           "--factor", "Nope")
    assert code == 2 and ":factor: " in err
    code, _, err = run_cli(capsys, "answer", "--workspace", str(tmp_path / "none.sqlite"), "--user", "u1",
                           "--query", "q")
    assert code == 2 and ":workspace: " in err


def test_answer_pool_file_is_stored_used_and_reset(env, workspace, tmp_path, capsys):
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps([{"id": "batt", "text": "Battery failures mean a low score.", "kind": "instruction"},
                                {"text": "Input: The battery died fast.\nResponse: 1", "kind": "demo"}]),
                    encoding="utf-8")
    code, out, err = run_cli(capsys, "answer", "--workspace", str(workspace), "--user", "u1", "--query",
                             "My battery died overnight.", "--method", "pool", "--k", "2", "--pool", str(pool),
                             "--json")
    assert code == 0, err
    assert "stored a prompt pool of 2 entries" in err
    step = json.loads(out)["trace"]["steps"][0]
    assert step["detail"]["pool_source"] == "stored" and step["detail"]["pool_size"] == 2
    assert sorted(step["output"]) == ["U1", "batt"]
    with Workspace(workspace) as ws:
        assert [e["id"] for e in ws.get_pool("phones", "u1")] == ["batt", "U1"]
    # the stored pool is used by later answers (and ablations) without --pool
    code, out, err = run_cli(capsys, "answer", "--workspace", str(workspace), "--user", "u1", "--query",
                             "Screen is bright.", "--method", "pool", "--json")
    assert code == 0, err
    assert json.loads(out)["trace"]["steps"][0]["detail"]["pool_source"] == "stored"
    code, out, err = run_cli(capsys, "ablate", "--workspace", str(workspace), "--user", "u1", "--query",
                             "Screen is bright.", "--method", "pool", "--item", "b0", "--json")
    assert code == 0, err
    result = json.loads(out)["results"][0]
    assert result["original"]["trace"]["steps"][0]["detail"]["pool_source"] == "stored"
    code, out, err = run_cli(capsys, "answer", "--workspace", str(workspace), "--user", "u1", "--query",
                             "Screen is bright.", "--method", "pool", "--pool-reset", "--json")
    assert code == 0, err
    assert "deleted the stored prompt pool" in err
    assert json.loads(out)["trace"]["steps"][0]["detail"]["pool_source"] == "default"
    with Workspace(workspace) as ws:
        assert ws.get_pool("phones", "u1") is None


def test_answer_bad_pool_file_names_entry_and_field(env, workspace, tmp_path, capsys):
    pool = tmp_path / "bad_pool.json"
    pool.write_text(json.dumps([{"text": "fine"}, {"text": "", "kind": "hint"}]), encoding="utf-8")
    code, out, err = run_cli(capsys, "answer", "--workspace", str(workspace), "--user", "u1", "--query", "q",
                             "--method", "pool", "--pool", str(pool))
    assert code == 2 and out == ""
    assert f"{pool}:2:text: the text is empty" in err and f"{pool}:2:kind: " in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "answer", "--workspace", str(workspace), "--user", "u1", "--query", "q",
                           "--pool", str(tmp_path / "missing.json"))
    assert code == 2 and ":pool: no such file" in err
    with Workspace(workspace) as ws:
        assert ws.get_pool("phones", "u1") is None
