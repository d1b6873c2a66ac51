"""A LaMP-2 style tagging task built from MovieLens ``ml-latest-small``.

LaMP-2 asks which tag a user gives a movie, from the movie's description. MovieLens has the
ingredients: ``tags.csv`` (``userId,movieId,tag,timestamp``, with a header) says which free-text
tags each user applied to which movie and when, and ``movies.csv`` (``movieId,title,genres``,
**no header**, CRLF line ends, quoted titles) describes each movie. This module turns them into
a label task:

* **Input**: ``"<title (year)>. Genres: <genre>, <genre>"`` (the only description MovieLens has).
* **Label set per user**: the tags that user applied to at least ``min_tag_count`` distinct movies
  (tags lower-cased and stripped). Free-text tags are personal vocabularies, so a closed set
  shared by all users would leave almost no data; each query carries its user's set in
  ``meta["labels"]`` and the task's ``labels`` is the union (macro-F1 runs over the union).
* **One label per movie**: of the movie's tags that are in the user's set, the one applied first
  (ties: the user's more frequent tag, then alphabetical).
* **Order**: movies by the time of their first tag, so :func:`core.data.model.split_last` gives a
  time split (earlier movies = profile, later movies = queries).
* **Users**: those with at least ``min_movies`` such movies and at least two labels.

The label set is known in advance for each user (as LaMP-2's 15 tags are), which means it is
computed over the user's whole tagging history, queries included.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from core.data.model import Dataset, Item, Task, User
from core.errors import InputError, Problem

INSTRUCTION = "Which tag would this user apply to the following movie?"


def _read_rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise InputError(Problem(str(path), None, None, "file not found"))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(Problem(path.name, None, None, f"not UTF-8 text ({exc.reason})")) from exc
    return [row for row in csv.reader(io.StringIO(text, newline="")) if row]


def read_movies(path: Path) -> dict[str, str]:
    """Return ``{movieId: "Title (year). Genres: A, B"}`` from ``movies.csv`` (header optional).

    Raises:
        InputError: Missing file, bad encoding, or a row without three fields.
    """
    out: dict[str, str] = {}
    for n, row in enumerate(_read_rows(path), start=1):
        if n == 1 and row[0].strip().lower() == "movieid":
            continue
        if len(row) < 3:
            raise InputError(Problem(path.name, n, None, f"expected movieId,title,genres; got {len(row)} fields"))
        movie_id, title, genres = row[0].strip(), ",".join(row[1:-1]).strip(), row[-1].strip()
        names = [g for g in genres.split("|") if g and g != "(no genres listed)"]
        out[movie_id] = f"{title}. Genres: {', '.join(names) if names else 'none listed'}"
    return out


def read_tags(path: Path) -> list[tuple[str, str, str, int]]:
    """Return ``(userId, movieId, tag, timestamp)`` rows of ``tags.csv`` (header optional).

    Raises:
        InputError: Missing file, bad encoding, a short row or a non-integer timestamp.
    """
    out: list[tuple[str, str, str, int]] = []
    for n, row in enumerate(_read_rows(path), start=1):
        if n == 1 and row[0].strip().lower() == "userid":
            continue
        if len(row) < 4:
            raise InputError(Problem(path.name, n, None,
                                     f"expected userId,movieId,tag,timestamp; got {len(row)} fields"))
        try:
            ts = int(row[-1].strip())
        except ValueError as exc:
            raise InputError(Problem(path.name, n, "timestamp", f"not an integer: {row[-1]!r}")) from exc
        out.append((row[0].strip(), row[1].strip(), ",".join(row[2:-1]).strip(), ts))
    return out


def build_tagging_dataset(root: Path, *, min_tag_count: int = 5, min_movies: int = 15,
                          max_users: int | None = None) -> Dataset:
    """Build the tagging dataset (see the module docstring).

    Args:
        root: The ``movielens_small`` folder (``movies.csv`` and ``tags.csv``).
        min_tag_count: A tag joins a user's label set when applied to this many distinct movies.
        min_movies: Users need this many labelled movies.
        max_users: Keep at most this many users (those with the most labelled movies).

    Returns:
        A label-task dataset; every item's ``meta`` holds ``movie_id`` and the user's ``labels``.

    Raises:
        InputError: The files are missing or malformed.
    """
    movies = read_movies(root / "movies.csv")
    by_user: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for uid, mid, tag, ts in read_tags(root / "tags.csv"):
        t = " ".join(tag.lower().split())
        if t and mid in movies:
            by_user[uid].append((mid, t, ts))
    users: list[User] = []
    for uid, rows in by_user.items():
        movie_count = Counter(t for _, t in {(m, t) for m, t, _ in rows})
        labels = sorted(t for t, c in movie_count.items() if c >= min_tag_count)
        if len(labels) < 2:
            continue
        label_set = set(labels)
        first_tag_time: dict[str, int] = {}
        picked: dict[str, tuple[int, int, str]] = {}
        for mid, t, ts in rows:
            first_tag_time[mid] = min(ts, first_tag_time.get(mid, ts))
            if t in label_set:
                key = (ts, -movie_count[t], t)
                if mid not in picked or key < picked[mid]:
                    picked[mid] = key
        if len(picked) < min_movies:
            continue
        order = sorted(picked, key=lambda m: (first_tag_time[m], int(m) if m.isdigit() else 0, m))
        items = [Item(id=f"{uid}_{mid}", input=movies[mid], output=picked[mid][2],
                      timestamp=datetime.fromtimestamp(first_tag_time[mid], UTC).isoformat(),
                      meta={"movie_id": mid, "labels": labels}) for mid in order]
        users.append(User(id=uid, items=items))
    users.sort(key=lambda u: (-len(u.items), u.id))
    if max_users is not None:
        users = users[:max_users]
    union = sorted({lab for u in users for lab in u.items[0].meta["labels"]})
    task = Task(kind="label", name="movielens_tags", instruction=INSTRUCTION, labels=tuple(union))
    return Dataset(name="movielens_tags", task=task, users=users)
