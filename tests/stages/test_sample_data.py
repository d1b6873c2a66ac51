"""On the project's sample data, the reviewer who punishes breakage gets a durability-problems factor."""

from __future__ import annotations

import random

import pytest

from core.data.model import Dataset, Item, Task, User
from core.embed.hashing import HashingEmbedder
from core.stages.profile import PipelineSettings, build_profile
from core.store.workspace import Workspace


def _reviews(user: str) -> list[Item]:
    gen = pytest.importorskip("sample_data.generate")
    if not hasattr(gen, "make_reviews"):
        pytest.skip("sample data generator has no make_reviews")
    rows = [r[0] if isinstance(r, tuple) else r for r in gen.make_reviews(random.Random(gen.SEED))]
    return [Item(r["review_id"], r["review_text"], r["rating"]) for r in rows if r["user_id"] == user]


def test_durability_reviewer_gets_a_clearly_negative_durability_factor(tmp_path):
    items = _reviews("ava")
    if len(items) < 40:
        pytest.skip("sample reviewer 'ava' not found")
    ws = Workspace(tmp_path / "ws.sqlite")
    ws.add_dataset(Dataset("sample", Task(kind="score"), [User("ava", items)]))
    p = build_profile(ws, "sample", "ava", client=None, embedder=HashingEmbedder(),
                      settings=PipelineSettings(extractor="lexicon"))
    dura = [f for f in p.factors if not f.is_noise and "durability problems" in " ".join(f.keywords[:3])]
    assert dura, [f.name for f in p.factors]
    st = dura[0].stats
    assert st.influence < -1.5 and st.ci_high < 0
    assert dura[0].name in p.summary
    ws.close()
