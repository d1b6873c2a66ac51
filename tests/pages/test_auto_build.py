"""A fresh machine: the sample user's profile builds on the first visit, with progress and a lossless Cancel."""

from __future__ import annotations

import os
import time

import pytest

from core.stages.lexicon import LexiconFeatureExtractor
from tests.pages.conftest import BUILD_JOBS, goto, texts, wait_build

pytestmark = pytest.mark.timeout(900)


def _ws(at):
    return at.session_state["_inflow_ctx"].ws


def _profile(at, user: str = "ava"):
    return at.session_state["_inflow_profiles"].get((_ws(at).path, "reviews", user))


def test_factor_map_builds_the_sample_user_on_first_visit(make_app, monkeypatch):
    monkeypatch.setitem(os.environ, "INFLOW_AUTO_BUILD", "1")
    monkeypatch.setitem(os.environ, "INFLOW_STAGES", "llm")  # an unasked build still uses the deterministic stages
    at = make_app()
    at.switch_page("pages/factor_map.py")
    at.run()  # the very first page of the session is the factor map
    assert not at.exception, [e.value for e in at.exception]
    page = texts(at)
    assert "First visit: building the profile of sample user **ava** (deterministic stages, hashing" in page
    assert at.get("progress") and at.button(key="build_cancel").label == "Cancel"
    assert "Build profile" not in [b.label for b in at.button]
    wait_build(at)
    assert at.title[0].value == "Factor map"
    profile = _profile(at)
    assert profile is not None and profile.settings["extractor_kind"] == "lexicon"
    assert profile.settings["summarizer"] == "template" and profile.settings["embedder_name"].startswith("hashing")
    assert sum(1 for f in profile.factors if not f.is_noise) >= 2
    assert len(at.get("plotly_chart")) >= 2 and "Factors" in [s.value for s in at.subheader]
    # later visits reuse it: no second build
    n_profiles = len(_ws(at).list_runs("profile"))
    goto(at, "summary")
    goto(at, "factor_map")
    assert len(_ws(at).list_runs("profile")) == n_profiles and not at.session_state[BUILD_JOBS]


def test_cancel_keeps_stored_features_and_build_resumes(make_app, monkeypatch):
    monkeypatch.setitem(os.environ, "INFLOW_AUTO_BUILD", "1")
    slow_one = LexiconFeatureExtractor.extract_one

    def slow(self, item, task):  # a slow extractor, so the build is cancelled mid-way
        time.sleep(0.03)
        return slow_one(self, item, task)

    monkeypatch.setattr(LexiconFeatureExtractor, "extract_one", slow)
    at = make_app()
    at.run()  # the Upload page starts the sample user's build in the background
    assert not at.exception
    assert "First visit: building the profile" in texts(at)
    key = (_ws(at).path, "reviews", "ava")
    job = at.session_state[BUILD_JOBS][key][0]
    deadline = time.time() + 300

    def stored_now() -> int:  # items whose features are stored (two chunks are extracted at once)
        runs = _ws(at).list_runs("features", dataset_id="reviews", user_id="ava")
        return len(_ws(at).get_artifacts(runs[0].id, "item:")) if runs else 0

    while stored_now() < 16 and time.time() < deadline:
        assert not job.done, job.error
        time.sleep(0.05)
    at.button(key="build_cancel").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert job.cancelled() and job.wait(60)
    assert type(job.exception).__name__ == "BuildCancelled"
    features_run = _ws(at).list_runs("features", dataset_id="reviews", user_id="ava")[0]
    stored = len(_ws(at).get_artifacts(features_run.id, "item:"))
    assert 16 <= stored < 96 and stored % 16 == 0  # whole chunks were stored as they finished

    goto(at, "factor_map")  # no automatic restart; the note says what was kept
    assert f"Build cancelled: the features of {stored} of 96 items are stored" in texts(at)
    assert not at.session_state[BUILD_JOBS] and at.button(key="build_profile_inline")
    monkeypatch.setattr(LexiconFeatureExtractor, "extract_one", slow_one)
    at.button(key="build_profile_inline").click().run()
    wait_build(at)
    profile = _profile(at)
    assert profile is not None and profile.run_ids["features"] == features_run.id  # resumed, not restarted
    assert _ws(at).get_run(features_run.id).status == "done"
    assert "Build cancelled" not in texts(at)
