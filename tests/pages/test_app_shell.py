"""The app shell: a fresh workspace opens with the sample data, the sidebar, backend settings, workspaces."""

from __future__ import annotations

from pathlib import Path

from core.ui_state import Keys
from tests.pages.conftest import shown, texts


def test_fresh_workspace_opens_ready_with_sample_data(make_app, tmp_path: Path):
    at = make_app(tmp_path / "fresh.sqlite")
    at.run()
    assert not at.exception
    assert at.title[0].value == "Data"
    assert at.session_state[Keys.DATASET] == "reviews"
    assert at.session_state[Keys.USER] == "ava"
    table = at.dataframe[0].value
    assert set(table["dataset"]) == {"reviews", "movie_tags"}
    assert table.set_index("dataset").loc["reviews", "items"] > 200
    status = " ".join(str(c.value) for c in at.sidebar.caption)
    assert "Backend openai · fake-model" in status
    assert "features lexicon" in status and "summary template" in status
    assert [s.label for s in at.sidebar.selectbox][:2] == ["Dataset", "User"]
    assert "Open the factor map" in str(at.get("page_link")[0].proto)


def test_user_switch_in_sidebar_is_kept(make_app):
    at = make_app()
    at.run()
    assert at.sidebar.selectbox(key="sb_user").options == ["ava (96 items)", "ben (84 items)", "chloe (72 items)",
                                                            "dev (90 items)"]  # sorted, with history sizes
    at.sidebar.selectbox(key="sb_user").select("ben").run()
    assert at.session_state[Keys.USER] == "ben"
    at.switch_page("pages/factors.py").run()
    assert not at.exception
    assert at.session_state[Keys.USER] == "ben"
    assert at.sidebar.selectbox(key="sb_user").value == "ben"
    at.sidebar.selectbox(key="sb_dataset").select("movie_tags").run()
    assert at.session_state[Keys.DATASET] == "movie_tags"
    assert at.session_state[Keys.USER] == at.sidebar.selectbox(key="sb_user").value


def test_backend_key_stays_in_the_session(make_app, fake_server, tmp_path: Path):
    ws_path = tmp_path / "key.sqlite"
    at = make_app(ws_path)
    at.run()
    at.sidebar.radio(key="sb_kind").set_value("openai").run()
    at.sidebar.text_input(key="sb_base_url").input(fake_server.base_url)
    at.sidebar.text_input(key="sb_model").input("other-model")
    at.sidebar.text_input(key="sb_api_key").input("sk-very-secret-123")
    at.sidebar.button(key="sb_apply").click().run()
    assert not at.exception
    settings = at.session_state[Keys.BACKEND]
    assert settings.api_key == "sk-very-secret-123" and settings.model == "other-model"
    assert "other-model" in " ".join(str(c.value) for c in at.sidebar.caption)
    assert "sk-very-secret-123" not in str(settings.to_dict())
    data = b"".join(p.read_bytes() for p in tmp_path.glob("key.sqlite*"))
    assert b"sk-very-secret-123" not in data


def test_bad_backend_url_is_reported_not_raised(make_app):
    at = make_app()
    at.run()
    at.sidebar.radio(key="sb_kind").set_value("openai").run()
    at.sidebar.text_input(key="sb_base_url").input("ftp://nowhere")
    at.sidebar.text_input(key="sb_model").input("m")
    at.sidebar.button(key="sb_apply").click().run()
    assert not at.exception
    assert any("settings::base_url" in shown(str(e.value)) for e in at.sidebar.error)


def test_new_and_open_workspace(make_app, tmp_path: Path):
    at = make_app(tmp_path / "first.sqlite")
    at.run()
    target = tmp_path / "second.sqlite"
    at.sidebar.text_input(key="sb_ws_path").input(str(target))
    at.sidebar.button(key="sb_ws_open").click().run()
    assert "No workspace at" in " ".join(str(e.value) for e in at.sidebar.error)
    at.sidebar.button(key="sb_ws_new").click().run()
    assert not at.exception
    assert at.session_state[Keys.WORKSPACE_PATH] == str(target)
    assert target.exists()
    assert "reviews" in texts(at) or set(at.dataframe[0].value["dataset"]) == {"reviews", "movie_tags"}
    at.sidebar.button(key="sb_ws_new").click().run()
    assert "already exists" in " ".join(str(e.value) for e in at.sidebar.error)


def test_datasets_an_evaluation_stored_stay_out_of_the_sidebar_unless_opened(make_app, tmp_path: Path):
    from core.data.model import Dataset, Item, Task, User
    from core.store.workspace import Workspace

    ws_path = tmp_path / "evalds.sqlite"
    at = make_app(ws_path)
    at.run()
    ws = Workspace(ws_path)
    ws.add_dataset(Dataset("eval", Task(kind="score"), [User("u1", [Item("a", "fine", "4")])]),
                   dataset_id="eval-abc123", source="evaluation")
    ws.close()
    at.run()
    assert "eval-abc123" not in at.sidebar.selectbox(key="sb_dataset").options
    at.session_state[Keys.DATASET] = "eval-abc123"  # what an evaluation drill-down does
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="sb_dataset").value == "eval-abc123"
    assert "evaluation" in at.sidebar.selectbox(key="sb_dataset").format_func("eval-abc123")


def test_cache_bypass_switch_reaches_the_client(make_app):
    at = make_app()
    at.run()
    assert at.session_state[Keys.BACKEND].use_cache
    at.sidebar.checkbox(key="sb_no_cache").check().run()
    assert not at.exception
    assert at.session_state[Keys.BACKEND].use_cache is False
    assert "LLM cache bypassed" in " ".join(str(c.value) for c in at.sidebar.caption)
    assert at.session_state["_inflow_ctx"].client.use_cache is False
    at.sidebar.checkbox(key="sb_no_cache").uncheck().run()
    assert at.session_state["_inflow_ctx"].client.use_cache is True


def test_magic_is_off_and_no_page_relies_on_it():
    # Magic rewrites each page's syntax tree, which races with background threads on Python < 3.13
    # (core/ast_guard.py); with it off, a bare expression on a page would silently show nothing.
    import ast
    import tomllib

    repo = Path(__file__).resolve().parents[2]
    config = tomllib.loads((repo / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["magicEnabled"] is False
    bare = []
    for path in [repo / "app.py", *sorted((repo / "pages").glob("[!_]*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            body = getattr(node, "body", None)
            for i, stmt in enumerate(body if isinstance(body, list) else []):
                docstring = i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
                if isinstance(stmt, ast.Expr) and not isinstance(stmt.value, ast.Call | ast.Await) and not docstring:
                    bare.append(f"{path.name}:{stmt.lineno}")
    assert bare == []
