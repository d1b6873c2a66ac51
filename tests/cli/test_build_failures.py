"""``build`` lists the items whose model call failed, and running it again retries exactly those."""

from __future__ import annotations

import csv

from core.__main__ import main
from tests.cli.test_build import reviews_csv  # noqa: F401
from tests.fakes.openai_server import openai_server, openai_server_session  # noqa: F401
from tests.stages.test_fault_injection import breaking, feature_items


def test_build_lists_failed_items_and_a_second_build_retries_them(reviews_csv, tmp_path, capsys,  # noqa: F811
                                                                  monkeypatch, openai_server):  # noqa: F811
    for key, value in {"INFLOW_BACKEND": "openai", "OPENAI_BASE_URL": openai_server.base_url,
                       "OPENAI_API_KEY": "sk-cli-test", "INFLOW_MODEL": "fake-model"}.items():
        monkeypatch.setenv(key, value)
    on = {"on": True}
    openai_server.responder = breaking({"analyse one item": "zipper"}, on)
    args = ["build", str(reviews_csv), "--workspace", str(tmp_path / "ws.sqlite"), "--user", "ava",
            "--extractor", "llm", "--min-cluster-size", "4"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    failed = [line.split()[2] for line in err.splitlines() if line.startswith("  features item ")]
    assert failed and "[ava] " in err and "building again retries exactly these" in err
    assert all("does not match schema ExtractedFeatures after 2 repairs" in line
               for line in err.splitlines() if line.startswith("  features item "))
    with reviews_csv.open(newline="") as f:
        texts = {row["review_id"]: row["review_text"] for row in csv.DictReader(f)}
    on["on"] = False
    openai_server.reset()
    openai_server.responder = breaking({}, on)
    assert main(args) == 0
    _, err = capsys.readouterr()
    assert "retries exactly these" not in err and "  features item " not in err
    assert sorted(feature_items(openai_server.calls())) == sorted(texts[i] for i in failed)
