from pathlib import Path

import pytest

from core.data.model import split_last
from core.errors import InputError
from core.evaluate.movielens import build_tagging_dataset, read_movies

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "movielens_small"

MOVIES = ('1,Toy Story (1995),Adventure|Animation|Children\r\n'
          '2,"American President, The (1995)",Comedy|Drama|Romance\r\n'
          '3,Alien (1979),Horror|Sci-Fi\r\n'
          '4,Heat (1995),(no genres listed)\r\n')
TAGS = ("userId,movieId,tag,timestamp\r\n"
        "7,1,Pixar,100\r\n7,1,funny,101\r\n7,2,funny,200\r\n7,3,space,300\r\n7,3,Pixar,299\r\n7,4,space,400\r\n"
        "7,2,boring,50\r\n"
        "8,1,pixar,10\r\n")


def write(tmp_path: Path) -> Path:
    (tmp_path / "movies.csv").write_bytes(MOVIES.encode())
    (tmp_path / "tags.csv").write_bytes(TAGS.encode())
    return tmp_path


def test_read_movies_no_header_crlf_quoted(tmp_path):
    movies = read_movies(write(tmp_path) / "movies.csv")
    assert movies["2"] == "American President, The (1995). Genres: Comedy, Drama, Romance"
    assert movies["4"] == "Heat (1995). Genres: none listed"


def test_build_tagging_dataset(tmp_path):
    ds = build_tagging_dataset(write(tmp_path), min_tag_count=2, min_movies=3)
    assert [u.id for u in ds.users] == ["7"]  # user 8 has one tag only
    user = ds.users[0]
    # labels: tags on >= 2 distinct movies: pixar (1, 3), funny (1, 2), space (3, 4); "boring" once
    assert user.items[0].meta["labels"] == ["funny", "pixar", "space"]
    # movies ordered by first tag time: 2 (t=50), 1 (100), 3 (299), 4 (400)
    assert [it.meta["movie_id"] for it in user.items] == ["2", "1", "3", "4"]
    # one label per movie: the first applied tag in the label set
    assert [it.output for it in user.items] == ["funny", "pixar", "pixar", "space"]
    assert ds.task.kind == "label" and ds.task.labels == ("funny", "pixar", "space")
    _, queries = split_last(ds, 0.25)
    assert [q.gold for q in queries] == ["space"] and queries[0].meta["labels"] == ["funny", "pixar", "space"]


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError) as err:
        build_tagging_dataset(tmp_path)
    assert "movies.csv" in err.value.file


@pytest.mark.skipif(not (REAL / "tags.csv").is_file(), reason="shared MovieLens data not present")
def test_real_movielens_builds():
    ds = build_tagging_dataset(REAL)
    assert len(ds.users) >= 3
    assert all(it.output in it.meta["labels"] for u in ds.users for it in u.items)
