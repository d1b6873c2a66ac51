"""The one run protocol: ``Workspace.run`` closes its run on every exit path."""

from __future__ import annotations

import pytest

from core.store.workspace import Workspace


def test_normal_exit_marks_done_and_reuse_finds_it():
    ws = Workspace(":memory:")
    with ws.run("demo", {"a": 1}, dataset_id="d", user_id="u") as first:
        assert not first.reused
        ws.put_artifact(first.id, "x", 1)
    assert ws.get_run(first.id).status == "done"
    with ws.run("demo", {"a": 1}, dataset_id="d", user_id="u", reuse=True) as again:
        assert again.reused and again.id == first.id
    with ws.run("demo", {"a": 2}, dataset_id="d", user_id="u", reuse=True) as other:
        assert not other.reused and other.id != first.id


def test_exception_marks_failed_and_propagates():
    ws = Workspace(":memory:")
    with pytest.raises(RuntimeError), ws.run("demo", {}) as run:
        raise RuntimeError("backend down")
    assert ws.get_run(run.id).status == "failed"


def test_keyboard_interrupt_marks_cancelled():
    ws = Workspace(":memory:")
    with pytest.raises(KeyboardInterrupt), ws.run("demo", {}) as run:
        raise KeyboardInterrupt
    assert ws.get_run(run.id).status == "cancelled"


def test_body_sets_final_status():
    ws = Workspace(":memory:")
    with ws.run("demo", {}) as run:
        run.status = "partial"
    assert ws.get_run(run.id).status == "partial"


def test_a_failed_run_is_not_reused():
    ws = Workspace(":memory:")
    with pytest.raises(ValueError), ws.run("demo", {"a": 1}, reuse=True) as bad:
        raise ValueError("x")
    with ws.run("demo", {"a": 1}, reuse=True) as good:
        assert not good.reused and good.id != bad.id
