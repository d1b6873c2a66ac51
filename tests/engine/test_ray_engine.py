"""The Ray engine on a local Ray instance sized for 2 cores: same results as the local engine, and its faults.

One Ray instance serves the module (starting Ray takes seconds); users are few and small.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.data.model import Dataset, User
from core.engine.budget import BudgetLimits
from core.engine.local import LocalEngine
from core.store.workspace import Workspace
from tests.engine.conftest import USERS, fingerprint, make_client, population, spec_for

ray = pytest.importorskip("ray")

from core.engine.ray_engine import RayEngine  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False, log_to_driver=False,
             configure_logging=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield ray
    ray.shutdown()


def _local_reference(endpoint, tmp_path, users=USERS) -> Workspace:
    ws = Workspace(tmp_path / "reference.sqlite")
    ws.add_dataset(population(users))
    client = make_client(endpoint, ws)
    report = LocalEngine().run(ws, spec_for(client), list(users), limits=BudgetLimits(8), client=client,
                               embedder=_hashing())
    assert [o.status for o in report.outcomes] == ["done"] * len(users)
    return ws


def test_ray_build_equals_local_and_a_rerun_makes_no_calls(ray_instance, endpoint, driver_ws, tmp_path):
    reference = _local_reference(endpoint, tmp_path)
    seen = []
    calls = endpoint.chat_calls
    endpoint.max_in_flight = 0  # the local reference ran with its own budget of 8: count the Ray run's alone
    report = RayEngine().run(driver_ws, spec_for(make_client(endpoint, None)), list(USERS), limits=BudgetLimits(3),
                             progress=seen.append)
    assert [o.status for o in report.outcomes] == ["done"] * 3, report.to_dict()
    for user in USERS:
        assert fingerprint(driver_ws, user) == fingerprint(reference, user)
    # the driver's cache already held every answer the reference made? no: separate files; the ray run called
    assert report.progress.calls == endpoint.chat_calls - calls > 0
    assert endpoint.max_in_flight <= 3  # one budget for both workers
    assert report.workers == 2 and report.budget.max_seen <= 3
    assert seen[-1].done == 3 and seen[-1].calls == report.progress.calls
    assert b"sk-engine-test-never-stored" not in Path(driver_ws.path).read_bytes()
    calls = endpoint.chat_calls
    again = RayEngine().run(driver_ws, spec_for(make_client(endpoint, None)), list(USERS), limits=BudgetLimits(3))
    assert endpoint.chat_calls == calls and again.progress.calls == 0
    assert [o.status for o in again.outcomes] == ["done"] * 3
    for user in USERS:
        assert len(driver_ws.list_runs("features", user_id=user)) == 1  # reused, not redone
    reference.close()


def test_a_failing_user_is_reported_by_id_and_the_others_complete(ray_instance, endpoint, tmp_path):
    ws = Workspace(tmp_path / "ws.sqlite")
    data = population(("ava", "bob"))
    ws.add_dataset(Dataset(data.name, data.task, [*data.users, User("ghost", [])]))
    report = RayEngine().run(ws, spec_for(make_client(endpoint, None)), ["ava", "ghost", "bob"],
                             limits=BudgetLimits(4))
    status = {o.user_id: (o.status, o.error) for o in report.outcomes}
    assert status["ava"][0] == status["bob"][0] == "done"
    assert status["ghost"][0] == "failed" and "InputError" in status["ghost"][1] and "no history items" in \
        status["ghost"][1]
    assert report.to_dict()["failures"] == {"ghost": status["ghost"][1]}
    ws.close()


def _kill_one_worker_when_busy(stop: threading.Event, killed: list[int]) -> None:
    """Kill (SIGKILL) one Ray worker process while it runs a user's task."""
    while not stop.is_set() and not killed:
        out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
        for line in out.splitlines():
            pid, _, args = line.strip().partition(" ")
            if args.startswith("ray::run_user_task"):
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
        time.sleep(0.05)


def test_a_killed_worker_loses_only_its_user_which_is_retried(ray_instance, endpoint, driver_ws, tmp_path):
    reference = _local_reference(endpoint, tmp_path)
    endpoint.latency_s = 0.05  # keep users in flight long enough to be caught running
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_worker_when_busy, args=(stop, killed))
    killer.start()
    try:
        report = RayEngine().run(driver_ws, spec_for(make_client(endpoint, None)), list(USERS),
                                 limits=BudgetLimits(4))
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was caught running a user"
    assert [o.status for o in report.outcomes] == ["done"] * 3, report.to_dict()
    assert report.progress.retried == 1 and sorted(o.attempts for o in report.outcomes) == [1, 1, 2]
    assert report.budget.in_flight == 0  # the lost worker's slots were given back
    for user in USERS:
        assert fingerprint(driver_ws, user) == fingerprint(reference, user)
    reference.close()


def test_cancel_keeps_finished_users(ray_instance, endpoint, driver_ws):
    endpoint.latency_s = 0.02
    state = {"seen": None}

    def on_progress(p):
        state["seen"] = p

    report = RayEngine().run(driver_ws, spec_for(make_client(endpoint, None)), list(USERS), limits=BudgetLimits(1),
                             progress=on_progress,
                             cancel=lambda: state["seen"] is not None and state["seen"].done >= 1)
    done = [o.user_id for o in report.outcomes if o.status == "done"]
    assert report.cancelled and 1 <= len(done) < 3
    assert {o.status for o in report.outcomes if o.user_id not in done} == {"cancelled"}
    for user in done:
        assert fingerprint(driver_ws, user)["features"]


def test_a_killed_driver_resumes_with_finished_users_kept(ray_instance, endpoint, tmp_path):
    """The CLI driver is killed after its first user is stored; the rerun keeps that user's runs."""
    import csv

    data = tmp_path / "pop.csv"
    with data.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "review_id", "review_text", "rating"])
        for u in population().users:
            for it in u.items:
                w.writerow([u.id, it.id, it.input, it.output])
    ws_path = tmp_path / "ws.sqlite"
    endpoint.latency_s = 0.05
    cmd = [sys.executable, "-m", "core", "build", str(data), "--workspace", str(ws_path), "--backend", "openai",
           "--engine", "ray", "--num-cpus", "1", "--min-cluster-size", "4", "--embedder", "hash"]
    env = {**os.environ, "INFLOW_MAX_CONCURRENCY": "2", "PYTHONPATH": str(ROOT)}
    # its own session, so the kill takes the local Ray processes it started with it (none outlive the test)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    first_done = None
    deadline = time.monotonic() + 120
    while first_done is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if ws_path.exists():
            with Workspace(ws_path) as ws:
                profiles = ws.list_runs("profile")
                if profiles:
                    first_done = profiles[0].user_id
    assert first_done is not None, proc.stderr.read() if proc.poll() is not None else "no user finished in time"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    with Workspace(ws_path) as ws:
        kept = {r.id for r in ws.list_runs(user_id=first_done)}
        assert len(ws.list_runs("profile")) < 3  # killed mid-run
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, start_new_session=True)
    assert done.returncode == 0, done.stderr
    assert "users 3/3 (3 done, 0 failed" in done.stderr and "ray engine, 1 workers" in done.stderr
    assert all(f"== user {u} (" in done.stdout for u in USERS)
    with Workspace(ws_path) as ws:
        assert {r.user_id for r in ws.list_runs("profile")} == set(USERS)
        runs = ws.list_runs(user_id=first_done)
        assert kept <= {r.id for r in runs}
        assert len([r for r in runs if r.stage == "features"]) == 1  # its features were reused, not redone


def _hashing():
    from core.embed.hashing import HashingEmbedder

    return HashingEmbedder()


def test_evaluation_on_ray_scores_like_the_local_harness(ray_instance, endpoint, tmp_path):
    from core.data.model import split_last
    from core.engine.base import EngineRun
    from core.evaluate.harness import evaluate
    from tests.engine.conftest import SETTINGS

    history, queries = split_last(population(("ava", "bob"), n_items=15), 0.2)
    results = {}
    for name in ("local", "ray"):
        ws = Workspace(tmp_path / f"{name}.sqlite")
        client = make_client(endpoint, ws)
        run = None
        if name == "ray":
            seen = []
            run = EngineRun(RayEngine(), spec_for(client, dataset_id=""), BudgetLimits(4), progress=seen.append)
        results[name] = evaluate(ws, history, queries, methods=["zero", "summary"], client=client,
                                 embedder=_hashing(), settings=SETTINGS, limit_per_user=2, engine=run)
        ws.close()
    local, remote = results["local"], results["ray"]
    assert remote.n == local.n == 4 and not remote.cancelled
    strip = [{k: v for k, v in r.items() if k != "latency_ms"} for r in local.per_query]
    assert [{k: v for k, v in r.items() if k != "latency_ms"} for r in remote.per_query] == strip
    for table in ("methods", "baselines"):
        for system, m in getattr(local, table).items():
            assert {k: v for k, v in getattr(remote, table)[system].items() if k != "latency_ms_mean"} == \
                {k: v for k, v in m.items() if k != "latency_ms_mean"}
    assert remote.engine["done"] == 2 and remote.engine["failures"] == {}
    assert seen[-1].done == 2


def test_eval_cli_on_ray_writes_the_engine_report(ray_instance, endpoint, tmp_path, capsys):
    import csv
    import json

    from core.__main__ import main

    data = tmp_path / "pop.csv"
    with data.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "review_id", "review_text", "rating"])
        for u in population(("ava", "bob"), n_items=12).users:
            for it in u.items:
                w.writerow([u.id, it.id, it.input, it.output])
    out = tmp_path / "result.json"
    code = main(["eval", "--data", str(data), "--split", "last:0.2", "--methods", "zero", "--engine", "ray",
                 "--embedder", "hash", "--backend", "openai", "--limit-per-user", "1", "--extractor", "lexicon",
                 "--workspace", str(tmp_path / "ws.sqlite"), "--json", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["n"] == 2 and result["engine"]["engine"] == "ray" and result["engine"]["done"] == 2
    assert "users 2/2 (2 done, 0 failed" in err
