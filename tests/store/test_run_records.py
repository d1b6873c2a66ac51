"""Runs come out of the workspace as frozen RunRecords, the same from get_run, find_run and list_runs."""

import dataclasses

import pytest

from core.store.records import RunRecord
from core.store.workspace import Workspace


def test_run_records_are_typed_and_read_only():
    ws = Workspace(":memory:")
    parent = ws.start_run("features", {"extractor": "lexicon"}, dataset_id="d", user_id="u")
    ws.finish_run(parent, "done")
    child = ws.start_run("projection", {"n": 5}, dataset_id="d", user_id="u", parents=[parent])
    run = ws.get_run(child)
    assert isinstance(run, RunRecord)
    assert (run.stage, run.dataset_id, run.user_id, run.params, run.parents, run.status, run.finished_at) == (
        "projection", "d", "u", {"n": 5}, [parent], "running", None)
    assert ws.find_run("features", {"extractor": "lexicon"}, dataset_id="d", user_id="u") == ws.get_run(parent)
    assert {r.id for r in ws.list_runs(user_id="u")} == {child, parent}
    assert ws.get_run(parent).finished_at is not None and ws.get_run(parent).params_hash
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = "done"  # type: ignore[misc]  # finish_run changes a run, not the record a caller holds
    ws.close()
