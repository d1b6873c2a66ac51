"""The real LaMP-3 users in ../shared/data load (skipped when that folder is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data.load import load

HISTORIES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "lamp3_users" / "user_histories.json"


@pytest.mark.skipif(not HISTORIES.is_file(), reason="../shared/data/lamp3_users is absent")
def test_real_lamp3_users_load():
    result = load([HISTORIES])
    ds = result.dataset
    assert result.ok
    assert [(u.id, len(u.items)) for u in ds.users] == [
        ("u00005020", 550), ("u00005228", 448), ("u00008075", 405), ("u00011077", 500), ("u00012502", 987)]
    assert ds.task.kind == "score" and (ds.task.score_min, ds.task.score_max) == (1, 5)
    first = ds.user("u00005020").items[0]
    assert first.id == "u00005020_0" and first.output == "5" and first.input.startswith("Once again ms hart")
    assert {i.output for u in ds.users for i in u.items} <= {"1", "2", "3", "4", "5"}
    (counts,) = result.files
    assert (counts.users, counts.items, counts.skipped) == (5, 2890, 0)
