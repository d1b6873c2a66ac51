"""A small population of users, the loopback endpoint with scripted answers, and a profile fingerprint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.data.model import Dataset, User
from core.engine.work import WorkSpec
from core.llm.client import LLMClient
from core.llm.openai_backend import OpenAIBackend
from core.stages.pipeline import load_profile
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from tests.fakes.openai_server import FakeOpenAIServer, openai_server, openai_server_session  # noqa: F401
from tests.stages.conftest import durability_dataset
from tests.stages.test_llm_stages import scripted

USERS = ("ava", "bob", "cy")
SETTINGS = PipelineSettings(hdbscan_min_cluster_size=4)


def population(users: tuple[str, ...] = USERS, n_items: int = 18) -> Dataset:
    """A few users who each punish breakage (different reviews per user)."""
    out = []
    for k, uid in enumerate(users):
        items = durability_dataset(n=n_items, seed=11 + k).users[0].items
        out.append(User(uid, [type(it)(f"{uid}-{it.id}", it.input, it.output) for it in items]))
    base = durability_dataset(n=1)
    return Dataset("pop", base.task, out)


@pytest.fixture
def endpoint(openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAIServer:  # noqa: F811
    """The loopback server answering like a capable model (features, names, paths, a summary)."""
    openai_server.responder = scripted
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("INFLOW_MODEL", "fake-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-engine-test-never-stored")
    return openai_server


def make_client(server: FakeOpenAIServer, ws: Workspace | None, **kw: Any) -> LLMClient:
    """A client for the loopback server (fast retries)."""
    backend = OpenAIBackend(server.base_url, "sk-engine-test-never-stored", "fake-model", timeout_s=10.0)
    return LLMClient(backend, ws, backoff_base_s=0.001, timeout_s=10.0, **kw)


def spec_for(client: LLMClient, dataset_id: str = "pop") -> WorkSpec:
    """The work spec of a build with the LLM stages and the hashing embedder."""
    from core.engine.work import backend_spec

    return WorkSpec(dataset_id=dataset_id, backend=backend_spec(client), embedder="hashing",
                    pipeline=SETTINGS.to_dict())


def fingerprint(ws: Workspace, user: str, dataset_id: str = "pop") -> dict[str, Any]:
    """What must be identical between engines: features, factors (names, members, stats), summary, paths."""
    p = load_profile(ws, dataset_id, user)
    assert p is not None, f"{user} has no profile"
    return {
        "features": sorted((f.item_id, f.phrase, f.aspect, f.direction) for f in p.all_features()),
        "factors": sorted((f.name, tuple(sorted(f.feature_ids)), round(f.stats.coverage, 6),
                           None if f.stats.influence is None else round(f.stats.influence, 6)) for f in p.factors),
        "summary": (p.summary, p.summary_version),
        "paths": sorted((k, v.text, v.consistent) for k, v in p.paths.items()),
        "extractor": p.settings["extractor_kind"],
    }


@pytest.fixture
def driver_ws(tmp_path) -> Iterator[Workspace]:
    """A driver workspace file holding the population."""
    ws = Workspace(tmp_path / "driver.sqlite")
    ws.add_dataset(population())
    yield ws
    ws.close()
