"""LLM client throughput against the loopback OpenAI-compatible server, then local-model tokens/s.

    python bench/llm_throughput.py [--n 400] [--concurrency 8] [--latency 0.1]

The server (a child process, as a real server would be) adds latency L to every request, so with C
calls in flight the best possible rate is C / L calls/s; the client's overhead (HTTP, validation,
cache and trace writes) is what separates the measured rate from that limit. A second pass over the
same requests must come from the cache with 0 model calls. Last, for each installed local model
(:mod:`core.llm.local_models`; ``--models`` picks some), prompt processing and greedy generation
are timed separately, and one free-text and one schema-constrained chat give tokens/s end to end.

    python bench/llm_throughput.py --only-local --models smollm2-135m qwen2.5-coder-0.5b
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.llm.client import LLMClient  # noqa: E402
from core.llm.openai_backend import OpenAIBackend  # noqa: E402
from core.llm.types import ChatRequest, ChatResult  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402
from tests.fakes.openai_server import ServerProcess  # noqa: E402


class Extraction(BaseModel):
    feature: str
    polarity: Literal["positive", "negative", "neutral"]
    confidence: float


def requests(n: int) -> list[ChatRequest]:
    return [ChatRequest([{"role": "system", "content": "Extract one response-influential feature."},
                         {"role": "user", "content": f"History item {i}: the reviewer liked the pacing."}],
                        schema=Extraction, stage="bench", run_id="bench") for i in range(n)]


def throughput(n: int, concurrency: int, latency: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(latency_s=latency) as server:
        ws = Workspace(Path(tmp) / "bench.sqlite")
        backend = OpenAIBackend(server.base_url, "sk-bench", "fake-model")
        reqs = requests(n)
        LLMClient(backend, None).chat(requests(1)[0])  # warm up imports and the connection pool
        client = LLMClient(backend, ws, max_concurrency=concurrency)
        start = time.perf_counter()
        results = client.map(reqs)
        elapsed = time.perf_counter() - start
        ok = sum(isinstance(r, ChatResult) for r in results)
        rate, limit = n / elapsed, concurrency / latency
        print(f"pass 1: {n} structured calls (ok {ok}) at C={concurrency}, L={latency * 1000:.0f} ms in "
              f"{elapsed:.2f} s: {rate:.1f} calls/s; limit C/L = {limit:.1f} calls/s; ratio {rate / limit:.3f} "
              f"(goal >= 0.9); server saw at most {server.stats()['max_in_flight']} in flight")
        again = LLMClient(backend, ws, max_concurrency=concurrency)
        before = server.stats()["chat_calls"]
        start = time.perf_counter()
        results = again.map(reqs)
        elapsed = time.perf_counter() - start
        hits = sum(isinstance(r, ChatResult) and r.cache_hit for r in results)
        made = server.stats()["chat_calls"] - before
        print(f"pass 2 (cache): {made} calls made, {hits}/{n} cache hits, {elapsed:.2f} s")
        ws.close()


class Rating(BaseModel):
    rating: Literal["1", "2", "3", "4", "5"]
    reason: str


PROMPT_TEXT = ("The reviewer bought a pair of hiking boots, wore them on three long trips in the rain and found "
               "that the soles held up well while the laces frayed and the insoles slipped. ") * 8


def prompt_and_generation_speed(backend: Any, n_gen: int = 32) -> tuple[int, float, float]:
    """Return (prompt tokens, prompt tokens/s, generation tokens/s) on a cold KV cache, greedy decoding."""
    import numpy as np

    llama = backend.llama()
    tokens = llama.tokenize(PROMPT_TEXT.encode("utf-8"))
    llama.reset()
    start = time.perf_counter()
    llama.eval(tokens)
    prompt_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n_gen):
        llama.eval([int(np.argmax(_last_logits(llama)))])
    gen_s = time.perf_counter() - start
    llama.reset()
    return len(tokens), len(tokens) / prompt_s, n_gen / gen_s


def _last_logits(llama: Any) -> Any:
    from core.llm.choice_scoring import llama_last_logits

    return llama_last_logits(llama)


def local_tokens_per_second(names: list[str]) -> None:
    from core.llm.local_models import MODELS

    for name in names or list(MODELS):
        local_model_speed(name)


def local_model_speed(name: str) -> None:
    try:
        from core.llm.local_backend import LocalLlamaBackend

        backend = LocalLlamaBackend(local_model=name)
    except Exception as exc:  # missing llama-cpp-python or model package: say so and go on
        print(f"local model {name}: not available ({exc})")
        return
    backend.load()
    n_prompt, prompt_rate, gen_rate = prompt_and_generation_speed(backend)
    print(f"local {name} ({backend.n_threads} thread(s)): prompt {prompt_rate:.1f} tok/s ({n_prompt} tokens), "
          f"generation {gen_rate:.1f} tok/s (greedy, 32 tokens)")
    client = LLMClient(backend, None)
    client.chat(ChatRequest([{"role": "user", "content": "Hi"}], max_tokens=8))  # warm up (pages the model in)
    cases = [("free text", None, "Write a short paragraph about why people enjoy movies."),
             ("constrained", Rating, "Rate this review from 1 to 5 and say why: 'Great acting, weak plot.'")]
    for label, schema, prompt in cases:
        req = ChatRequest([{"role": "user", "content": prompt}], schema=schema, max_tokens=128)
        start = time.perf_counter()
        res = client.chat(req)
        elapsed = time.perf_counter() - start
        print(f"local {backend.capabilities.model} ({label}, {backend.n_threads} thread(s)): {res.tokens_out} tokens "
              f"in {elapsed:.2f} s = {res.tokens_out / elapsed:.1f} tok/s (prompt {res.tokens_in} tokens, "
              f"incl. prompt processing): {res.text[:80]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.1, help="server latency in seconds")
    parser.add_argument("--skip-local", action="store_true", help="skip the local-model tokens/s")
    parser.add_argument("--only-local", action="store_true", help="only measure local-model tokens/s")
    parser.add_argument("--models", nargs="*", default=[], help="local model names (default: all)")
    args = parser.parse_args()
    if not args.only_local:
        throughput(args.n, args.concurrency, args.latency)
    if not args.skip_local:
        local_tokens_per_second(args.models)


if __name__ == "__main__":
    main()
