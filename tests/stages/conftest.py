"""Shared data and one built profile for the stage tests (built once per session: UMAP compiles slowly)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.data.model import Dataset, Item, Task, User
from core.embed.hashing import HashingEmbedder
from core.stages.pipeline import build_profile
from core.stages.profile import PipelineSettings, Profile
from core.stages.types import Feature
from core.store.workspace import Workspace

BROKE = ["The handle broke after two weeks.", "It stopped working after a month.",
         "The zipper broke on the second trip.", "The strap snapped and broke on day one.",
         "The hinge cracked and broke within a week.", "The lid broke after three uses.",
         "It broke the first time I dropped it."]
GOOD = ["Shipping was fast and the box arrived early.", "Great value for the price.",
        "Very easy to set up in minutes.", "The design looks beautiful on my desk.",
        "Customer service was helpful and friendly.", "The color is lovely."]
NEUTRAL = ["I bought it for my kitchen.", "My brother recommended it.", "I use it every morning."]


def durability_dataset(n: int = 48, seed: int = 7) -> Dataset:
    """One user who punishes breakage: reviews mentioning it are rated 1-2, the rest 4-5.

    Few distinct feature texts (about a dozen), so the projection takes the PCA path: fast and stable.
    The UMAP path is tested on :func:`varied_dataset`.
    """
    rng = random.Random(seed)
    items = []
    for k in range(n):
        broke = k % 3 == 0
        sentences = [rng.choice(NEUTRAL), rng.choice(GOOD)]
        if broke:
            sentences.insert(1, rng.choice(BROKE))
            score = rng.choice([1, 1, 2])
        else:
            sentences.append(rng.choice(GOOD))
            score = rng.choice([4, 5, 5])
        items.append(Item(id=f"r{k:02d}", input=" ".join(sentences), output=str(score)))
    task = Task(kind="score", name="product_rating", instruction="Rate the product 1-5.")
    return Dataset(name="dura", task=task, users=[User(id="ava", items=items)])


PARTS = ["handle", "zipper", "strap", "hinge", "lid", "clasp", "buckle", "cable", "knob", "latch", "wheel", "spout"]
PERIODS = ["two weeks", "a month", "three days", "a week", "ten days", "two months"]
ADJ = ["plastic", "metal", "left", "right", "front", "back", "little", "main", "spare", "outer"]
ASPECT_VERBS = {"durability problems": ["broke after", "snapped after", "cracked after", "came loose after"],
                "shipping": ["arrived early after", "shipped fast in"],
                "design": ["looks lovely after", "looks sleek after"]}


def varied_features(n_items: int = 90, seed: int = 3) -> tuple[Dataset, dict[str, list[Feature]]]:
    """Items with two distinct generated features each (enough distinct texts for the UMAP path).

    Durability problems sink the rating to 1-2; otherwise it is 4-5.
    """
    rng = random.Random(seed)
    items, feats = [], {}
    for k in range(n_items):
        iid = f"v{k:03d}"
        aspects = rng.sample(list(ASPECT_VERBS), 2)
        phrases, fs = [], []
        for a in aspects:
            phrase = f"{rng.choice(ADJ)} {rng.choice(PARTS)} {rng.choice(ASPECT_VERBS[a])} {rng.choice(PERIODS)}"
            phrases.append(f"The {phrase}.")
            fs.append(Feature(f"{iid}#{len(fs)}", iid, phrase, a, "lowered" if "problems" in a else "raised", 0.8,
                              phrase))
        score = rng.choice([1, 2]) if "durability problems" in aspects else rng.choice([4, 5])
        items.append(Item(iid, " ".join(phrases), str(score)))
        feats[iid] = fs
    return Dataset("varied", Task(kind="score"), [User("val", items)]), feats


class GivenExtractor:
    """Hands back given features (a stand-in extractor: the pipeline sees exactly these)."""

    name = "given"

    def __init__(self, feats: dict[str, list[Feature]]) -> None:
        self.feats = feats

    def identity(self) -> dict:
        return {"kind": "given", "n": sum(len(v) for v in self.feats.values())}

    def extract(self, items, task, progress=None, *, run_id=None):
        return {it.id: list(self.feats.get(it.id, [])) for it in items}


class CountingEmbedder:
    """Hashing embedder that counts calls and embedded texts."""

    def __init__(self, dim: int = 128) -> None:
        self.inner = HashingEmbedder(dim=dim)
        self.name = self.inner.name
        self.calls = 0
        self.texts = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return self.inner.embed(texts)


class Built:
    def __init__(self, ws: Workspace, profile: Profile, embedder: CountingEmbedder, path: Path) -> None:
        self.ws = ws
        self.profile = profile
        self.embedder = embedder
        self.path = path


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    path = tmp_path_factory.mktemp("stages") / "ws.sqlite"
    ws = Workspace(path)
    ws.add_dataset(durability_dataset())
    emb = CountingEmbedder()
    settings = PipelineSettings(extractor="lexicon", hdbscan_min_cluster_size=4)
    profile = build_profile(ws, "dura", "ava", client=None, embedder=emb, settings=settings)
    yield Built(ws, profile, emb, path)
    ws.close()
