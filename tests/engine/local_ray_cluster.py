"""A Ray cluster of separate `ray start` processes on 127.0.0.1, for tests: a head and worker nodes.

Each node is one `ray start --block` in its own session (setsid) with its own temporary folder, so a
test can kill one node outright (SIGKILL to every process of the session, as a machine that loses power)
and the teardown leaves no Ray process behind. The session, not the process group: Ray puts each task
worker in a process group of its own, and renames it (`ray::IDLE`), so neither group nor command line
finds it. Nothing here touches another Ray on the machine: no `ray stop` (it
stops every Ray of the user), only processes of this cluster's folders. Ports are chosen free, the
dashboard is off, and an authentication token of the cluster's own keeps other drivers out.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
# Ray notices a lost node after health checks fail this often at this period (default: about 30 s).
_FAST_NODE_DEATH = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 3,
}
_OBJECT_STORE_BYTES = 100 * 1024 * 1024  # tiny models: the default (30 % of memory) would be wasted
_NAME_RESOURCE = "sn_node_"  # every node gets the resource sn_node_<name>: 1, so its id can be told by name
# Run as a short-lived driver: prints {name: node id} of the alive nodes.
_ALIVE_SCRIPT = """
import json, sys, ray
ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False)
prefix = sys.argv[2]
print(json.dumps({k[len(prefix):]: n["NodeID"] for n in ray.nodes() if n["Alive"]
                  for k in n["Resources"] if k.startswith(prefix)}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RayNode:
    name: str
    process: subprocess.Popen
    temp_dir: Path
    log: Path

    def pids(self) -> list[int]:
        """Every live process of this node: `ray start`, raylet, agents and task workers (its session)."""
        return [pid for pid, (session, _) in _processes().items() if session == self.process.pid]


class LocalRayCluster:
    """Start with `start_head`, add nodes with `add_node`, always `shutdown` (kills whatever is left)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="snray-", dir="/tmp"))  # short: Ray's socket paths are limited
        self.env = {**env, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
                    "RAY_AUTH_TOKEN": secrets.token_hex(16)}
        self.env.pop("RAY_ADDRESS", None)
        self.env.pop("RAY_AUTH_TOKEN_PATH", None)
        self.nodes: dict[str, RayNode] = {}
        self.sessions: set[int] = set()
        self.started: list[str] = []
        self.address: str | None = None

    def driver_env(self) -> dict[str, str]:
        """What a driver (`securitynet evaluate --address`) needs to join this cluster."""
        return {k: self.env[k] for k in ("RAY_USAGE_STATS_ENABLED", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}

    def start_head(self, *, num_cpus: int = 1, resources: dict[str, float] | None = None,
                   env: dict[str, str] | None = None) -> RayNode:
        port = free_port()
        head = ["--head", "--port", str(port), "--include-dashboard", "false", "--dashboard-port", str(free_port()),
                "--system-config", json.dumps(_FAST_NODE_DEATH)]
        node = self._start("head", head, num_cpus=num_cpus, resources=resources, env=env)
        self.address = f"127.0.0.1:{port}"
        return node

    def add_node(self, name: str, *, num_cpus: int = 1, resources: dict[str, float] | None = None,
                 env: dict[str, str] | None = None) -> RayNode:
        assert self.address is not None, "start the head first"
        return self._start(name, ["--address", self.address], num_cpus=num_cpus, resources=resources, env=env)

    def _start(self, name: str, role: list[str], *, num_cpus: int, resources: dict[str, float] | None,
               env: dict[str, str] | None) -> RayNode:
        temp_dir = self.root / f"{name}.{len(self.started)}"  # a node started again (same name) gets a new folder
        temp_dir.mkdir()
        log = self.root / f"{temp_dir.name}.log"
        command = [
            RAY, "start", *role, "--block", "--node-ip-address", "127.0.0.1", "--temp-dir", str(temp_dir),
            "--num-cpus", str(num_cpus), "--num-gpus", "0", "--resources",
            json.dumps({**(resources or {}), f"{_NAME_RESOURCE}{name}": 1}),
            "--object-store-memory", str(_OBJECT_STORE_BYTES),
            "--dashboard-agent-listen-port", str(free_port()), "--min-worker-port", "0", "--max-worker-port", "0",
            "--disable-usage-stats",
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(command, env={**self.env, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        node = RayNode(name, process, temp_dir, log)
        self.nodes[name] = node
        self.started.append(name)
        self.sessions.add(process.pid)  # start_new_session: the session id is the pid
        return node

    def wait_started(self, *names: str, timeout: float = 120) -> None:
        """Until each node's `ray start` says the node runs (it has registered with the head by then)."""
        deadline = time.monotonic() + timeout
        waiting = set(names or self.nodes)
        while waiting:
            for name in list(waiting):
                node = self.nodes[name]
                if "Ray runtime started" in node.log.read_text(errors="replace"):
                    waiting.discard(name)
                elif node.process.poll() is not None:
                    raise AssertionError(f"ray node {name} exited ({node.process.returncode}): {self.log_tail(name)}")
            if waiting and time.monotonic() > deadline:
                raise AssertionError(f"ray nodes {sorted(waiting)} did not start in {timeout:.0f} s: "
                                     + " | ".join(self.log_tail(n) for n in sorted(waiting)))
            time.sleep(0.2)

    def alive(self) -> dict[str, str]:
        """Node name -> Ray node id of the nodes the head counts as alive (asked through a short-lived driver)."""
        command = [sys.executable, "-c", _ALIVE_SCRIPT, str(self.address), _NAME_RESOURCE]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise AssertionError(f"could not ask the Ray head for its nodes: {done.stderr[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def kill_node(self, name: str) -> None:
        """SIGKILL every process of the node at once: its raylet and the task workers it was running."""
        node = self.nodes.pop(name)
        _kill_all(node.pids)
        node.process.wait(timeout=30)
        # Its session id is free for reuse once `ray start` is reaped: never look for it again.
        self.sessions.discard(node.process.pid)

    def log_tail(self, name: str, chars: int = 1500) -> str:
        return self.nodes[name].log.read_text(errors="replace")[-chars:]

    def shutdown(self) -> None:
        """Kill every node (worker nodes first) and anything left of this cluster; remove its folder."""
        for name in sorted(self.nodes, key=lambda n: n == "head"):
            self.kill_node(name)
        _kill_all(self.leftovers)
        shutil.rmtree(self.root, ignore_errors=True)

    def leftovers(self) -> list[int]:
        """Live processes of this cluster: in the session of a running node, or naming the cluster's folder."""
        root = str(self.root)
        return [pid for pid, (session, command) in _processes().items()
                if session in self.sessions or root in command]


def _processes() -> dict[int, tuple[int, str]]:
    """Live processes (zombies left out) but this one: pid -> (session id, command line), from Linux /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, ...
        except OSError:
            continue
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[3]), command)
    return found


def _kill_all(find: Callable[[], list[int]], timeout: float = 30) -> None:
    """SIGKILL what ``find`` lists until it lists nothing: a raylet may start a worker while the others die."""
    deadline = time.monotonic() + timeout
    while pids := find():
        if time.monotonic() > deadline:
            raise AssertionError(f"Ray processes {pids} survived SIGKILL for {timeout:.0f} s")
        for pid in pids:
            _kill(pid)
        time.sleep(0.05)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
