"""bench/call_latency.py: rpm's uncached, successful answering calls per evaluation run of a workspace."""

from bench.call_latency import main
from core.methods.rpm import FACTORS_TITLE
from core.store.workspace import Workspace


def _call(run_id, prompt, latency_ms, *, cache_hit=False, error=None, stage="answer"):
    return {"run_id": run_id, "stage": stage, "messages": [{"role": "user", "content": prompt}],
            "latency_ms": latency_ms, "cache_hit": cache_hit, "error": error}


def test_only_rpm_calls_that_reached_the_model_count(tmp_path, capsys):
    path = tmp_path / "ws.sqlite"
    ws = Workspace(path)
    rpm = f"## {FACTORS_TITLE}\nF1 ..."
    with ws.run("eval", {"dataset": "lamp3_users"}) as lamp3, ws.run("eval", {"dataset": "lamp7"}) as other:
        for ms in (4000, 6000, 20000):
            ws.add_trace(_call(lamp3.id, rpm, ms))
        ws.add_trace(_call(lamp3.id, rpm, 1, cache_hit=True))  # from the cache: not a model call
        ws.add_trace(_call(lamp3.id, rpm, 90000, error="timeout"))  # failed
        ws.add_trace(_call(lamp3.id, "Rate this review", 50000))  # another method's prompt
        ws.add_trace(_call(lamp3.id, rpm, 70000, stage="summary"))  # not an answering call
        ws.add_trace(_call(other.id, "Paraphrase", 3000))  # a run without rpm calls: no row
    assert main([str(path)]) == 0
    rows = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| eval-")]
    assert rows == [f"| eval-001 ({lamp3.id}) | lamp3_users | 3 | 6.0 | 20.0 |"]
