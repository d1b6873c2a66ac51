"""Every method's trace accounts for the time it takes: against the loopback server, >= 90% of the wall time.

The profile is a real build of the sample user ``ava`` (96 reviews, deterministic stages), so the
non-LLM work (retrieval, the pool's re-ranker fit on the whole history, prompt fitting) is of a
realistic size; each LLM call costs the server's 100 ms (so a few ms of Python between steps
stay well inside the 10% margin on a loaded machine).
"""

from __future__ import annotations

import time

import pytest

from core.embed.cached import CachedEmbedder
from core.embed.hashing import HashingEmbedder
from core.llm.factory import make_client
from core.llm.settings import BackendSettings
from core.methods.registry import METHOD_NAMES, get_method
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from core.ui_state import ensure_sample_data
from core.views.answering import make_context
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("acct") / "ws.sqlite")
    ensure_sample_data(ws)
    emb = CachedEmbedder(HashingEmbedder(), ws)
    profile = build_profile(ws, "reviews", "ava", client=None, embedder=emb,
                            settings=PipelineSettings(extractor="lexicon", namer="keywords", summarizer="template",
                                                      paths="template"))
    with FakeOpenAIServer(latency_s=0.1) as server:
        client = make_client(BackendSettings(kind="openai", base_url=server.base_url, model="fake-model",
                                             api_key="sk-test", use_cache=False), ws)
        yield ws, profile, client, emb
    ws.close()


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_trace_accounts_for_the_wall_time(setup, method):
    ws, profile, client, emb = setup
    query = profile.items[0].input
    walls, traced = [], []
    for _ in range(2):  # the first answer also fits what later ones reuse (e.g. the pool's re-ranker)
        ctx = make_context(profile, client=client, embedder=emb, k=4, disabled_items=[profile.items[0].id])
        t0 = time.perf_counter()
        answer = get_method(method).answer(query, ctx)
        walls.append(time.perf_counter() - t0)
        traced.append(answer.trace.latency_ms / 1000.0)
        assert answer.trace.steps and any(s.kind in ("llm", "rewrite") for s in answer.trace.steps)
    for wall, trace in zip(walls, traced, strict=True):
        assert trace >= 0.9 * wall, f"{method}: the trace shows {trace:.3f} s of {wall:.3f} s"
