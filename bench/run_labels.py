"""How long readable run labels cost: the v3 -> v4 migration that numbers existing runs, and minting one label.

Run: ``.venv/bin/python bench/run_labels.py [N]`` (N runs of one stage, dataset and user; default 10000).
Prints the migration time of a v3 file holding N runs and the mean time of ``start_run`` on top of them.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.store.schema import MIGRATIONS  # noqa: E402
from core.store.workspace import Workspace  # noqa: E402


def main(n: int) -> None:
    """Build a v3 file with ``n`` runs, open (migrate) it, then time new runs."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "old.sqlite"
        conn = sqlite3.connect(path)
        for version in range(3):
            for stmt in MIGRATIONS[version]:
                conn.execute(stmt)
        conn.execute("PRAGMA user_version=3")
        conn.executemany("INSERT INTO runs(id,stage,dataset_id,user_id,params_json,params_hash,status,created_at)"
                         " VALUES (?,'answer','d','u','{}','h','done',?)",
                         [(f"answer-{i:08x}", float(i)) for i in range(n)])
        conn.commit()
        conn.close()
        t0 = time.perf_counter()
        ws = Workspace(path)
        migrate = time.perf_counter() - t0
        k = 200
        t0 = time.perf_counter()
        for _ in range(k):
            ws.start_run("answer", {}, dataset_id="d", user_id="u")
        mint = (time.perf_counter() - t0) / k
        last = ws.list_runs("answer")[0].label
        ws.close()
    print(f"{n} runs of one user and stage: migration {migrate:.2f} s; start_run {mint * 1000:.2f} ms each "
          f"(last label {last}); sqlite {sqlite3.sqlite_version}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)
