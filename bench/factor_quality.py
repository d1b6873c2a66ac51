"""Factors a person can read, measured on the five real LaMP-3 users: before and after reduction and phrase names.

Usage::

    python bench/factor_quality.py                 # minilm embedder, writes docs/FACTORS.md
    python bench/factor_quality.py --embedder hashing --no-write

Each user's whole history is built offline (lexicon features, checked directions, no model call)
and clustered once; then the factors are made twice from that same clustering:

* **before**: one factor per HDBSCAN cluster (``n_factors = 0``), named the way the project named
  them before (the top 2-3 shared c-TF-IDF keywords, :func:`core.stages.naming.keyword_name`);
* **after**: the defaults (fine clusters merged into at most 12 factors, Unclustered features
  joined to their nearest factor up to a third, phrase names).

Per user it reports factors, the Unclustered share, names that are a single word, and the
**coherence** of each factor's name with its members: the mean, over the name's words (stop and
filler words left out), of the NPMI between "the review contains the word or a form of it" (the
same 5-letter-prefix rule as the LLM name check, :func:`core.stages.naming.same_word`) and "the
review has a feature in the factor" over the user's reviews, ``log(p(w, F) / (p(w) p(F))) / -log p(w, F)``
(-1 when they never meet, 0 when independent, 1 when they always go together); a user's figure is
the mean over their factors. It also times a re-cluster with another factor count on the cached
projection, and counts the lexicon directions that disagreed with the item's score relative to the
user's usual one (all of them corrected to the data's). The table replaces the section between the
markers in ``docs/FACTORS.md``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.doc_section import replace_section  # noqa: E402
from bench.tokens import LAMP3  # noqa: E402
from core.data.load import load  # noqa: E402
from core.data.tasks import LAMP_SPECS  # noqa: E402
from core.embed.factory import make_embedder  # noqa: E402
from core.stages.directions import direction_report  # noqa: E402
from core.stages.naming import FILLER, has_form, keyword_name, shared_keywords, word_forms  # noqa: E402
from core.stages.pipeline import build_profile, recluster  # noqa: E402
from core.stages.profile import PipelineSettings, Profile  # noqa: E402
from core.stages.text import STOP_WORDS, words  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402

DOC = ROOT / "docs" / "FACTORS.md"
BEGIN, END = "<!-- factor_quality:begin -->", "<!-- factor_quality:end -->"


def name_words(name: str) -> list[str]:
    """The words of a name that can carry meaning (no stop or filler words, at least 3 letters)."""
    return [w for w in dict.fromkeys(words(name)) if len(w) >= 3 and w not in STOP_WORDS and w not in FILLER]


def npmi(n_both: int, n_word: int, n_factor: int, n: int) -> float:
    """Normalised PMI of two events from counts over ``n`` documents (-1 when they never co-occur)."""
    if n_both == 0 or n_word == 0 or n_factor == 0:
        return -1.0
    p_both = n_both / n
    if p_both >= 1.0:
        return 1.0
    return math.log(p_both / ((n_word / n) * (n_factor / n))) / -math.log(p_both)


def coherence(profile: Profile, names: dict[str, str]) -> float | None:
    """Mean over factors of the mean NPMI of the name's words with the factor's reviews (see the module docstring)."""
    docs = {it.id: word_forms(it.input) for it in profile.items}
    n = len(docs)
    scores = []
    for f in profile.factors:
        if f.is_noise or not f.feature_ids:
            continue
        touched = {profile.feature(fid).item_id for fid in f.feature_ids}
        per_word = []
        for w in name_words(names[f.id]):
            has = {d for d, forms in docs.items() if has_form(w, forms)}
            per_word.append(npmi(len(has & touched), len(has), len(touched), n))
        if per_word:
            scores.append(statistics.fmean(per_word))
    return statistics.fmean(scores) if scores else None


def old_names(profile: Profile) -> dict[str, str]:
    """The names the project gave before phrase naming: the top shared c-TF-IDF keywords."""
    out = {}
    for f in profile.factors:
        texts = [profile.feature(fid).text for fid in f.feature_ids]
        out[f.id] = keyword_name(shared_keywords(f.keywords, texts))
    return out


def describe(profile: Profile, names: dict[str, str]) -> dict[str, Any]:
    """Factors, Unclustered share, single-word names and coherence of one profile."""
    real = [f for f in profile.factors if not f.is_noise and f.feature_ids]
    n_feat = len(profile.all_features())
    noise = sum(len(f.feature_ids) for f in profile.factors if f.is_noise)
    single = sum(1 for f in real if len(words(names[f.id])) == 1)
    return {"factors": len(real), "unclustered": noise / n_feat if n_feat else 0.0, "single": single,
            "coherence": coherence(profile, names), "names": [names[f.id] for f in real[:5]]}


def measure(embedder_kind: str) -> list[dict[str, Any]]:
    """Build every LaMP-3 user before and after; return one row per user."""
    ds = load([LAMP3], task=LAMP_SPECS[3].task(), name="lamp3_users").dataset
    embedder = make_embedder(embedder_kind)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "quality.sqlite")
        ws.add_dataset(ds)
        for user in ws.list_users("lamp3_users"):
            base = PipelineSettings(extractor="lexicon", embedder=embedder_kind)
            t0 = time.perf_counter()
            after = build_profile(ws, "lamp3_users", user, client=None, embedder=embedder, settings=base)
            build_s = time.perf_counter() - t0
            before = recluster(ws, after, min_cluster_size=base.hdbscan_min_cluster_size, embedder=embedder,
                               n_factors=0)
            t0 = time.perf_counter()
            recluster(ws, after, min_cluster_size=base.hdbscan_min_cluster_size, embedder=embedder, n_factors=8)
            recluster_s = time.perf_counter() - t0
            rows.append({"user": user, "items": len(after.items), "features": len(after.all_features()),
                         "before": describe(before, old_names(before)),
                         "after": describe(after, {f.id: f.name for f in after.factors}),
                         "directions": direction_report(after.all_features()),
                         "build_s": build_s, "recluster_s": recluster_s})
            print(f"{user}: {rows[-1]['before']['factors']} -> {rows[-1]['after']['factors']} factors "
                  f"({build_s:.1f} s build, {recluster_s:.2f} s re-cluster)", file=sys.stderr)
        ws.close()
    return rows


def _c(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3f}"


def render(rows: list[dict[str, Any]], embedder_kind: str) -> str:
    """Render the results as the Markdown section of docs/FACTORS.md."""
    lines = [BEGIN, "",
             f"Measured by `python bench/factor_quality.py --embedder {embedder_kind}` on "
             f"{time.strftime('%Y-%m-%d')} (whole histories, lexicon features, {embedder_kind} embedder, "
             "HDBSCAN min cluster size 5; *before* = one factor per cluster with keyword names, *after* = "
             "the defaults).", "",
             "| user | reviews | features | factors before → after | unclustered before → after | "
             "one-word names before → after | name coherence (NPMI) before → after | directions corrected | "
             "re-cluster (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, a, d = r["before"], r["after"], r["directions"]
        lines.append(f"| {r['user']} | {r['items']} | {r['features']} | {b['factors']} → **{a['factors']}** | "
                     f"{b['unclustered']:.0%} → **{a['unclustered']:.0%}** | {b['single']} → {a['single']} | "
                     f"{_c(b['coherence'])} → **{_c(a['coherence'])}** | {d['corrected']} of {d['directed']} | "
                     f"{r['recluster_s']:.2f} |")
    lines += ["", "The five strongest factors after, per user:", ""]
    lines += [f"- **{r['user']}**: " + "; ".join(f"“{n}”" for n in r["after"]["names"]) for r in rows]
    lines += ["", "and before:", ""]
    lines += [f"- **{r['user']}**: " + "; ".join(f"“{n}”" for n in r["before"]["names"]) for r in rows]
    lines += ["", END]
    return "\n".join(lines)


def write_section(section: str, path: Path = DOC) -> None:
    """Replace the marked section of ``path`` (appending it when the markers are missing)."""
    replace_section(path, section, BEGIN, END, "# Factors")


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table; write it into docs/FACTORS.md unless ``--no-write``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    if not LAMP3.exists():
        print(f"{LAMP3} is absent", file=sys.stderr)
        return 2
    section = render(measure(args.embedder), args.embedder)
    print(section)
    if not args.no_write:
        write_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
