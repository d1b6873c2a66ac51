"""Closed-set answers by scoring every option, with contextual calibration (local backend).

A tiny model asked for ``{"answer": <one of "1".."5">}`` under grammar-constrained sampling mostly
copies the first option the prompt lists: the grammar only forbids invalid text, it does not make
the model weigh the options. For a structured request whose schema is an object with one required
string-enum property (a *closed set*), the local backend therefore does not sample; it asks the
model how likely each option is and picks the best:

1. **Option scoring.** The chat prompt is rendered with the model's own chat template, followed by
   the assistant's JSON up to the value (``{"answer": "``, using the real property name). Each
   option's log-probability is the sum of the log-probabilities of the tokens that complete the
   JSON with that option (the value and the closing ``"}``, so ``"1"`` and ``"10"`` are told
   apart). All options are scored from the same context: the longest token prefix common to every
   completed prompt, so a tokenizer merge across the value boundary cannot favour one option.
   Options sharing leading tokens share their evaluation (a token trie), and the key/value cache
   keeps whatever prefix the previous call had in common.
2. **Contextual calibration** (Zhao et al., 2021, *Calibrate Before Use: Improving Few-Shot
   Performance of Language Models*, ICML). The same option probabilities are computed for a
   content-free prompt: the model's prior over the options given the prompt format alone. The
   calibrated distribution is ``p(option) / p_cf(option)``, renormalised over the options (the
   paper's ``W = diag(p_cf)^-1``, ``b = 0``), and the answer is its argmax. The content-free
   prompt is, as in the paper, the real prompt with only the *input* replaced by ``"N/A"``
   (instructions, listed options and demonstrations kept) when the caller supplies it as
   ``ChatRequest.content_free``; otherwise the whole content of the last user message is
   replaced by ``"N/A"``. The latter is a weaker prior: when the answer format and the option
   list sit in the same user message, it loses them, and with them the "copy the first listed
   option" bias that calibration is meant to remove (on LaMP-3 reviews with SmolLM2-135M it
   still answered "1" to 44 of 45 queries, against 8 of 45 with the input-only replacement).
   Priors are cached in memory per content-free prompt (plus the property name and options);
   the prior is scored first, so the real prompt reuses its key/value cache up to the input and
   calibration costs only the few tokens after it.
3. **Prefix snapshots** (:class:`PrefixStates`). llama.cpp keeps one sequence in its key/value
   cache, so a prompt of another kind (another method's, another user's) in between would make
   the next prompt of the same user evaluate its shared prefix (instruction, summary, factors)
   again. After each scoring the scorer keeps a snapshot of llama.cpp's state (a new one replaces
   those it mostly covers, see :meth:`PrefixStates.save`; the least recently used go when the
   snapshots pass :data:`PREFIX_CACHE_MB` megabytes, ``$INFLOW_PREFIX_CACHE_MB``, or
   :data:`SNAPSHOTS` in number); a prompt that shares more with a snapshot than with the live
   state restores it first (a memory copy, ~28 KB per token for the 1.5B model) and evaluates
   only the rest. The budget is in bytes, not snapshots, because what must survive is every
   user's prompt family in an evaluation that alternates users and methods: five users with four
   methods each are ~20 families, ~0.35 GB for the 1.5B model, where a count of 4 lost every
   user's prefix before their next query came (``bench/rpm_latency.py --users``).

Modes (``LocalLlamaBackend(choice_scoring=...)`` or ``$INFLOW_CHOICE_SCORING``):

* ``calibrated`` (default): argmax of the calibrated distribution;
* ``raw``: argmax of the renormalised option probabilities;
* ``off``: the old behaviour, grammar-constrained sampling.

Scoring is deterministic (an argmax) whatever the request's temperature. The completion's
``extra["choice_scores"]`` holds the options, the raw, content-free and calibrated distributions,
the chosen option and the mode, so traces can show why an answer was picked: the client stores it
in the trace's own ``choice_scores`` column (schema v4; older workspaces had it inside ``parsed``
and are moved on open, see :mod:`core.store.schema`), and the answer step's
``StepDetail.choice_scores`` carries it to the decision and the pages.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from core.env import env_int
from core.llm.types import Message

ChoiceMode = Literal["calibrated", "raw", "off"]
CHOICE_MODES: tuple[str, ...] = ("calibrated", "raw", "off")
ENV_CHOICE_SCORING = "INFLOW_CHOICE_SCORING"
CONTENT_FREE_INPUT = "N/A"
PRIOR_CACHE_SIZE = 256
SNAPSHOTS = 64  # prompts kept at most, whatever their size (each up to ~57 MB at 2,048 tokens for the 1.5B model)
PREFIX_CACHE_MB = 512  # megabytes of snapshots kept by default (~18 full 1,000-token prompts of the 1.5B model)
ENV_PREFIX_CACHE_MB = "INFLOW_PREFIX_CACHE_MB"
COVERED_SHARE = 0.5  # a snapshot sharing this much of its tokens with a newer one is dropped (see PrefixStates.save)
MIN_RESTORE_GAIN = 16  # tokens a snapshot must save over the live state to be worth restoring (~0.2 s)
_ROUND = 6


class AmbiguousOptionsError(ValueError):
    """Two options tokenize so that one is a prefix of the other: scoring cannot tell them apart."""


@dataclass(frozen=True)
class ClosedChoice:
    """A structured request that asks for one value from a closed set.

    Attributes:
        field: The JSON property holding the answer.
        options: The allowed string values, in schema order (no duplicates).
    """

    field: str
    options: tuple[str, ...]

    def prefix(self) -> str:
        """The assistant's JSON text up to the value, e.g. ``{"answer": "``."""
        return "{" + json.dumps(self.field, ensure_ascii=False) + ': "'

    def completion(self, option: str) -> str:
        """The whole JSON answer choosing ``option``, e.g. ``{"answer": "4"}``."""
        return json.dumps({self.field: option}, ensure_ascii=False)


def closed_choice(schema: dict[str, Any] | None) -> ClosedChoice | None:
    """Return the closed set a JSON schema asks for, or None when it is not a single closed choice.

    A schema qualifies when it is an object whose only required property is a string enum (or a
    string ``const``), with at least one option and every option a distinct string. Other,
    optional properties are allowed: the answer simply leaves them out.

    Examples:
        >>> closed_choice({"type": "object", "required": ["answer"],
        ...                "properties": {"answer": {"type": "string", "enum": ["1", "2"]}}})
        ClosedChoice(field='answer', options=('1', '2'))
        >>> closed_choice({"type": "object", "required": ["a", "b"], "properties": {
        ...     "a": {"enum": ["x"]}, "b": {"type": "string"}}}) is None
        True
    """
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return None
    props, required = schema.get("properties"), schema.get("required")
    if not isinstance(props, dict) or not isinstance(required, list) or len(required) != 1:
        return None
    name = required[0]
    prop = props.get(name) if isinstance(name, str) else None
    if not isinstance(prop, dict):
        return None
    allof = prop.get("allOf")
    if isinstance(allof, list) and len(allof) == 1 and isinstance(allof[0], dict):
        prop = {**allof[0], **{k: v for k, v in prop.items() if k != "allOf"}}
    if prop.get("type", "string") != "string":
        return None
    options = prop.get("enum", [prop["const"]] if "const" in prop else None)
    if (not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options)
            or len(set(options)) != len(options)):
        return None
    return ClosedChoice(field=name, options=tuple(options))


def resolve_mode(mode: str | None, environ: dict[str, str] | None = None) -> str:
    """Return the scoring mode: ``mode`` if given, else ``$INFLOW_CHOICE_SCORING``, else ``calibrated``.

    Raises:
        ValueError: The mode is not one of ``calibrated``, ``raw``, ``off``.
    """
    env = os.environ if environ is None else environ
    value = (mode if mode is not None else (env.get(ENV_CHOICE_SCORING) or "calibrated")).strip().lower()
    if value not in CHOICE_MODES:
        raise ValueError(f"unknown choice scoring {value!r}; use one of {', '.join(CHOICE_MODES)}")
    return value


# -- calibration math ---------------------------------------------------------------------------------
def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Return ``log(softmax(logits))`` along the last axis, computed stably in float64."""
    x = np.asarray(logits, dtype=np.float64)
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def normalise(logprobs: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return the distribution over the options given their (unnormalised) log-probabilities.

    Examples:
        >>> normalise([math.log(0.2), math.log(0.2)]).tolist()
        [0.5, 0.5]
    """
    return np.exp(log_softmax(np.asarray(logprobs, dtype=np.float64)))


def calibrate(logprobs: Sequence[float] | np.ndarray, prior: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return the contextually calibrated distribution ``p / p_cf``, renormalised.

    Args:
        logprobs: The options' log-probabilities given the real input (any additive constant).
        prior: The content-free distribution ``p_cf`` over the same options (probabilities).

    Returns:
        Probabilities summing to 1. An option with prior probability 0 gets probability 0 (it
        cannot be rescaled); if every option has prior 0, the raw distribution is returned.

    Raises:
        ValueError: The two arrays have different lengths.

    Examples:
        >>> calibrate([math.log(0.6), math.log(0.4)], [0.75, 0.25]).round(3).tolist()
        [0.333, 0.667]
    """
    lp = np.asarray(logprobs, dtype=np.float64)
    pr = np.asarray(prior, dtype=np.float64)
    if lp.shape != pr.shape:
        raise ValueError(f"{lp.shape[0] if lp.ndim else 0} options but a prior over {pr.shape[0] if pr.ndim else 0}")
    with np.errstate(divide="ignore"):
        log_prior = np.log(pr)
    score = np.where(np.isfinite(log_prior), lp - log_prior, -np.inf)
    if not np.isfinite(score).any():
        return normalise(lp)
    return normalise(score)


def content_free_messages(messages: Sequence[Message], content_free: str = CONTENT_FREE_INPUT) -> list[Message] | None:
    """Return ``messages`` with the last user message's content replaced by ``content_free``.

    Returns:
        The new list, or None when there is no user message to replace.
    """
    out = [dict(m) for m in messages]
    for i in range(len(out) - 1, -1, -1):
        if out[i].get("role") == "user":
            out[i]["content"] = content_free
            return out
    return None


def prior_key(messages: Sequence[Message], choice: ClosedChoice,
              content_free: Sequence[Message] | None = None) -> str:
    """Return the cache key of a content-free prior.

    It is the given ``content_free`` prompt, else the messages without the last user content,
    together with the property name and the options.
    """
    free = list(content_free) if content_free is not None else (content_free_messages(messages, "") or list(messages))
    return json.dumps([free, choice.field, list(choice.options)], ensure_ascii=False, sort_keys=True)


# -- scoring with a llama.cpp model ---------------------------------------------------------------------
LogitsFn = Callable[[Any], np.ndarray]


def llama_last_logits(llama: Any) -> np.ndarray:
    """Return the logits of the last token llama.cpp evaluated (works with ``logits_all=False``)."""
    import llama_cpp

    ptr = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llama.n_vocab(),)).copy()


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Return the length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


@dataclass
class OptionScores:
    """The option log-probabilities of one prompt.

    Attributes:
        logprobs: One summed log-probability per option.
        prompt_tokens: Tokens of the context the options were scored from.
        option_tokens: Tokens of each option's completion after that context.
        evaluated: Tokens actually run through the model (the rest came from the KV cache).
    """

    logprobs: np.ndarray
    prompt_tokens: int
    option_tokens: list[int] = field(default_factory=list)
    evaluated: int = 0
    restored: int = 0


def score_sequences(llama: Any, sequences: Sequence[Sequence[int]], *,
                    last_logits: LogitsFn = llama_last_logits, states: PrefixStates | None = None) -> OptionScores:
    """Return the log-probability of each token sequence's tail after their longest common prefix.

    The common prefix is evaluated once (reusing the KV cache for whatever it shares with the
    tokens llama.cpp already holds). When every option is a single distinct token followed by the
    same closing tokens, the distribution after the prefix decides alone (one forward pass);
    otherwise each option's tokens are walked in a trie, one token per evaluation, reading the
    next-token distribution after every node that has children.

    Args:
        llama: A ``llama_cpp.Llama`` (uses ``eval``, ``n_tokens``, ``input_ids``).
        sequences: The complete token sequences (prompt + one option's completion each); at least one.
        last_logits: Reads the logits after the last evaluated token.
        states: Snapshots of earlier prompts; one sharing a longer prefix than the live state is
            restored before the prefix is evaluated.

    Raises:
        AmbiguousOptionsError: A sequence is a prefix of another (the options cannot be told apart).
        ValueError: No sequences, or an empty prompt.
    """
    if not sequences:
        raise ValueError("no options to score")
    seqs = [list(s) for s in sequences]
    base = min(common_prefix_len(seqs[0], s) for s in seqs) if len(seqs) > 1 else len(seqs[0]) - 1
    if any(len(s) <= base for s in seqs) or len({tuple(s) for s in seqs}) < len(seqs):
        raise AmbiguousOptionsError("an option's tokens are a prefix of another's")
    if base < 1:
        raise ValueError("the prompt is empty")
    restored = states.restore(llama, seqs[0][:base]) if states is not None else 0
    evaluated = _eval_to(llama, seqs[0][:base])
    tails = [s[base:] for s in seqs]
    if len({t[0] for t in tails}) == len(tails) and len({tuple(t[1:]) for t in tails}) == 1:
        # every option is one distinct token followed by the same closing tokens (e.g. "1".."5" then
        # '"}'): one forward pass decides. The closing tokens' probabilities are left out: given
        # the grammar of the answer they are ~1 for every option, and walking them would cost one
        # more evaluation per option.
        first = log_softmax(last_logits(llama))
        return OptionScores(logprobs=np.array([float(first[t[0]]) for t in tails], dtype=np.float64),
                            prompt_tokens=base, option_tokens=[len(t) for t in tails], evaluated=evaluated,
                            restored=restored)
    # trie over the tails: node = tuple of tail tokens; children[node] = next tokens
    children: dict[tuple[int, ...], list[int]] = {}
    for s in seqs:
        tail = s[base:]
        for j in range(len(tail)):
            kids = children.setdefault(tuple(tail[:j]), [])
            if tail[j] not in kids:
                kids.append(tail[j])
    node_logp: dict[tuple[int, ...], float] = {(): 0.0}
    stack: list[tuple[tuple[int, ...], np.ndarray]] = [((), log_softmax(last_logits(llama)))]
    while stack:
        node, dist = stack.pop()
        for tok in children.get(node, []):
            child = (*node, tok)
            node_logp[child] = node_logp[node] + float(dist[tok])
            if child in children:
                llama.n_tokens = base + len(node)
                llama.eval([tok])
                evaluated += 1
                stack.append((child, log_softmax(last_logits(llama))))
    logprobs = np.array([node_logp[tuple(s[base:])] for s in seqs], dtype=np.float64)
    return OptionScores(logprobs=logprobs, prompt_tokens=base, option_tokens=[len(s) - base for s in seqs],
                        evaluated=evaluated, restored=restored)


def _held(llama: Any) -> list[int]:
    return [int(t) for t in llama.input_ids[: llama.n_tokens]]


def llama_save_state(llama: Any) -> bytes:
    """Return llama.cpp's context state (the key/value cache of the held tokens) as bytes.

    The low-level call, not ``Llama.save_state``: that one also copies up to ``n_batch`` rows of
    vocabulary-sized scores (~300 MB for a 152k vocabulary), which this scorer never reads.
    """
    import ctypes

    import llama_cpp

    size = llama_cpp.llama_state_get_size(llama.ctx)
    buf = (ctypes.c_uint8 * size)()
    n = llama_cpp.llama_state_get_data(llama.ctx, buf, size)
    return ctypes.string_at(buf, n)


def llama_load_state(llama: Any, data: bytes) -> None:
    """Put a state from :func:`llama_save_state` back into llama.cpp's context.

    Raises:
        RuntimeError: llama.cpp did not take the whole state.
    """
    import ctypes

    import llama_cpp

    src = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    if llama_cpp.llama_state_set_data(llama.ctx, src, len(data)) != len(data):
        raise RuntimeError("llama.cpp refused a saved state")


@dataclass
class _Snapshot:
    tokens: list[int]
    data: Any
    nbytes: int = 0


def prefix_cache_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The snapshots' byte budget: ``$INFLOW_PREFIX_CACHE_MB`` megabytes, else :data:`PREFIX_CACHE_MB` (0 = none).

    Raises:
        core.errors.InputError: The variable is not a whole number (field ``INFLOW_PREFIX_CACHE_MB``).
    """
    given = env_int(os.environ if environ is None else environ, ENV_PREFIX_CACHE_MB, ENV_PREFIX_CACHE_MB)
    return (PREFIX_CACHE_MB if given is None else given) * 1024 * 1024


def _nbytes(data: Any) -> int:
    return len(data) if isinstance(data, (bytes, bytearray, memoryview)) else 0


class PrefixStates:
    """Snapshots of llama.cpp's state after recent prompts, restored when a prompt shares their prefix.

    Args:
        capacity: Snapshots kept at most (least recently used dropped first).
        budget_bytes: Bytes of snapshots kept at most (least recently used dropped first); None =
            :func:`prefix_cache_bytes`. A snapshot larger than the whole budget is not kept.
        save: Returns the model's state (default: :func:`llama_save_state`).
        load: Puts a state back (default: :func:`llama_load_state`).
        min_gain: Tokens a snapshot must share beyond the live state to be restored.
        size: A saved state's size in bytes (default: the length of the bytes).

    Raises:
        core.errors.InputError: ``budget_bytes`` is None and ``$INFLOW_PREFIX_CACHE_MB`` is not a
            whole number.
    """

    def __init__(self, capacity: int = SNAPSHOTS, *, budget_bytes: int | None = None,
                 save: Callable[[Any], Any] = llama_save_state, load: Callable[[Any, Any], None] = llama_load_state,
                 min_gain: int = MIN_RESTORE_GAIN, size: Callable[[Any], int] = _nbytes) -> None:
        """Start empty."""
        self.capacity = capacity
        self.budget_bytes = prefix_cache_bytes() if budget_bytes is None else budget_bytes
        self.min_gain = min_gain
        self._save = save
        self._load = load
        self._size = size
        self._snaps: list[_Snapshot] = []  # least recently used first

    def __len__(self) -> int:
        """Snapshots held."""
        return len(self._snaps)

    @property
    def nbytes(self) -> int:
        """Bytes the snapshots hold."""
        return sum(s.nbytes for s in self._snaps)

    def restore(self, llama: Any, tokens: Sequence[int]) -> int:
        """Restore the snapshot sharing the longest prefix with ``tokens``, when it beats the live state.

        Returns:
            Tokens of ``tokens`` the model holds now beyond what it held before (0: nothing restored).
        """
        if not self._snaps:
            return 0
        live = common_prefix_len(_held(llama), tokens)
        shared = [common_prefix_len(s.tokens, tokens) for s in self._snaps]
        best = max(range(len(shared)), key=lambda i: shared[i])
        if shared[best] < live + self.min_gain:
            return 0
        snap = self._snaps.pop(best)
        self._snaps.append(snap)
        self._load(llama, snap.data)
        llama.input_ids[: len(snap.tokens)] = snap.tokens
        llama.n_tokens = len(snap.tokens)
        return shared[best] - live

    def save(self, llama: Any) -> None:
        """Keep a snapshot of the model's state; drop the ones it covers, then the least recently used.

        A snapshot whose tokens share at least :data:`COVERED_SHARE` of their length with the new
        one is dropped: the new prompt is of the same family (the same user's next query, or the
        real prompt after its content-free twin) and holds the same prefix. Every prompt shares the
        system prompt, so sharing some tokens is not enough to call two prompts one family.
        """
        tokens = _held(llama)
        if not tokens or self.capacity <= 0 or self.budget_bytes <= 0:
            return
        self._snaps = [s for s in self._snaps if common_prefix_len(s.tokens, tokens) < COVERED_SHARE * len(s.tokens)]
        data = self._save(llama)
        size = self._size(data)
        if size > self.budget_bytes:
            return
        while self._snaps and (len(self._snaps) >= self.capacity or self.nbytes + size > self.budget_bytes):
            self._snaps.pop(0)
        self._snaps.append(_Snapshot(tokens, data, size))


def _eval_to(llama: Any, tokens: list[int]) -> int:
    """Bring llama.cpp's state to exactly ``tokens`` (last one evaluated now); return tokens evaluated."""
    keep = min(common_prefix_len(_held(llama), tokens), len(tokens) - 1)
    llama.n_tokens = keep
    llama.eval(tokens[keep:])
    return len(tokens) - keep


class ChatTemplate:
    """Render messages with a model's own chat template (the GGUF ``tokenizer.chat_template``).

    Args:
        llama: A loaded ``llama_cpp.Llama``.

    Raises:
        ValueError: The model file carries no chat template.
    """

    def __init__(self, llama: Any) -> None:
        """Build the Jinja formatter llama-cpp-python would use for this model."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = (getattr(llama, "metadata", None) or {}).get("tokenizer.chat_template")
        if not template:
            raise ValueError("the model has no chat template")

        def text(token: int) -> str:
            return llama.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

        self._formatter = Jinja2ChatFormatter(template=template, eos_token=text(llama.token_eos()),
                                              bos_token=text(llama.token_bos()), add_generation_prompt=True)

    def render(self, messages: Sequence[Message]) -> tuple[str, bool]:
        """Return the prompt text ending with the assistant turn's opening, and whether it holds BOS."""
        out = self._formatter(messages=list(messages))
        return out.prompt, bool(out.added_special)


def option_sequences(llama: Any, template: ChatTemplate, messages: Sequence[Message],
                     choice: ClosedChoice) -> list[list[int]]:
    """Tokenize the chat prompt followed by each option's complete JSON answer (as generation would)."""
    prompt, has_bos = template.render(messages)
    return [llama.tokenize((prompt + choice.completion(o)).encode("utf-8"), add_bos=not has_bos, special=True)
            for o in choice.options]


@dataclass
class ChoiceResult:
    """The outcome of scoring one closed-set request.

    Attributes:
        choice: The closed set.
        mode: ``raw`` or ``calibrated``.
        chosen: The picked option.
        raw: The options' probabilities given the prompt (renormalised over the set).
        prior: The content-free probabilities (None in ``raw`` mode or without a user message).
        calibrated: ``raw / prior`` renormalised (None when there is no prior).
        logprobs: The options' summed token log-probabilities.
        prompt_tokens: Tokens of the scored context.
        option_tokens: Tokens of the chosen option's completion.
        prior_cached: The prior came from the in-memory cache.
        prior_source: Where the content-free prompt came from: ``request`` (``ChatRequest.content_free``)
            or ``last_user_message`` (its whole content replaced); None without a prior.
        evaluated_tokens: Tokens run through the model for this request (prior and prompt; the rest
            of both prompts came from the key/value cache or a restored snapshot).
        restored_tokens: Tokens regained by restoring a prefix snapshot.
        timing_ms: Wall time of the prior (``prior``) and of scoring the prompt (``score``).
    """

    choice: ClosedChoice
    mode: str
    chosen: str
    raw: np.ndarray
    prior: np.ndarray | None
    calibrated: np.ndarray | None
    logprobs: np.ndarray
    prompt_tokens: int
    option_tokens: int
    prior_cached: bool = False
    prior_source: str | None = None
    evaluated_tokens: int = 0
    restored_tokens: int = 0
    timing_ms: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        """The JSON answer."""
        return self.choice.completion(self.chosen)

    def to_extra(self) -> dict[str, Any]:
        """Return the JSON-ready record put in ``RawCompletion.extra["choice_scores"]``."""

        def dist(values: np.ndarray | None) -> dict[str, float] | None:
            if values is None:
                return None
            return {o: round(float(v), _ROUND) for o, v in zip(self.choice.options, values, strict=True)}

        return {"mode": self.mode, "field": self.choice.field, "options": list(self.choice.options),
                "chosen": self.chosen, "raw": dist(self.raw), "content_free": dist(self.prior),
                "calibrated": dist(self.calibrated),
                "logprobs": {o: round(float(v), 4) if math.isfinite(v) else None
                             for o, v in zip(self.choice.options, self.logprobs, strict=True)},
                "content_free_source": self.prior_source, "prior_cached": self.prior_cached,
                "evaluated_tokens": self.evaluated_tokens, "restored_tokens": self.restored_tokens,
                "timing_ms": dict(self.timing_ms)}


class ChoiceScorer:
    """Score closed-set requests on one llama.cpp model, caching content-free priors in memory.

    Not thread safe: call it under the model's lock.

    Args:
        llama: A loaded ``llama_cpp.Llama``.
        n_ctx: The context window; prompts that do not fit raise ``ValueError``.
        last_logits: Reads the logits after the last evaluated token (tests pass their own).
        template: The chat template (default: the model's own).
        states: The prefix snapshots (default: :class:`PrefixStates` on llama.cpp's own state).
    """

    def __init__(self, llama: Any, n_ctx: int, *, last_logits: LogitsFn = llama_last_logits,
                 template: ChatTemplate | None = None, states: PrefixStates | None = None) -> None:
        """Bind the scorer to a model."""
        self.llama = llama
        self.n_ctx = n_ctx
        self.template = template or ChatTemplate(llama)
        self._last_logits = last_logits
        self._priors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.states = states if states is not None else PrefixStates()
        self._work = [0, 0]  # tokens evaluated and restored from snapshots by the current choose()

    def _count(self, scores: OptionScores) -> None:
        self._work[0] += scores.evaluated
        self._work[1] += scores.restored

    def score(self, messages: Sequence[Message], choice: ClosedChoice) -> OptionScores:
        """Return the options' log-probabilities after ``messages``.

        Raises:
            ValueError: The prompt and the longest option do not fit the context window.
        """
        seqs = option_sequences(self.llama, self.template, messages, choice)
        longest = max(len(s) for s in seqs)
        if longest > self.n_ctx:
            raise ValueError(f"Requested tokens ({longest}) exceed context window of {self.n_ctx}")
        if len(seqs) == 1:
            return OptionScores(logprobs=np.zeros(1), prompt_tokens=len(seqs[0]), option_tokens=[0])
        scores = score_sequences(self.llama, seqs, last_logits=self._last_logits, states=self.states)
        self.states.save(self.llama)
        return scores

    def prior(self, messages: Sequence[Message], choice: ClosedChoice,
              content_free: Sequence[Message] | None = None) -> tuple[np.ndarray | None, bool]:
        """Return the content-free distribution for this prompt format, and whether it was cached.

        Args:
            messages: The real prompt.
            choice: The closed set.
            content_free: The prompt with its input replaced by a content-free one; None = the
                last user message's content replaced by ``"N/A"``.
        """
        key = prior_key(messages, choice, content_free)
        if key in self._priors:
            self._priors.move_to_end(key)
            return self._priors[key], True
        free = list(content_free) if content_free is not None else content_free_messages(messages)
        if free is None:
            return None, False
        scored = self.score(free, choice)
        self._count(scored)
        value = normalise(scored.logprobs)
        self._priors[key] = value
        while len(self._priors) > PRIOR_CACHE_SIZE:
            self._priors.popitem(last=False)
        return value, False

    def choose(self, messages: Sequence[Message], choice: ClosedChoice, mode: str = "calibrated",
               content_free: Sequence[Message] | None = None) -> ChoiceResult:
        """Score the options and pick one.

        Args:
            messages: The chat messages.
            choice: The closed set.
            mode: ``calibrated`` (argmax of ``p / p_cf``) or ``raw`` (argmax of ``p``).
            content_free: The content-free prompt for calibration (see :meth:`prior`).

        Raises:
            ValueError: Unknown mode, or the prompt does not fit the context window.
        """
        if mode not in ("raw", "calibrated"):
            raise ValueError(f"cannot score options in mode {mode!r}")
        t0 = time.perf_counter()
        self._work = [0, 0]
        prior, cached = self.prior(messages, choice, content_free) if mode == "calibrated" else (None, False)
        t1 = time.perf_counter()
        scores = self.score(messages, choice)  # last, so the KV cache ends holding the real prompt
        self._count(scores)
        t2 = time.perf_counter()
        raw = normalise(scores.logprobs)
        calibrated = calibrate(scores.logprobs, prior) if prior is not None else None
        final = calibrated if calibrated is not None else raw
        best = int(np.argmax(final))
        source = None if prior is None else ("request" if content_free is not None else "last_user_message")
        return ChoiceResult(choice=choice, mode=mode, chosen=choice.options[best], raw=raw, prior=prior,
                            calibrated=calibrated, logprobs=scores.logprobs, prompt_tokens=scores.prompt_tokens,
                            option_tokens=scores.option_tokens[best] if scores.option_tokens else 0,
                            prior_cached=cached, prior_source=source, evaluated_tokens=self._work[0],
                            restored_tokens=self._work[1],
                            timing_ms={"prior": round((t1 - t0) * 1000.0, 1), "score": round((t2 - t1) * 1000.0, 1)})
