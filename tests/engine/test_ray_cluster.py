"""`securitynet evaluate --executor ray` on a real multi-node Ray cluster with a PostgreSQL store.

Three Ray nodes, each a separate `ray start` on 127.0.0.1 with one CPU: the same results as a local run;
a node killed mid-run has its jobs finished on the others, each key stored once; a driver killed mid-run
is resumed by a rerun. The nodes are started with a database address nobody listens on and the driver
forwards them none: a worker that opened the store would fail its jobs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from securitynet.engine.plan import build_plan
from securitynet.engine.run import execute_plan
from securitynet.store import Store, schema

pytest.importorskip("ray", reason="ray is not installed (pip install 'securitynet[ray]')")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kills Ray nodes through Linux /proc"),
]

from local_ray_cluster import LocalRayCluster  # noqa: E402  (conftest puts tests/engine on sys.path)
from same_results import assert_same_results, sorted_results  # noqa: E402
from securitynet_test_models import make_tiny_card  # noqa: E402

CLI = str(Path(sys.executable).with_name("securitynet"))
MODELS = 20
# What the nodes know of a store: an address where nothing listens. Opening the store in a worker fails.
NO_STORE = "postgresql+psycopg://nobody@127.0.0.1:9/workers_have_no_store?connect_timeout=2"
ATTACKS = "mia.confidence,test.probe"
PARAMS = ["mia.confidence.n=100", "test.probe.n=40"]
# The fault tests: two slow probe jobs per model, so a model is mid-way for a second after each report.
SLOW_PARAMS = ["test.probe.delay_s=1.0", "test.probe.n=40"]
SLOW_MODELS = 6
_NODE_IDS: dict[str, str] = {}  # the cluster's node ids by name (asking the head takes seconds)


@pytest.fixture(scope="module")
def cluster():
    """A head and nodes a and b, one CPU each, none with a way to the database; everything killed afterwards."""
    env = {k: v for k, v in os.environ.items() if k != "SECURITYNET_TEST_POSTGRES_URL"}
    ray_cluster = LocalRayCluster({**env, "SECURITYNET_DB": NO_STORE})
    try:
        ray_cluster.start_head(num_cpus=1, resources={"head_slot": 1})
        ray_cluster.wait_started("head")
        ray_cluster.add_node("a", num_cpus=1, resources={"worker_slot": 1})
        ray_cluster.add_node("b", num_cpus=1, resources={"worker_slot": 1})
        ray_cluster.wait_started()
        yield ray_cluster
    finally:
        ray_cluster.shutdown()
    assert ray_cluster.leftovers() == [], "Ray processes outlived the cluster"


@pytest.fixture
def nodes(cluster: LocalRayCluster) -> dict[str, str]:
    """The cluster with all three nodes alive (a node killed by an earlier test is replaced): name -> node id."""
    missing = [name for name in ("a", "b") if name not in cluster.nodes]
    for name in missing:
        cluster.add_node(name, num_cpus=1, resources={"worker_slot": 1})
    cluster.wait_started(*missing)
    if missing or _NODE_IDS.get("cluster") != str(cluster.root):
        deadline = time.monotonic() + 60
        while len(alive := cluster.alive()) != 3 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert sorted(alive) == ["a", "b", "head"], alive
        _NODE_IDS.clear()
        _NODE_IDS.update(alive, cluster=str(cluster.root))
    return {name: _NODE_IDS[name] for name in ("a", "b", "head")}


@pytest.fixture(scope="module")
def models(tmp_path_factory, digits_train):
    """Twenty tiny digits models (different seeds and training lengths) and the folder holding their weights."""
    mirror = tmp_path_factory.mktemp("mirror")
    cards = [
        make_tiny_card(mirror, i, train_images=digits_train.images, train_labels=digits_train.labels, steps=4 * (i % 5))
        for i in range(MODELS)
    ]
    return mirror, cards


def _driver(cluster: LocalRayCluster, db_url: str, mirror: Path, home: Path, *args: str) -> tuple[list[str], dict]:
    """`securitynet evaluate` on the cluster, the store given as SECURITYNET_DB (which must not reach workers)."""
    env = {**os.environ, **cluster.driver_env(), "SECURITYNET_DB": db_url, "SECURITYNET_MIRROR": str(mirror),
           "SECURITYNET_CACHE": str(home / "cache"), "SECURITYNET_HOME": str(home / "home")}
    command = [CLI, "evaluate", "--executor", "ray", "--address", str(cluster.address), "--threads", "1",
               "--no-progress", *args]
    return command, env


def _slow_run(cluster: LocalRayCluster, models, db_url: str, tmp_path: Path):
    """The fault tests' store (six models), plan (two one-second probe jobs per model) and driver command."""
    mirror, cards = models
    store = Store(db_url)
    store.upsert_cards(cards[:SLOW_MODELS])
    plan = build_plan(cards[:SLOW_MODELS], "test.probe", seeds=2, params=SLOW_PARAMS)
    params = [arg for p in SLOW_PARAMS for arg in ("--param", p)]
    driver = _driver(cluster, db_url, mirror, tmp_path, "--models", "test/tiny_*", "--attacks", "test.probe",
                     "--seeds", "2", *params)
    return store, plan, driver


def _ran_on(store: Store) -> dict[str, str]:
    """Job key -> id of the Ray node that ran it, for the stored probe jobs."""
    jobs = store.jobs_frame(status="done")
    data = [d if isinstance(d, dict) else json.loads(d) for d in jobs.data_json]
    pairs = zip(jobs.job_key, data, strict=True)
    return {key: d["attack"]["ray_node"] for key, d in pairs if "ray_node" in d["attack"]}


def _assert_each_key_once(store: Store, keys: list[str]) -> None:
    jobs = store.jobs_frame()
    assert sorted(jobs.job_key) == sorted(keys)
    assert set(jobs.status) == {"done"}, jobs[jobs.status != "done"].error.tolist()


def _wait_for(condition, what: str, process: subprocess.Popen, output: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the run ended before {what}: {output.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} after {timeout:.0f} s: {output.read_text()[-3000:]}"
        time.sleep(0.1)


def test_cluster_run_equals_local_run(cluster, nodes, models, postgres_url, tmp_path, monkeypatch) -> None:
    mirror, cards = models
    store = Store(postgres_url)
    store.upsert_cards(cards)
    plan = build_plan(cards, ATTACKS, seeds=1, params=PARAMS)
    assert len(plan.keys) == 2 * MODELS

    params = [arg for p in PARAMS for arg in ("--param", p)]
    command, env = _driver(cluster, postgres_url, mirror, tmp_path / "ray", "--models", "test/tiny_*",
                           "--attacks", ATTACKS, *params)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{2 * MODELS} done, 0 failed" in done.stdout
    _assert_each_key_once(store, plan.keys)
    ran_on = set(_ran_on(store).values())
    # Every node usually gets models; a node whose first worker starts last may find the queue empty.
    assert len(ran_on) >= 2 and ran_on <= set(nodes.values()), "the models did not run on several nodes"

    for name in ("cache", "home"):
        monkeypatch.setenv(f"SECURITYNET_{name.upper()}", str(tmp_path / "local" / name))
    monkeypatch.setenv("SECURITYNET_MIRROR", str(mirror))
    local = Store(f"sqlite:///{tmp_path / 'local.sqlite'}")
    summary = execute_plan(build_plan(cards, ATTACKS, seeds=1, params=PARAMS, store=local), local, progress=False,
                           torch_threads=1)
    assert len(summary.done) == 2 * MODELS
    assert_same_results(sorted_results(local, plan), sorted_results(store, plan))


def test_killed_driver_then_rerun_stores_every_job_once(cluster, nodes, models, postgres_url, tmp_path) -> None:
    store, plan, (command, env) = _slow_run(cluster, models, postgres_url, tmp_path)
    output = tmp_path / "driver.log"
    with output.open("w") as out:
        first = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: store.finished_keys(), "a stored job", first, output)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    done_before = store.finished_keys()
    assert 1 <= len(done_before) < len(plan.keys)

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"{len(plan.keys) - len(done_before)} to run, {len(done_before)} already in the store" in second.stdout
    _assert_each_key_once(store, plan.keys)
    jobs = store.jobs_frame()
    assert done_before in list(jobs.groupby("run_id").job_key.apply(set))  # the killed run's jobs were kept
    with store.engine.connect() as conn:
        statuses = sorted(conn.execute(sa.select(schema.runs.c.status)).scalars())
    assert statuses == ["finished", "interrupted"]


def test_lost_node_jobs_finish_on_the_other_nodes(cluster, nodes, models, postgres_url, tmp_path) -> None:
    store, plan, (command, env) = _slow_run(cluster, models, postgres_url, tmp_path)
    output = tmp_path / "driver.log"
    with output.open("w") as out:
        run = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        # Node b has just stored the first job of a model: it is running that model's second job now (1 s).
        _wait_for(lambda: nodes["b"] in _ran_on(store).values(), "a job stored from node b", run, output)
        cluster.kill_node("b")
        run.wait(timeout=600)
    finally:
        run.kill()
    text = output.read_text()
    assert run.returncode == 0, text[-3000:]
    assert f"{2 * SLOW_MODELS} done, 0 failed" in text
    # Node b was killed one second into its model's second job: that job alone went to another node.
    assert "Ray lost its worker" in text and "resubmitted its 1 unreported job(s), attempt 2 of 3" in text
    _assert_each_key_once(store, plan.keys)
    on_b = [key for key, node in _ran_on(store).items() if node == nodes["b"]]
    assert 1 <= len(on_b) < 2 * SLOW_MODELS
