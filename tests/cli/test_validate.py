"""``python -m core validate``: counts on stdout and exit 0, or ``file:row:field: message`` on stderr and exit 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
PROBLEM_LINE = re.compile(r"^[^:\n]+:[^:\n]*:[^:\n]*: \S.*$")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core", "validate", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_cli_process_reports_counts_and_problems(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,id,text,score\na,1,ok,5\na,1,dup,4\nb,2,,3\n", encoding="utf-8")
    proc = run_cli("sample_data/reviews.csv", str(bad))
    assert proc.returncode == 2
    assert proc.stdout == "sample_data/reviews.csv: csv, 4 users, 342 items, 0 queries, task score 1-5 (reviews)\n"
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines == [f"{bad}:2:id: duplicate item id '1' for user 'a' (first at row 1)", f"{bad}:3:text: empty text"]
    assert all(PROBLEM_LINE.match(line) for line in lines)


def test_sample_data_folder_is_valid(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["validate", "sample_data"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "sample_data/lamp2_tags_questions.json + sample_data/lamp2_tags_outputs.json: lamp, 2 users, 98 items, "
        "2 queries, task label (15 labels) (LaMP_2)",
        "sample_data/lamp3_reviews_questions.json + sample_data/lamp3_reviews_outputs.json: lamp, 4 users, "
        "338 items, 4 queries, task score 1-5 (LaMP_3)",
        "sample_data/movie_tags.csv: csv, 2 users, 100 items, 0 queries, task label (15 labels) (movie_tags)",
        "sample_data/reviews.csv: csv, 4 users, 342 items, 0 queries, task score 1-5 (reviews)",
    ]
    assert err == ""


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.csv"
    path.write_text("user,text,rating\na,x,5\na,y,4\nb,z,1\n", encoding="utf-8")
    return path


def test_valid_file_prints_counts(good, capsys):
    assert main(["validate", str(good)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{good}: csv, 2 users, 3 items, 0 queries, task score 1-5 (good)\n" and err == ""


def test_good_and_bad_files_report_both(good, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"u": [ {"text": "a", "score": 5},\n', encoding="utf-8")
    assert main(["validate", str(good), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out.startswith(f"{good}: csv, 2 users")
    assert err.splitlines() == [f"{bad}:line 2:: invalid JSON at line 2, column 1: Expecting value"]


def test_map_option(tmp_path, capsys):
    path = tmp_path / "odd.csv"
    path.write_text("who,blurb,stars2\na,nice,5\nb,meh,3\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}::input: missing required column for input" in err
    assert f"{path}::output: missing required column for output" in err
    assert main(["validate", str(path), "--map", "user=who", "--map", "input=blurb", "--map", "output=stars2"]) == 0
    assert "2 users, 2 items" in capsys.readouterr().out
    assert main(["validate", str(path), "--map", "input=nope", "--map", "output=stars2"]) == 2
    assert f"{path}::input: the mapping input=nope names no column" in capsys.readouterr().err


def test_malformed_map_option(good, capsys):
    assert main(["validate", str(good), "--map", "input"]) == 2
    assert capsys.readouterr().err == "--map::input: expected FIELD=COLUMN, e.g. --map input=review_body\n"


def test_keep_valid_counts_valid_rows_and_still_exits_2(tmp_path, capsys):
    path = tmp_path / "mixed.csv"
    path.write_text("user,text,rating\na,x,5\na,,4\nb,z,1\n", encoding="utf-8")
    assert main(["validate", str(path), "--keep-valid"]) == 2
    out, err = capsys.readouterr()
    assert out == f"{path}: csv, 2 users, 2 items, 0 queries, task score 1-5 (mixed), 1 skipped\n"
    assert err == f"{path}:2:text: empty text\n"


def test_task_and_score_range_options(tmp_path, capsys):
    path = tmp_path / "ten.csv"
    path.write_text("user,text,rating\na,x,9\na,y,0\n", encoding="utf-8")
    assert main(["validate", str(path), "--task", "score", "--score-range", "1", "5"]) == 2
    assert f"{path}:1:rating: score 9 is outside the task's range 1-5" in capsys.readouterr().err
    assert main(["validate", str(path), "--task", "score", "--score-range", "0", "10"]) == 0
    assert "task score 0-10" in capsys.readouterr().out


def test_size_limit_option(good, capsys):
    assert main(["validate", str(good), "--max-mb", "0.00001"]) == 2
    assert "over the" in capsys.readouterr().err


def test_lamp_mismatch_names_both_files(tmp_path, capsys):
    q = tmp_path / "LaMP_3_x_questions.json"
    o = tmp_path / "LaMP_3_x_outputs.json"
    q.write_text(json.dumps([{"id": "1", "input": "review: a", "profile": [{"id": "p", "text": "t", "score": "4"}]}]))
    o.write_text(json.dumps({"task": "LaMP_3", "golds": [{"id": "2", "output": "5"}]}))
    assert main(["validate", str(q)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"{q}:$[0]:id: question id '1' has no gold output in {o}",
                     f"{o}:$.golds[0]:id: gold id '2' has no question in {q}"]


def test_error_cap(tmp_path, capsys):
    path = tmp_path / "many.csv"
    path.write_text("user,text,rating\n" + "a,,5\n" * 8, encoding="utf-8")
    assert main(["validate", str(path), "--max-errors", "3"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4 and lines[-1] == "... more problems not shown"
