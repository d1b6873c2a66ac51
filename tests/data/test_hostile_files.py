"""Hostile files: special files, links, huge integers, lone surrogates, repeated keys, huge cells and headers.

Each gives a result or a short ``file:row:field`` problem, the same in validate, load and the Upload preview.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.__main__ import main
from core.data.load import load
from core.errors import InputError
from core.store.workspace import Workspace
from core.views.upload_view import preview

from .helpers import located, only


def fails(paths, **kwargs) -> InputError:
    with pytest.raises(InputError) as exc:
        load(paths, **kwargs)
    return exc.value


# -- what is read at all --------------------------------------------------------------------------------------
@pytest.mark.timeout(20)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_behind_a_data_name_are_refused_without_reading(tmp_path, device):
    link = tmp_path / "data.csv"
    link.symlink_to(device)
    assert "not a regular file" in only(fails([link]).problems).message
    assert "not readable" in preview(link)[2] and "not a regular file" in preview(link)[2]


@pytest.mark.timeout(20)
def test_a_fifo_does_not_hang(tmp_path, capsys):
    fifo = tmp_path / "stream.jsonl"
    os.mkfifo(fifo)
    located(only(fails([fifo]).problems), "stream.jsonl", None, None)
    assert main(["validate", str(fifo)]) == 2
    assert "not a regular file" in capsys.readouterr().err
    assert preview(fifo)[1] == []


def test_symlink_loops_and_folders_are_problems_not_crashes(tmp_path):
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    assert "symbolic link loop" in only(fails([tmp_path / "a.csv"]).problems).message
    (tmp_path / "dir.csv").mkdir()
    assert "folder" in only(fails([tmp_path / "dir.csv"]).problems).message


def test_a_link_to_a_system_file_does_not_echo_it(tmp_path, capsys):
    link = tmp_path / "users.csv"
    link.symlink_to("/etc/passwd")
    assert main(["validate", str(link)]) == 2
    err = capsys.readouterr().err
    first_line = Path("/etc/passwd").read_text().splitlines()[0]
    assert "system file" in err and first_line not in err and "x:0:0" not in err


def test_a_file_over_the_limit_is_refused_and_preview_reads_only_its_head(tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("text,score\n" + "good,5\n" * 400_000)  # 2.8 MB
    assert "size limit" in only(fails([big], max_bytes=1024 * 1024).problems).message
    cols, rows, note = preview(big)
    assert cols == ["text", "score"] and len(rows) == 20


# -- JSON values --------------------------------------------------------------------------------------------------
def test_a_huge_integer_is_a_row_problem_in_json_jsonl_and_lamp(write, write_json):
    digits = "7" * 5000
    j = write("h.json", f'[{{"text": "a", "score": {digits}}}, {{"text": "b", "score": 4}}]')
    p = only(fails([j]).problems)
    located(p, "h.json", "$[0]", "score")
    assert "5000 digits" in p.message and len(str(p)) < 300
    jl = write("h.jsonl", f'{{"text": "a", "score": 3, "extra": -{digits}}}\n{{"text": "b", "score": 4}}\n')
    located(only(fails([jl]).problems), "h.jsonl", 1, "extra")
    assert load([jl], keep_valid=True).dataset.n_items == 1
    q = write("LaMP_3_x_questions.json", f'[{{"id": "q1", "input": "x", "profile": [{{"id": "p1", "text": "ok", '
                                         f'"score": {digits}}}]}}]')
    located(only(fails([q]).problems), "LaMP_3_x_questions.json", "$[0].profile[0]", "score")
    cols, rows, note = preview(j)
    assert rows and "not readable" not in note


def test_lone_surrogates_are_repaired_the_same_in_load_build_and_preview(write, tmp_path, capsys):
    f = write("s.json", '[{"user_id": "u\\ud800", "text": "bad \\udfff half, good \\ud83d\\ude00 pair", "score": 4},'
                        ' {"user_id": "v", "text": "fine", "score": 2}]')
    ds = load([f]).dataset
    item = ds.users[0].items[0]
    assert ds.users[0].id == "u\ufffd" and item.input == "bad \ufffd half, good \U0001f600 pair"
    ws = Workspace(tmp_path / "w.sqlite")
    ws.add_dataset(ds, dataset_id="s")  # no UnicodeEncodeError on the way into SQLite
    assert ws.get_items("s", "u\ufffd")[0].input == item.input
    ws.close()
    assert main(["validate", str(f)]) == 0
    _, rows, _ = preview(f)
    assert rows[0]["text"] == item.input and rows[0]["user_id"] == "u\ufffd"


def test_repeated_keys_are_reported_not_silently_last_wins(write):
    f = write("d.json", '[{"text": "a", "score": 3, "score": 9}, {"text": "b", "score": 4}]')
    p = only(fails([f]).problems)
    located(p, "d.json", "$[0]", "score")
    assert "more than once" in p.message
    result = load([f], keep_valid=True)
    assert result.dataset.task.score_max == 5  # the 9 did not stretch the task to 1-10
    users = write("u.json", '{"ann": [{"text": "a", "score": 3}], "ann": [{"text": "b", "score": 4}]}')
    located(only(fails([users]).problems), "u.json", "$.ann", None)
    q = write("LaMP_3_y_questions.json", '[{"id": "q1", "id": "q2", "input": "x", "profile": '
                                         '[{"id": "p1", "text": "ok", "score": "4"}]}]')
    located(only(fails([q]).problems), "LaMP_3_y_questions.json", "$[0]", "id")
    write("LaMP_3_y_outputs.json", '{"task": "LaMP_3", "golds": [], "task": "LaMP_2"}')
    problems = fails([q]).problems
    assert any(p.file.endswith("LaMP_3_y_outputs.json") and p.row == "$" and p.field == "task" for p in problems)


# -- short messages --------------------------------------------------------------------------------------------
def test_a_megabyte_cell_is_quoted_short(write, capsys):
    f = write("c.csv", "text,score\nfine,4\nok," + "9" * 1_000_000 + "x\n")
    p = only(fails([f]).problems)
    located(p, "c.csv", 2, "score")
    assert "1000001 characters" in p.message and len(str(p)) < 400
    assert main(["validate", str(f)]) == 2
    assert len(capsys.readouterr().err) < 1000


def test_a_huge_header_is_listed_short(write, capsys):
    f = write("wide.csv", ",".join(f"column_number_{i}" for i in range(100_000)) + "\n" + "1," * 99_999 + "1\n")
    p = fails([f]).problems[0]
    assert "100000 columns" in p.message and len(str(p)) < 1200
    assert main(["validate", str(f)]) == 2
    assert len(capsys.readouterr().err) < 3000


# -- progress ---------------------------------------------------------------------------------------------------
def test_progress_reports_bytes_read_and_rows_checked(write):
    f = write("p.csv", "user_id,text,score\n" + "".join(f"u{i % 7},text {i},{i % 5 + 1}\n" for i in range(25_000)))
    seen: list[tuple[str, int, int]] = []
    load([f], progress=lambda stage, done, total: seen.append((stage, done, total)))
    reads = [s for s in seen if s[0] == "read KiB"]
    checks = [s for s in seen if s[0] == "check rows"]
    assert reads and reads[-1][1] == reads[-1][2] == Path(f).stat().st_size // 1024
    assert [c[1] for c in checks] == [10_000, 20_000, 25_000] and checks[-1][2] == 25_000
    small = write("s.csv", "text,score\ngood,5\n")
    seen.clear()
    load([small], progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert ("read KiB", 1, 1) in seen  # a file under 1 KiB still ends its read at 1/1


# -- LaMP empty profile -------------------------------------------------------------------------------------------
def _lamp_with_an_empty_profile(write_json) -> Path:
    profile = [{"id": f"p{i}", "text": t, "score": s} for i, (t, s) in enumerate(
        [("sturdy and well made", "5"), ("broke after a week", "1"), ("great value", "5"), ("cheap plastic", "2"),
         ("works fine", "4"), ("fell apart", "1"), ("solid build", "5"), ("poor quality", "2")] * 2)]
    write_json("LaMP_3_e_outputs.json", {"task": "LaMP_3", "golds": [{"id": "q1", "output": "4"},
                                                                      {"id": "q2", "output": "3"}]})
    return write_json("LaMP_3_e_questions.json", [{"id": "q1", "input": "rate this", "profile": []},
                                                   {"id": "q2", "input": "rate that", "profile": profile}])


def test_validate_reports_an_empty_profile_by_file_and_row(write_json, capsys):
    q = _lamp_with_an_empty_profile(write_json)
    result = load([q])
    located(only(result.warnings), "LaMP_3_e_questions.json", "$[0]", "profile")
    assert main(["validate", str(q)]) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and ":$[0]:profile: empty profile" in err


def test_build_skips_the_user_without_history_and_builds_the_others(write_json, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INFLOW_BACKEND", "local")
    q = _lamp_with_an_empty_profile(write_json)
    code = main(["build", str(q), "--workspace", str(tmp_path / "w.sqlite"), "--extractor", "lexicon",
                 "--min-cluster-size", "2"])
    out, err = capsys.readouterr()
    assert code == 2
    assert ":$[0]:profile: empty profile" in err and "skipped user q1" in err
    assert "[load] read KiB: 1/1" in err and "[load] check rows: 16/16" in err  # loading shows its progress
    assert "== user q2 (16 items" in out and "Traceback" not in err


def test_a_file_name_that_is_not_utf8_loads_and_stores(tmp_path):
    f = tmp_path / "\udcff\udcfe.csv"  # the bytes ff fe: a name Python can only hold with surrogates
    f.write_text("text,score\ngood,5\nbad,1\n")
    ds = load([f]).dataset
    assert ds.name == "\ufffd\ufffd" and ds.users[0].id == "\ufffd\ufffd"
    ws = Workspace(tmp_path / "w.sqlite")
    ws.add_dataset(ds)  # no UnicodeEncodeError
    ws.close()
