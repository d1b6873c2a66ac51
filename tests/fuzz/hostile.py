"""Seeded generator of hostile input files, and the one check every loader path must pass on each.

Case ``i`` is a pure function of ``(SEED, i)``: mutated CSV / JSON / JSONL / LaMP files (truncated,
spliced, wrong quoting, NUL and control bytes, BOMs, UTF-16, Latin-1, huge integers, lone
surrogates, repeated keys, NaN, non-UTF-8 file names, deep nesting, megabyte cells, 20,000-column
headers, random JSON shapes) and special files (FIFOs, links to devices and system files, link loops, dangling links,
folders with data names). :func:`run_case` puts a case through ``load`` (strict and keep-valid),
``validate``, the Upload preview and, when it loads, the workspace; anything but a result or an
``InputError`` propagates (a traceback is a failure).

``python -m tests.fuzz.hostile`` runs every case once and prints the figures quoted in the README.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from core.__main__ import main
from core.data.load import load
from core.errors import InputError
from core.store.workspace import Workspace
from core.views.upload_view import preview

SEED = 17
N_CASES = 320
MAX_BYTES = 4 * 1024 * 1024  # the loaders' cap during fuzzing: bigger inputs must be refused, not read

CSV = ("user_id,review_id,date,review_text,rating\n"
       'ava,r1,2020-01-01,"Sturdy, well made",5\n'
       "ava,r2,2020-01-02,Broke in a week,1\n"
       'bob,r3,2020-01-03,"Said ""fine"" twice",3\n'
       "bob,r4,2020-01-04,Cheap plastic,2\n")
RECORDS = [{"user_id": "ava", "id": "a1", "text": "Sturdy, well made", "score": 5, "date": "2020-01-01"},
           {"user_id": "ava", "id": "a2", "text": "Broke in a week", "score": 1},
           {"user_id": "bob", "id": "b1", "text": "Fine", "score": 3, "meta": {"k": [1, 2]}}]
QUESTIONS = [{"id": "q1", "input": "For the review: nice", "profile": [
    {"id": "p1", "text": "good", "score": "5"}, {"id": "p2", "text": "bad", "score": "1"}]},
    {"id": "q2", "input": "For the review: meh", "profile": [{"id": "p3", "text": "ok", "score": "3"}]}]
OUTPUTS = {"task": "LaMP_3", "golds": [{"id": "q1", "output": "4"}, {"id": "q2", "output": "2"}]}

NASTY = ['"', "'", ",", ";", "\t", "|", "\n", "\r", "\r\n", "\x00", "\\", "{", "}", "[", "]", ":", "\ufeff",
         "\u2028", "\\ud800", "\\udfff", "NaN", "-Infinity", "1e999", "9" * 4400, "\U0001f600", "<script>",
         "# Heading", "![x](http://127.0.0.1:9/x.png)", "\x1b[31m", "é", "\udcff"]


def _text_seed(rng: random.Random) -> tuple[str, str]:
    """A valid file to mutate: (suffix, text)."""
    choice = rng.randrange(5)
    if choice == 0:
        return ".csv", CSV
    if choice == 1:
        return ".tsv", CSV.replace(",", "\t")
    if choice == 2:
        return ".jsonl", "".join(json.dumps(r) + "\n" for r in RECORDS)
    if choice == 3:
        return ".json", json.dumps({"ava": RECORDS[:2], "bob": RECORDS[2:]}, indent=rng.choice([None, 1]))
    return "_questions.json", json.dumps(QUESTIONS)


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(text) + 1)
        op = rng.randrange(7)
        if op == 0:
            text = text[:pos]  # truncated
        elif op == 1:
            text = text[:pos] + rng.choice(NASTY) * rng.choice([1, 1, 3, 50]) + text[pos:]
        elif op == 2:
            end = min(len(text), pos + rng.randint(1, 40))
            text = text[:pos] + text[end:]  # a hole
        elif op == 3:
            end = min(len(text), pos + rng.randint(1, 60))
            text = text[:pos] + text[pos:end] * rng.randint(2, 5) + text[end:]  # a stutter
        elif op == 4:
            text = text.replace('"score": ', '"score": 4, "score": ', 1)  # a repeated key
        elif op == 5:
            text = text.replace("5", "9" * rng.choice([10, 4299, 4301, 20_000]), 1)  # long integers
        else:
            text = text.replace("good", "go\\ud800od").replace("Fine", "Fi\\udfffne")
    return text


def _encode(rng: random.Random, text: str) -> bytes:
    how = rng.randrange(10)
    if how == 0:
        return text.encode("utf-16")
    if how == 1:
        return text.encode("latin-1", "replace")
    if how == 2:
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    return text.encode("utf-8", "surrogatepass")  # lone surrogates become CESU bytes, not UTF-8


def _random_json(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False, 0, -1, 3.5, 1e308, float("nan"), 10**50])
    if kind in (2, 3, 4, 5):
        return rng.choice(["", "5", "score", "ava", "x" * rng.randint(1, 300), "\ud800", "\x00", "9" * 30])
    if kind in (6, 7):
        keys = ["user_id", "id", "text", "input", "output", "score", "profile", "golds", "task", "label"]
        return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 6))}
    return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))]


def _write(folder: Path, name: str, data: bytes) -> list[Path]:
    path = folder / name
    path.write_bytes(data)
    return [path]


def _special(rng: random.Random, folder: Path, i: int) -> list[Path]:
    suffix = rng.choice([".csv", ".json", ".jsonl", ".tsv", "_questions.json"])
    path = folder / f"special{i}{suffix}"
    kind = i % 8
    if kind == 0:
        os.mkfifo(path)
    elif kind == 1:
        path.symlink_to(rng.choice(["/dev/zero", "/dev/urandom", "/dev/null", "/dev/full"]))
    elif kind == 2:
        path.symlink_to(rng.choice(["/etc/passwd", "/etc/hostname", "/proc/self/environ", "/proc/self/status"]))
    elif kind == 3:
        other = folder / f"loop{i}{suffix}"
        path.symlink_to(other)
        other.symlink_to(path)
    elif kind == 4:
        path.symlink_to(folder / "nowhere.csv")
    elif kind == 5:
        path.mkdir()
    elif kind == 6:
        path.write_bytes(b"")
    else:
        path.write_bytes(os.urandom(rng.randint(1, 5000)))
    return [path]


def make_case(i: int, folder: Path) -> list[Path]:
    """Write case ``i`` into ``folder`` and return the paths to load (deterministic in SEED and i)."""
    rng = random.Random(SEED * 1_000_003 + i)
    family = i % 8
    if family == 0:
        return _special(rng, folder, i)
    if family in (1, 2, 3):
        suffix, text = _text_seed(rng)
        odd = "\udcff\udcfe" if i % 5 == 0 else ""  # a file name that is not UTF-8 (bytes ff fe)
        name = f"LaMP_3_c{i}{odd}{suffix}" if suffix == "_questions.json" else f"{odd}c{i}{suffix}"
        paths = _write(folder, name, _encode(rng, _mutate(rng, text)))
        if suffix == "_questions.json" and rng.random() < 0.5:
            out = _mutate(rng, json.dumps(OUTPUTS)) if rng.random() < 0.5 else json.dumps(OUTPUTS)
            paths += _write(folder, f"LaMP_3_c{i}{odd}_outputs.json", out.encode("utf-8", "surrogatepass"))
        return paths
    if family == 4:
        value = _random_json(rng)
        suffix = rng.choice([".json", ".jsonl", "_questions.json"])
        text = json.dumps(value) if suffix != ".jsonl" else "\n".join(json.dumps(_random_json(rng)) for _ in range(5))
        return _write(folder, f"r{i}{suffix}", text.encode("utf-8", "surrogatepass"))
    if family == 5:  # big shapes: deep nesting, megabyte cells, wide headers, many rows, over the cap
        shape = rng.randrange(5)
        if shape == 0:
            depth = rng.choice([500, 5000, 100_000])
            return _write(folder, f"deep{i}.json", ("[" * depth + "]" * depth).encode())
        if shape == 1:
            return _write(folder, f"cell{i}.csv", b"text,score\nok,4\n" + b"x" * 1_500_000 + b",5\n")
        if shape == 2:
            head = ",".join(f"c{k}" for k in range(20_000))
            return _write(folder, f"wide{i}.csv", f"{head}\n{head}\n".encode())
        if shape == 3:
            return _write(folder, f"rows{i}.csv", b"user_id,text,score\n" + b"u,t,3\n" * 50_000)
        return _write(folder, f"over{i}.jsonl", b'{"text": "t", "score": 3}\n' * (MAX_BYTES // 26 + 10))
    if family == 6:  # random bytes, with and without a plausible start
        start = rng.choice([b"", b"text,score\n", b"[", b"{", b'{"u": [', b"\xef\xbb\xbf"])
        return _write(folder, f"b{i}{rng.choice(['.csv', '.json', '.jsonl', '.dat'])}",
                      start + bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000))))
    # family 7: valid tokens in hostile places
    junk = "".join(rng.choice(NASTY) for _ in range(rng.randint(1, 30)))
    rows = [{"user_id": junk, "text": junk or "x", "score": rng.choice(["5", 5, 5.0, "NaN", junk]), junk: junk}]
    text = json.dumps(rows) if rng.random() < 0.5 else "user_id,text,score\n" + f"{junk},{junk},{junk}\n"
    suffix = ".json" if text.startswith("[") else ".csv"
    return _write(folder, f"t{i}{suffix}", text.encode("utf-8", "surrogatepass"))


def run_case(paths: list[Path]) -> str:
    """Put one case through every loader path; return its outcome.

    Outcomes: ``"loaded"`` (no problem), ``"partly loaded"`` (problems, valid rows kept),
    ``"refused"`` (only problems). Any other exception propagates.
    """
    names = [str(p) for p in paths]
    for p in paths:
        preview(p)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["validate", *names, "--max-mb", str(MAX_BYTES / 1024 / 1024)])
    if code not in (0, 2):
        raise AssertionError(f"validate exited {code}")
    try:
        load(names, max_bytes=MAX_BYTES)
    except InputError:
        pass
    try:
        result = load(names, keep_valid=True, max_bytes=MAX_BYTES)
    except InputError as exc:
        assert all(len(str(p)) < 2100 for p in exc.problems), "a problem line is not short"
        return "refused"
    ws = Workspace(":memory:")
    try:
        ws.add_dataset(result.dataset, dataset_id="fuzz")  # what a build stores first
    finally:
        ws.close()
    return "loaded" if result.ok else "partly loaded"


def run_all(n: int = N_CASES, report: Callable[[str], None] = print) -> Counter[str]:
    """Run cases ``0..n-1`` once each; report the figures; return outcome counts."""
    counts: Counter[str] = Counter()
    start, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            counts[run_case(make_case(i, folder))] += 1
    took, cpu = time.perf_counter() - start, time.process_time() - cpu  # CPU time: what other work cannot inflate
    report(f"{n} hostile inputs (seed {SEED}) in {took:.1f} s ({cpu:.1f} s CPU): "
           + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    return counts


if __name__ == "__main__":
    run_all(int(sys.argv[1]) if len(sys.argv) > 1 else N_CASES)
