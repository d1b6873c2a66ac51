"""A user built in a worker's scratch workspace, ingested by the driver, equals a user built in place."""

from __future__ import annotations

from core.engine.work import build_user
from core.stages.pipeline import build_profile
from core.store.shards import ingest_rows, seed_rows
from core.store.workspace import Workspace
from tests.engine.conftest import SETTINGS, fingerprint, make_client, population, spec_for


def test_scratch_build_ingested_equals_a_build_in_place(endpoint, driver_ws, tmp_path):
    local = Workspace(tmp_path / "local.sqlite")
    local.add_dataset(population())
    build_profile(local, "pop", "ava", client=make_client(endpoint, local), embedder=_hashing(), settings=SETTINGS)
    spec = spec_for(make_client(endpoint, None))
    calls = endpoint.chat_calls
    result = build_user(spec, "ava", seed_rows(driver_ws, "pop", "ava"), source=driver_ws)
    assert result.calls == endpoint.chat_calls - calls > 0
    assert result.rows["traces"] and result.rows["llm_cache"] and result.rows["embed_cache"]
    ingest_rows(driver_ws, result.rows)
    assert fingerprint(driver_ws, "ava") == fingerprint(local, "ava")
    assert fingerprint(driver_ws, "ava")["extractor"] == "llm"
    assert b"sk-engine-test-never-stored" not in (tmp_path / "driver.sqlite").read_bytes()
    # again: the seed carries the finished stage runs, the driver's cache the answers: 0 model calls
    calls = endpoint.chat_calls
    again = build_user(spec, "ava", seed_rows(driver_ws, "pop", "ava"), source=driver_ws)
    assert endpoint.chat_calls == calls and again.calls == 0
    ingest_rows(driver_ws, again.rows)
    assert fingerprint(driver_ws, "ava") == fingerprint(local, "ava")
    local.close()


def test_partial_seed_reads_answers_through_the_driver_cache(endpoint, driver_ws):
    """Runs dropped from the seed (another clustering, say) are redone from the driver's cache, not the model."""
    spec = spec_for(make_client(endpoint, None))
    ingest_rows(driver_ws, build_user(spec, "bob", seed_rows(driver_ws, "pop", "bob"), source=driver_ws).rows)
    seed = seed_rows(driver_ws, "pop", "bob")
    seed["runs"], seed["artifacts"] = [], []  # as if no stage had run for bob
    seed["_seeded"][0]["runs"] = []
    calls = endpoint.chat_calls
    redo = build_user(spec, "bob", seed, source=driver_ws)
    assert endpoint.chat_calls == calls and redo.calls == 0 and redo.cache_hits > 0


def test_summary_version_is_renumbered_on_ingest(endpoint, driver_ws):
    spec = spec_for(make_client(endpoint, None))
    rows = build_user(spec, "cy", seed_rows(driver_ws, "pop", "cy"), source=driver_ws).rows
    driver_ws.add_summary_version("pop", "cy", "written by hand meanwhile", source="edited")
    ingest_rows(driver_ws, rows)
    versions = driver_ws.list_summary_versions("pop", "cy")
    assert [v["version"] for v in versions] == [1, 2] and versions[1]["source"] == "generated"
    assert driver_ws.get_artifact(versions[1]["run_id"], "version") == 2


def _hashing():
    from core.embed.hashing import HashingEmbedder

    return HashingEmbedder()
