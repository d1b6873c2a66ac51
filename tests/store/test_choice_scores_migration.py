"""Schema v4: choice scores leave the trace's ``parsed`` for their own column, in old files, exports and new calls."""

import json
import sqlite3
from typing import Any, Literal

from pydantic import create_model

from core.llm.client import LLMClient
from core.llm.types import Capabilities, ChatRequest, RawCompletion
from core.store.exchange import import_workspace
from core.store.schema import LEGACY_TRACE_CHOICE_KEY, MIGRATIONS, SCHEMA_VERSION
from core.store.workspace import Workspace

SCORES = {"mode": "calibrated", "field": "answer", "options": ["1", "2"], "chosen": "2",
          "raw": {"1": 0.7, "2": 0.3}, "calibrated": {"1": 0.4, "2": 0.6}}
TRACE_COLUMNS = ("run_id,stage,backend,model,messages_json,output,parsed_json,tokens_in,tokens_out,latency_ms,"
                 "cache_hit,retries,error,created_at")


def _v3_file(path) -> None:
    """A workspace as schema v3 wrote it: choice scores inside ``parsed``, beside rows without them."""
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:3]:
        for stmt in migration:
            conn.execute(stmt)
    conn.execute("PRAGMA user_version=3")
    rows = [("r", "answer", "local", "m", "[]", '{"answer": "2"}',
             json.dumps({"answer": "2", LEGACY_TRACE_CHOICE_KEY: SCORES}), 5, 1, 3.0, 0, 0, None, 1.0),
            ("r", "features", "local", "m", "[]", "x", json.dumps({"features": []}), 5, 1, 3.0, 0, 0, None, 2.0),
            ("r", "answer", "local", "m", "[]", "", "null", 0, 0, 1.0, 0, 0, "timeout", 3.0)]
    conn.executemany(f"INSERT INTO traces({TRACE_COLUMNS}) VALUES ({','.join('?' * 14)})", rows)
    conn.commit()
    conn.close()


def test_opening_a_v3_file_moves_its_choice_scores_to_their_column(tmp_path):
    path = tmp_path / "v3.sqlite"
    _v3_file(path)
    with Workspace(path) as ws:
        assert ws.schema_version() == SCHEMA_VERSION >= 4
        scored, plain, failed = sorted(ws.list_traces("r"), key=lambda t: t["created_at"])
    assert scored["parsed"] == {"answer": "2"} and scored["choice_scores"] == SCORES
    assert plain["parsed"] == {"features": []} and plain["choice_scores"] is None
    assert failed["parsed"] is None and failed["choice_scores"] is None and failed["error"] == "timeout"
    with Workspace(path) as ws:  # opening again migrates nothing and changes nothing
        assert sorted(ws.list_traces("r"), key=lambda t: t["created_at"])[0]["choice_scores"] == SCORES


def test_importing_a_v3_export_splits_the_choice_scores_too(tmp_path):
    row = {"id": 7, "run_id": "r", "stage": "answer", "backend": "local", "model": "m", "messages_json": "[]",
           "output": "2", "parsed_json": json.dumps({"answer": "2", LEGACY_TRACE_CHOICE_KEY: SCORES}),
           "tokens_in": 1, "tokens_out": 1, "latency_ms": 1.0, "cache_hit": 0, "retries": 0, "error": None,
           "created_at": 1.0}
    export = tmp_path / "old.json"
    export.write_text(json.dumps({"format": "inflow-workspace", "schema_version": 3, "tables": {"traces": [row]}}))
    with Workspace(":memory:") as ws:
        import_workspace(ws, export)
        [trace] = ws.list_traces("r")
    assert trace["parsed"] == {"answer": "2"} and trace["choice_scores"] == SCORES


class _ScoringBackend:
    """A backend that answers a closed choice and reports its option distributions, as the local one does."""

    capabilities = Capabilities(backend="local", model="scorer")

    def complete(self, request: ChatRequest, json_schema: dict[str, Any] | None) -> RawCompletion:
        return RawCompletion(text='{"answer": "2"}', tokens_in=3, tokens_out=2, extra={"choice_scores": SCORES})

    def cache_identity(self) -> dict[str, Any]:
        return {"kind": "scorer"}


def test_the_client_writes_choice_scores_to_their_column(tmp_path):
    Answer = create_model("Answer", answer=(Literal["1", "2"], ...))
    with Workspace(tmp_path / "w.sqlite") as ws:
        client = LLMClient(_ScoringBackend(), ws)
        first = client.chat(ChatRequest([{"role": "user", "content": "1 or 2?"}], schema=Answer, run_id="r"))
        again = client.chat(ChatRequest([{"role": "user", "content": "1 or 2?"}], schema=Answer, run_id="r"))
        traces = ws.list_traces("r")
    assert first.extra["choice_scores"] == SCORES and again.cache_hit
    assert [t["choice_scores"] for t in traces] == [SCORES, SCORES]  # the cache hit's trace keeps them too
    assert all(t["parsed"] == {"answer": "2"} for t in traces)
