"""The factor-count control and the sub-factor drill-down on the Factors page."""

from __future__ import annotations

import pytest

from core.ui_state import Keys
from tests.pages.conftest import goto, open_built, texts

pytestmark = pytest.mark.timeout(900)


def _profile(at):
    return at.session_state["_inflow_profiles"][(at.session_state["_inflow_ctx"].ws.path, "reviews", "ava")]


def _real(profile) -> list:
    return [f for f in profile.factors if not f.is_noise and f.feature_ids]


def test_fewer_factors_on_a_click_then_a_sub_factor_split_off(make_app):
    at = open_built(make_app, "factor_map")
    assert at.slider(key="fm_n_factors").value == _profile(at).settings["n_factors"]
    goto(at, "factors")
    assert "of the features are Unclustered" in texts(at)
    runs = len(at.session_state["_inflow_ctx"].ws.list_runs("projection"))
    at.slider(key="fc_n_factors").set_value(2).run()
    at.button(key="fc_apply_n_factors").click().run()
    assert not at.exception, [e.value for e in at.exception]
    profile = _profile(at)
    assert len(_real(profile)) == 2 and profile.settings["n_factors"] == 2
    assert at.session_state[Keys.PIPELINE]["n_factors"] == 2  # the next build keeps the choice
    assert len(at.session_state["_inflow_ctx"].ws.list_runs("projection")) == runs  # no re-projection

    merged = next(f for f in _real(profile) if len(f.subfactors) >= 2)
    next(s for s in at.selectbox if s.label == "Factor").select(merged.id).run()  # its key follows the factors
    sub = merged.subfactors[0]
    at.selectbox(key=f"fc_sub_{merged.id}").select(sub["id"]).run()
    assert f"**{len(sub['feature_ids'])} features**" in texts(at)
    at.button(key=f"fc_split_sub_{merged.id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    after = _profile(at)
    assert len(_real(after)) == 3
    assert any(sorted(f.feature_ids) == sorted(sub["feature_ids"]) and f.name == sub["name"] for f in after.factors)
