"""The Reasoning page draws `rpm`'s wording step (LaMP-7-like own texts) as a verdict, safely.

A user whose history is their own tweets (every item's input is its response) is built with the
deterministic stages; a loopback fake server answers every model call with a rewrite that carries
Markdown (a link around :data:`MARK`). Stepping through an `rpm` answer must end on the wording
card: its verdict, both candidates in a table, the words the rewrite brings in and takes out, and
its cosines to the given text and to the nearest earlier tweet, with the rewrite's markup shown as
text, never as a link.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.data.model import Dataset, Item, Task, User
from core.embed.hashing import HashingEmbedder
from core.methods import rpm
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings
from core.store.workspace import Workspace
from core.ui_state import Keys
from tests.fakes.openai_server import FakeOpenAIServer, schema_instance
from tests.pages.conftest import goto, texts, wait_job
from tests.pages.test_markup_injection import MARK, sources, violations

pytestmark = pytest.mark.timeout(600)

TWEETS = [
    "omg u guys r the best lol", "im so tired rn but u know how it is", "cant wait for the weekend lol",
    "coffee first then we talk", "u guys r amazing thx for the love", "so tired of this rain rn",
    "weekend plans: sleep and coffee lol", "omg this song is everything", "thx for coming out tonight u guys",
    "rain again?? so over it", "best night ever with u guys", "need coffee rn or im done",
    "lol this week is so long", "omg the weekend is finally here", "u know its bad when coffee doesnt help",
    "thx everyone for the bday love", "so tired but so happy lol", "this rain tho",
    "cant stop playing this song omg", "u guys made my day thx",
]
REWRITE = f"omg u guys [{MARK}](http://127.0.0.1:9/link) so tired rn lol"


def rewrite_responder(messages: list[dict[str, Any]], response_format: dict[str, Any] | None) -> str:
    """Every model call answers with :data:`REWRITE` (inside the schema when one is asked for)."""
    schema = (response_format or {}).get("json_schema", {}).get("schema")
    if schema is None:
        return REWRITE
    value = schema_instance(schema)
    if isinstance(value, dict):
        value.update({k: REWRITE for k, v in value.items() if isinstance(v, str)})
    return json.dumps(value)


@pytest.fixture
def app(make_app, tmp_path, monkeypatch) -> Iterator[AppTest]:
    task = Task(kind="text", name="tweet", instruction="Paraphrase the following tweet in the user's style:")
    items = [Item(id=f"t{i:02d}", input=t, output=t) for i, t in enumerate(TWEETS)]
    path = tmp_path / "tweets.sqlite"
    ws = Workspace(path)
    try:
        ws.add_dataset(Dataset(name="tweets", task=task, users=[User("tia", items)]), dataset_id="tweets")
        build_profile(ws, "tweets", "tia", client=None, embedder=HashingEmbedder(),
                      settings=PipelineSettings(hdbscan_min_cluster_size=3, embedder="hash"))
    finally:
        ws.close()
    with FakeOpenAIServer(responder=rewrite_responder) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("INFLOW_NO_SAMPLES", "1")
        at = make_app(path)
        at.session_state[Keys.DATASET] = "tweets"
        at.session_state[Keys.USER] = "tia"
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        yield at


def test_the_wording_step_is_drawn_as_a_verdict_with_both_candidates(app: AppTest) -> None:
    goto(app, "reasoning")
    app.button(key="rs_play").click().run()
    wait_job(app)
    shown = texts(app)
    assert rpm.WORDING_TITLE in shown
    verdict = next(s for s in shown.splitlines() if s.startswith(("The rewrite was kept", "The given text was kept")))
    assert any(why in verdict for why in ("p =", "too few changed words", "drops", "does not restate")), verdict
    tables = [t.value for t in app.dataframe if "candidate" in t.value.columns]
    assert tables, "no candidates table on the wording card"
    rows = tables[-1].set_index("candidate")
    assert set(rows.index) == {"given", "rewrite"} and rows.loc["rewrite", "text"] == REWRITE
    assert "Words the rewrite brings in:" in shown and MARK in shown  # the changed words name the data
    meaning = next(s for s in shown.splitlines() if s.startswith("Cosine of the rewrite to the given text: "))
    assert any(f'("{t}")' in meaning for t in TWEETS), meaning  # quotes the nearest earlier tweet
    bad = {s[:120]: v for s in sources(app) if (v := violations(s))}
    assert not bad, bad  # the rewrite's link is shown as text
