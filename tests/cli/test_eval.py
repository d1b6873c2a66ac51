import json
from collections.abc import Iterator

import pytest

from core.__main__ import main
from tests.fakes.openai_server import FakeOpenAIServer

PREFIX = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
          "without further explanation. review: ")
REVIEWS = [("The strap broke after a week.", "1"), ("Lovely colours and great value.", "5"),
           ("It broke on the first day.", "2"), ("Fast shipping and easy setup.", "4"),
           ("Great design, works well.", "5"), ("The lid cracked and broke.", "1")]


def lamp_files(tmp_path):
    questions, golds = [], []
    for q, (text, gold) in enumerate([("The handle broke quickly.", "1"), ("Great value, lovely design.", "5")]):
        profile = [{"id": f"q{q}-p{n}", "text": t, "score": s} for n, (t, s) in enumerate(REVIEWS)]
        questions.append({"id": f"q{q}", "input": PREFIX + text, "profile": profile})
        golds.append({"id": f"q{q}", "output": gold})
    qp, op = tmp_path / "t_questions.json", tmp_path / "t_outputs.json"
    qp.write_text(json.dumps(questions))
    op.write_text(json.dumps({"task": "LaMP_3", "golds": golds}))
    return qp, op


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as s:
        yield s


def backend_args(server: FakeOpenAIServer, tmp_path) -> list[str]:
    return ["--backend", "openai", "--base-url", server.base_url, "--model", "fake-model", "--embedder", "hash",
            "--extractor", "lexicon", "--workspace", str(tmp_path / "ws.sqlite"), "--quiet"]


def test_eval_lamp_json_shape(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-key")
    qp, op = lamp_files(tmp_path)
    out = tmp_path / "out.json"
    code = main(["eval", "--questions", str(qp), "--outputs", str(op), "--task", "LaMP_3", "--methods", "zero,bm25",
                 "--json", str(out), "--csv", str(tmp_path / "pq.csv"), *backend_args(server, tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "zero" in printed and "baseline: user-mean" in printed
    result = json.loads(out.read_text())
    assert result["task"] == "LaMP_3" and result["n"] == 2
    assert set(result["methods"]) == {"zero", "bm25"}
    for m in result["methods"].values():
        assert set(m) >= {"mae", "rmse"} and 0 <= m["mae"] <= 4
    assert set(result["baselines"]) == {"majority", "user-mean", "knn-bm25", "knn-feature"}
    assert result["backend"]["kind"] == "openai" and result["backend"]["model"] == "fake-model"
    assert [q["id"] for q in result["per_query"]] == ["q0", "q1"]
    for q in result["per_query"]:
        assert set(q) >= {"id", "user_id", "gold", "predictions", "tokens"}
        assert set(q["predictions"]) == {"zero", "bm25"} and q["tokens"]["bm25"] > q["tokens"]["zero"] > 0
    # the default fake answer is the enum's first value, "1": gold 1 -> 0, gold 5 -> 4
    assert result["methods"]["zero"]["mae"] == pytest.approx(2.0)
    assert "sk-test-secret-key" not in out.read_text() + (tmp_path / "pq.csv").read_text()


def test_eval_data_split(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    rows = ["user,id,text,rating"] + [f"u{u},u{u}-{n},\"{t}\",{s}" for u in (1, 2) for n, (t, s) in enumerate(REVIEWS)]
    data = tmp_path / "reviews.csv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out.json"
    code = main(["eval", "--data", str(data), "--split", "last:0.2", "--methods", "zero", "--limit-per-user", "1",
                 "--no-baselines", "--json", str(out), *backend_args(server, tmp_path)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["n"] == 2 and {q["user_id"] for q in result["per_query"]} == {"u1", "u2"}
    assert result["baselines"] == {}


@pytest.mark.parametrize("args, field", [
    (["--split", "first:0.2"], "split"),
    (["--split", "last:1.5"], "split"),
    (["--methods", "zero,magic"], "methods"),
    (["--limit", "0"], "limit"),
])
def test_eval_bad_arguments_exit_2(tmp_path, capsys, args, field):
    data = tmp_path / "d.csv"
    data.write_text("user,id,text,rating\nu,1,a,1\nu,2,b,2\n")
    code = main(["eval", "--data", str(data), "--workspace", str(tmp_path / "ws.sqlite"), *args])
    assert code == 2
    assert f":{field}:" in capsys.readouterr().err


def test_eval_needs_inputs(tmp_path, capsys):
    assert main(["eval", "--workspace", str(tmp_path / "ws.sqlite")]) == 2
    assert "--questions" in capsys.readouterr().err


def test_eval_file_roles_come_from_the_flags(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-key")
    qp, op = lamp_files(tmp_path)
    q2, o2 = qp.rename(tmp_path / "questions.json"), op.rename(tmp_path / "outputs.json")  # no LaMP-style names
    out = tmp_path / "out.json"
    code = main(["eval", "--questions", str(q2), "--outputs", str(o2), "--methods", "zero", "--scoring", "lamp",
                 "--json", str(out), *backend_args(server, tmp_path)])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["task"] == "LaMP_3" and result["n"] == 2 and result["scoring"] == "lamp"
    assert set(result["methods"]["zero"]["lamp"]) >= {"mae", "rmse", "nonfinite"}
    assert set(result["per_query"][0]) >= {"raw", "rescued"}
    assert "(inflow)" in capsys.readouterr().out  # the table leads with lamp, the other rule follows
    # swapped roles: the content contradicts the flag, and the message names the file
    code = main(["eval", "--questions", str(o2), "--outputs", str(q2), "--methods", "zero",
                 *backend_args(server, tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and str(o2) in err and "given as the questions file" in err
    code = main(["eval", "--questions", str(q2), "--outputs", str(q2), "--methods", "zero",
                 *backend_args(server, tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "given as the outputs file" in err


def test_eval_summary_from_another_backend(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-key")
    qp, op = lamp_files(tmp_path)
    out = tmp_path / "out.json"
    with FakeOpenAIServer(model="writer-model") as writer:
        code = main(["eval", "--questions", str(qp), "--outputs", str(op), "--methods", "summary,history",
                     "--summary-backend", "openai", "--summary-base-url", writer.base_url, "--summary-model",
                     "writer-model", "--json", str(out), *backend_args(server, tmp_path)])
        assert code == 0, capsys.readouterr().err
        assert len(writer.calls()) == 1  # both questions share one profile: the second summary is a cache hit
    result = json.loads(out.read_text())
    assert result["portability"]["source"]["model"] == "writer-model" and result["backend"]["model"] == "fake-model"
    assert "summaries written by openai / writer-model for 2 users" in capsys.readouterr().out
    code = main(["eval", "--questions", str(qp), "--outputs", str(op), "--summary-model", "x",
                 *backend_args(server, tmp_path)])
    assert code == 2 and ":summary_backend:" in capsys.readouterr().err


def test_eval_line_shows_the_rule_fitting_inside_a_query_then_clears_it():
    import io

    from core.cli.eval import EvalLine

    out = io.StringIO()
    line = EvalLine(out, width=10)
    line.queries(0, 4)
    line.method(0, 20, "Fitting this user's decision rule")
    line.method(7, 20, "Fitting this user's decision rule")
    shown = out.getvalue().split("\r")
    assert shown[-1] == "[..........] 0/4 queries · Fitting this user's decision rule: 7/20"
    line.method(20, 20, "Fitting this user's decision rule")  # done: the part goes, the line is wiped clean
    assert out.getvalue().split("\r")[-1].rstrip() == "[..........] 0/4 queries"
    assert len(out.getvalue().split("\r")[-1]) == len(shown[-1])
    line.queries(2, 4)
    assert out.getvalue().split("\r")[-1].rstrip() == "[#####.....] 2/4 queries"
    line.queries(4, 4)
    assert out.getvalue().endswith("4/4 queries\n")
