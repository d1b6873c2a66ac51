"""Without a reachable chat backend the workbench still builds profiles and says why it cannot answer."""

from __future__ import annotations

import os
import socket

from tests.pages.conftest import goto, texts, wait_build


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_backend_degrades_to_deterministic_stages(make_app, monkeypatch):
    monkeypatch.setitem(os.environ, "OPENAI_BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")
    monkeypatch.setitem(os.environ, "INFLOW_STAGES", "auto")
    at = make_app()
    at.run()
    assert not at.exception
    status = " ".join(str(c.value) for c in at.sidebar.caption)
    assert "Backend none" in status and "features lexicon" in status
    assert any("cannot reach" in str(w.value) for w in at.sidebar.warning)
    at.sidebar.selectbox(key="sb_dataset").select("movie_tags").run()
    goto(at, "factor_map")
    at.button(key="build_profile_inline").click().run()
    assert not at.exception, [e.value for e in at.exception]
    wait_build(at)
    assert "Factors" in [s.value for s in at.subheader]
    goto(at, "reasoning")
    at.button(key="rs_next").click().run()
    assert not at.exception
    assert "Answering needs a chat backend" in texts(at)
