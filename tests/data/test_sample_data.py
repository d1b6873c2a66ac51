"""sample_data/: in sync with its generator, loads in both forms, and carries the promised preferences."""

from __future__ import annotations

import importlib.util
import random
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

import pytest

from core.data.load import load
from core.data.model import Dataset
from core.data.tasks import LAMP2_TAGS

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
FILES = ("reviews.csv", "movie_tags.csv", "lamp3_reviews_questions.json", "lamp3_reviews_outputs.json",
         "lamp2_tags_questions.json", "lamp2_tags_outputs.json")


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("sample_data_generate", SAMPLE / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_shipped_files_are_exactly_what_the_generator_writes(generator, tmp_path):
    generator.main(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name


def test_sample_data_is_small():
    assert sum((SAMPLE / name).stat().st_size for name in FILES) < 1024 * 1024


def test_reviews_csv():
    ds = load([SAMPLE / "reviews.csv"]).dataset
    assert ds.task.kind == "score" and (ds.task.score_min, ds.task.score_max) == (1, 5)
    assert len(ds.users) >= 3 and all(40 <= len(u.items) <= 120 for u in ds.users)
    item = ds.users[0].items[0]
    assert set(item.meta) >= {"product", "category"} and re.fullmatch(r"\d{4}-\d{2}-\d{2}", item.timestamp or "")
    for user in ds.users:
        ratings = Counter(i.output for i in user.items)
        assert len(ratings) == 5, (user.id, ratings)  # every user uses the whole scale
        assert len({i.meta["category"] for i in user.items}) >= 4
        assert len({i.meta["product"] for i in user.items}) >= 20


def test_movie_tags_csv():
    ds = load([SAMPLE / "movie_tags.csv"]).dataset
    assert ds.task.kind == "label" and ds.task.labels == LAMP2_TAGS
    assert len(ds.users) == 2 and all(len(u.items) >= 40 for u in ds.users)


def _same_items(csv_ds: Dataset, lamp_ds: Dataset) -> None:
    assert [u.id for u in csv_ds.users] == [u.id for u in lamp_ds.users]
    assert len(lamp_ds.queries) == len(csv_ds.users)
    for user, query in zip(csv_ds.users, lamp_ds.queries, strict=True):
        *history, last = user.items
        assert [i.to_dict() for i in history] == [i.to_dict() for i in lamp_ds.user(user.id).items]
        assert (query.id, query.user_id, query.input, query.gold) == (last.id, user.id, last.input, last.output)
        meta = {k: v for k, v in query.meta.items() if k not in ("raw_input", "timestamp")}
        assert meta == last.meta and query.meta["timestamp"] == last.timestamp


@pytest.mark.parametrize(("csv_name", "lamp_stem", "task"), [("reviews.csv", "lamp3_reviews", "LaMP_3"),
                                                             ("movie_tags.csv", "lamp2_tags", "LaMP_2")])
def test_csv_and_lamp_forms_hold_the_same_items(csv_name, lamp_stem, task):
    csv_ds = load([SAMPLE / csv_name]).dataset
    lamp_ds = load([SAMPLE / f"{lamp_stem}_questions.json", SAMPLE / f"{lamp_stem}_outputs.json"]).dataset
    assert lamp_ds.task.name == task and lamp_ds.task.kind == csv_ds.task.kind
    _same_items(csv_ds, lamp_ds)


def test_review_texts_are_varied():
    ds = load([SAMPLE / "reviews.csv"]).dataset
    texts = [i.input for u in ds.users for i in u.items]
    assert len(set(texts)) == len(texts)
    sentences = [s for t in texts for s in re.split(r"(?<=[.!])\s+", t)]
    assert len(set(sentences)) / len(sentences) > 0.5
    assert Counter(sentences).most_common(1)[0][1] < 0.05 * len(texts)


def test_each_reviewer_rating_follows_their_key_aspect(generator):
    pairs = generator.make_reviews(random.Random(generator.SEED))
    for reviewer in generator.REVIEWERS:
        mine = [(int(row["rating"]), aspects) for row, aspects in pairs if row["user_id"] == reviewer.id]
        gaps = {}
        for aspect in generator.ASPECTS:
            pos = [r for r, a in mine if a.get(aspect) == 1]
            neg = [r for r, a in mine if a.get(aspect) == -1]
            if len(pos) >= 3 and len(neg) >= 3:
                gaps[aspect] = statistics.mean(pos) - statistics.mean(neg)
        key = max(reviewer.weights, key=reviewer.weights.get)
        assert gaps[key] >= 2.0, (reviewer.id, gaps)
        assert all(gaps[key] > g for a, g in gaps.items() if a != key), (reviewer.id, gaps)


def test_movie_taggers_tag_shared_movies_differently():
    ds = load([SAMPLE / "movie_tags.csv"]).dataset
    tags = [{i.meta["movie"]: i.output for i in u.items} for u in ds.users]
    shared = set(tags[0]) & set(tags[1])
    assert len(shared) >= 15
    assert sum(tags[0][m] != tags[1][m] for m in shared) >= 0.4 * len(shared)
