"""Typed step details: stored traces keep their flat detail form, and old ones read back typed."""

from core.methods.types import PoolMatch, Step, StepDetail, Trace

POOL_STEP = {"entries": [{"id": "U1", "kind": "instruction", "text": "Be brief.", "score": 0.9}],
             "candidates": [{"id": "U1", "kind": "instruction", "text": "Be brief.", "score": 0.9}],
             "pool_size": 3, "pool_source": "stored", "reranker": None, "ranking": "similarity"}


def test_an_old_stored_trace_reads_back_typed():
    old = {"method": "pool", "query": "q", "summary_version": None, "steps": [
        {"kind": "retrieve", "name": "Match", "input": "q", "output": ["U1"], "documents": [], "tokens_in": 0,
         "tokens_out": 0, "latency_ms": 1.0, "status": "ok", "detail": POOL_STEP},
        {"kind": "llm", "name": "Answer", "input": "p", "output": "4", "documents": [], "tokens_in": 9,
         "tokens_out": 1, "latency_ms": 5.0, "status": "error",
         "detail": {"system": "S", "value": None, "raw": "four", "error": "the answer could not be parsed",
                    "cache_hit": False, "choices": ["1", "4"], "trimmed": False, "choice_scores": None,
                    "summary_version": 2, "lamp_k": 4}}]}
    pool_step, llm = Trace.from_dict(old).steps
    assert pool_step.detail.pool == PoolMatch(**POOL_STEP) and pool_step.detail.extra == {}
    d = llm.detail
    assert (d.pool, d.system, d.raw, d.error, d.choices, d.summary_version) == (
        None, "S", "four", "the answer could not be parsed", ["1", "4"], 2)
    assert d.extra == {"lamp_k": 4}  # a key only one method writes is kept, as is
    again = Trace.from_dict(old).to_dict()
    assert again["steps"][0]["detail"] == POOL_STEP  # the pool's fields stay at the top level
    assert again["steps"][1]["detail"] == {k: v for k, v in old["steps"][1]["detail"].items() if v is not None}


def test_merged_lets_the_caller_add_and_override():
    base = StepDetail(system="S", summary_version=1, extra={"a": 1})
    out = base.merged(StepDetail(summary_version=3, factor_ids=["F1"], extra={"b": 2}))
    assert (out.system, out.summary_version, out.factor_ids, out.extra) == ("S", 3, ["F1"], {"a": 1, "b": 2})
    assert base.merged(None) is base and base.summary_version == 1


def test_step_to_dict_copies_the_detail():
    step = Step("reason", "R", detail=StepDetail(factors=[{"id": "F1"}]))
    out = step.to_dict()
    out["detail"]["factors"].append({"id": "F2"})
    assert step.detail.factors == [{"id": "F1"}] and out["documents"] == []
