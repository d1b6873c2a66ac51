"""On the project's sample data, every reviewer's designed preference shows up as a clear factor.

The generator (``sample_data/generate.py``) gives each reviewer one aspect that moves their ratings
most: ava punishes breakage, ben judges value for money, chloe how customer service treats her, dev
ease of use. The offline pipeline (lexicon features, hashing embedder) must find, for each, a factor
on that aspect whose influence is significant (95% interval off zero) in the designed direction.

Why the thresholds sit where they do: UMAP + HDBSCAN turn last-bit floating-point differences (numba's
code for this CPU, OpenBLAS's kernel for this CPU) into different clusterings, so a factor's exact
membership, and with it its influence, moves between machines. Measured on the generator's data under
four configurations (this CPU, ``NUMBA_CPU_NAME=generic``, ``OPENBLAS_CORETYPE=Prescott``, both), the
designed factors' influence ranged over ava -2.16, ben -1.33..-1.50, chloe -1.79..-2.01, dev
-1.29..-1.95, with the upper 95% bound of the strongest at most -0.71. The assertions keep the
property (a significant factor in the designed direction, not read the other way) with a margin of
at least 0.7 rating points below those figures; ``make test`` re-runs this file under the simulated
other CPU. A value nearer zero than the margin means the pipeline lost the effect, not the CPU.
"""

from __future__ import annotations

import random

import pytest

from core.data.model import Dataset, Item, Task, User
from core.embed.hashing import HashingEmbedder
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings, Profile
from core.store.workspace import Workspace
from sample_data.designed import lowering, on_aspect, read_the_other_way


def _reviews(user: str) -> list[Item]:
    gen = pytest.importorskip("sample_data.generate")
    if not hasattr(gen, "make_reviews"):
        pytest.skip("sample data generator has no make_reviews")
    rows = [r[0] if isinstance(r, tuple) else r for r in gen.make_reviews(random.Random(gen.SEED))]
    return [Item(r["review_id"], r["review_text"], r["rating"]) for r in rows if r["user_id"] == user]


def _profile(tmp_path, user: str) -> Profile:
    items = _reviews(user)
    if len(items) < 40:
        pytest.skip(f"sample reviewer {user!r} not found")
    ws = Workspace(tmp_path / "ws.sqlite")
    ws.add_dataset(Dataset("sample", Task(kind="score"), [User(user, items)]))
    try:
        return build_profile(ws, "sample", user, client=None, embedder=HashingEmbedder(),
                             settings=PipelineSettings(extractor="lexicon"))
    finally:
        ws.close()


def test_durability_reviewer_gets_a_clearly_negative_durability_factor(tmp_path):
    p = _profile(tmp_path, "ava")
    dura = [f for f in p.factors if not f.is_noise and "durability problems" in " ".join(f.keywords[:3])]
    assert dura, [f.name for f in p.factors]
    st = dura[0].stats
    assert st.influence < -1.2 and st.ci_high < 0  # designed weight 1.8, measured -2.07 (see above)
    assert dura[0].name in p.summary


@pytest.mark.parametrize(("user", "cues"), [
    ("ava", ("durability",)),
    ("ben", ("price", "value")),
    ("chloe", ("service",)),
    ("dev", ("ease", "use")),
])
def test_each_reviewer_has_a_significant_factor_on_their_designed_aspect(tmp_path, user, cues):
    p = _profile(tmp_path, user)
    found = on_aspect(p, cues)
    assert found, [f.name for f in p.factors]
    low = lowering(found)
    assert low, [(f.name, f.stats.influence, f.stats.ci_low, f.stats.ci_high) for f in found]
    # every factor that lowers ratings reads that way (at least 70% of its directed features say "lowered")
    for f in low:
        assert read_the_other_way(p, f) is None, (f.name, read_the_other_way(p, f))


def test_service_reviewer_is_also_lifted_by_good_service(tmp_path):
    p = _profile(tmp_path, "chloe")
    raising = [f for f in on_aspect(p, ("service",)) if f.stats.ci_low > 0]
    assert raising, [(f.name, f.stats.influence, f.stats.ci_low) for f in on_aspect(p, ("service",))]
