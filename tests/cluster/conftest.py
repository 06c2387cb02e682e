"""A 3-node NATS cluster with JetStream and its MQTT 3.1.1 listener, started by the tests (Debian's
``nats-server``; ``apt-get install -y nats-server``): three processes on free loopback ports, each with its
own configuration and JetStream store under the test's ``tmp_path``, routes to one another, and the MQTT
options a cluster needs for retained messages and persistent sessions to outlive a node
(``deploy/nats/README.md`` says why each one is there).

A node can be killed (SIGKILL: no goodbye, nothing flushed), stopped (SIGTERM) and started again on the
same ports and store. :meth:`NatsCluster.urls` gives every node's URL, a client's own node first, for a client that
fails over between them by itself."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from telemetry.broker import free_port
from telemetry.client import MqttClient

NATS_SERVER = Path("/usr/sbin/nats-server")
CLUSTER_NAME = "goldentime-test"
#: How long a node may take to join the cluster and see a JetStream meta leader.
READY_S = 30.0

#: The shipped template of a node's configuration: the tests run its ``mqtt {}`` options.
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "node.conf.example"


def template_mqtt_options(template: Path = TEMPLATE) -> dict[str, str]:
    """The options of the template's ``mqtt {}`` block (as written there), but where it listens and its TLS:
    replicas, ack_wait, max_ack_pending (deploy/nats/README.md says why each is there)."""
    found = re.search(r"^mqtt \{\n(.*?)^\}", template.read_text(), re.MULTILINE | re.DOTALL)
    assert found is not None, f"{template} has no mqtt {{}} block"
    options: dict[str, str] = {}
    for line in found.group(1).splitlines():
        key, colon, value = line.split("#", 1)[0].partition(":")
        if colon and key.strip() not in ("listen", "host", "port", "tls"):
            options[key.strip()] = value.strip()
    return options


@dataclass
class Node:
    """One nats-server of the cluster."""

    name: str
    directory: Path
    client_port: int
    cluster_port: int
    http_port: int
    mqtt_port: int
    process: subprocess.Popen[bytes] | None = None
    #: time.monotonic() of the last SIGKILL / SIGTERM
    downed_at: float | None = None

    @property
    def url(self) -> str:
        """Its MQTT listener, for :class:`telemetry.client.MqttClient`."""
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    @property
    def config(self) -> Path:
        return self.directory / "node.conf"

    @property
    def log(self) -> Path:
        return self.directory / "node.log"

    @property
    def store_dir(self) -> Path:
        return self.directory / "jetstream"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def monitor(self, path: str) -> dict[str, Any] | None:
        """A JSON page of the node's monitoring port (``/jsz``, ``/healthz``), None when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=2) as response:
                found = json.loads(response.read())
        except (OSError, ValueError, urllib.error.URLError):
            return None
        return found if isinstance(found, dict) else None

    def meta_leader(self) -> str | None:
        """The JetStream meta leader this node knows of (None: none, or the node does not answer)."""
        page = self.monitor("/jsz")
        meta = (page or {}).get("meta_cluster") or {}
        leader = meta.get("leader")
        return leader if isinstance(leader, str) and leader else None

    def accepts_mqtt(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=1):
            return True
        return False

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"


@dataclass
class NatsCluster:
    """Three (``size``) nats-server processes routed to one another, JetStream and MQTT on each."""

    root: Path
    size: int = 3
    #: The ``mqtt {}`` options of every node, written as given (the template's by default).
    mqtt_options: dict[str, str] = field(default_factory=template_mqtt_options)
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        taken: set[int] = set()

        def port() -> int:
            while (found := free_port()) in taken:
                pass
            taken.add(found)
            return found

        for i in range(self.size):
            name = f"n{i + 1}"
            directory = self.root / name
            directory.mkdir(parents=True, exist_ok=True)
            self.nodes.append(Node(name, directory, port(), port(), port(), port()))
        for node in self.nodes:
            node.config.write_text(self.config_text(node))

    def config_text(self, node: Node) -> str:
        """The configuration of ``node``: deploy/nats/node.conf.example's, on loopback ports and in ``root``."""
        routes = ", ".join(f"nats-route://127.0.0.1:{n.cluster_port}" for n in self.nodes)
        mqtt = "\n".join(f"  {key}: {value}" for key, value in self.mqtt_options.items())
        return (
            f"# node {node.name} of a GoldenTime test cluster (written by tests/cluster/conftest.py)\n"
            f"server_name: {node.name}\n"
            f"listen: 127.0.0.1:{node.client_port}\n"
            f"http: 127.0.0.1:{node.http_port}\n"
            f"jetstream {{\n  store_dir: {json.dumps(str(node.store_dir))}\n"
            f"  max_memory_store: 64MB\n  max_file_store: 1GB\n}}\n"
            f"cluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{node.cluster_port}\n  routes: [{routes}]\n}}\n"
            f"mqtt {{\n  listen: 127.0.0.1:{node.mqtt_port}\n{mqtt}\n}}\n"
        )

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    @property
    def alive(self) -> list[Node]:
        return [n for n in self.nodes if n.alive]

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self, node: Node | None = None) -> NatsCluster:
        """Start ``node`` (every node when None) and wait until every live node is ready."""
        for n in [node] if node is not None else self.nodes:
            assert not n.alive, f"{n.name} is running"
            n.downed_at = None
            with n.log.open("ab") as sink:
                n.process = subprocess.Popen([str(NATS_SERVER), "-c", str(n.config)], stdout=sink,
                                             stderr=subprocess.STDOUT, cwd=n.directory)  # fmt: skip
        self.wait_ready()
        # One node after the other: NATS 2.9.10 warns of "stream replicas mismatch: current is 4" when three nodes
        # set up the MQTT streams at once.
        for n in [node] if node is not None else self.nodes:
            self.warm_up(n)
        return self

    def warm_up(self, node: Node) -> None:
        """Connect one MQTT client to ``node`` and leave. A node sets up its MQTT state of an account (the
        account's streams if missing, and its own consumer of the retained messages) at the first MQTT
        connection it serves; done while a peer is dead, those JetStream requests time out (4 s each) and
        the first clients of that node are refused for 15 s or more. Warmed up at start, it has it ready."""
        MqttClient(node.url, f"warm-up-{node.name}-{uuid.uuid4().hex[:8]}").start(READY_S).stop()

    def wait_ready(self, timeout_s: float = READY_S) -> None:
        """Wait until every live node sees the same JetStream meta leader (one of the live nodes), is
        healthy and accepts MQTT connections."""
        deadline = time.monotonic() + timeout_s
        while True:
            problem = self._not_ready()
            if problem is None:
                return
            if time.monotonic() >= deadline:
                tails = "\n".join(f"--- {n.name} ---\n{n.tail()}" for n in self.nodes)
                raise AssertionError(f"NATS cluster not ready in {timeout_s:g} s: {problem}\n{tails}")
            time.sleep(0.1)

    def _not_ready(self) -> str | None:
        live = self.alive
        for n in self.nodes:
            if n.process is not None and n.process.poll() is not None and n.downed_at is None:
                return f"{n.name} exited with {n.process.returncode}"
        names = {n.name for n in live}
        leaders = {n.name: n.meta_leader() for n in live}
        if any(leader not in names for leader in leaders.values()) or len(set(leaders.values())) != 1:
            return f"meta leaders seen: {leaders}"
        for n in live:
            health = n.monitor("/healthz")
            if not health or health.get("status") != "ok":
                return f"{n.name} health: {health}"
            if not n.accepts_mqtt():
                return f"{n.name} does not accept MQTT connections"
        return None

    def kill(self, node: Node) -> float:
        """SIGKILL ``node`` (a crash: no goodbye to clients or peers); returns time.monotonic() of the kill."""
        assert node.process is not None and node.alive, f"{node.name} is not running"
        node.downed_at = time.monotonic()
        os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait(10)
        return node.downed_at

    def stop(self, node: Node) -> float:
        """SIGTERM ``node`` (an orderly shutdown); returns time.monotonic() when it was asked to stop."""
        assert node.process is not None and node.alive, f"{node.name} is not running"
        node.downed_at = time.monotonic()
        node.process.terminate()
        node.process.wait(20)
        return node.downed_at

    def close(self) -> None:
        """Kill every node still running (their stores go with the test's tmp_path)."""
        for n in self.nodes:
            if n.process is not None and n.process.poll() is None:
                n.process.kill()
                n.process.wait(10)

    def leader_of(self, stream: str) -> Node:
        """The node that leads ``stream`` (an MQTT stream: ``$MQTT_msgs``, ``$MQTT_rmsgs``, ``$MQTT_sess``)."""
        deadline = time.monotonic() + READY_S
        while (leader := self.streams().get(stream, {}).get("leader")) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert leader is not None, f"{stream} has no leader: {self.streams()}"
        return self.node(leader)

    def others(self, node: Node) -> list[Node]:
        return [n for n in self.nodes if n is not node]

    def urls(self, *first: Node) -> str:
        """Every node's MQTT URL, separated by commas as ``GOLDENTIME_MQTT_URL`` takes them, ``first`` first (in
        that order) and the others after: what a client is given in a deployment, its own node first. The client
        fails over along this order by itself."""
        return ",".join(n.url for n in [*first, *(n for n in self.nodes if n not in first)])

    def node_at(self, port: int) -> Node:
        """The node whose MQTT listener is on ``port`` (where a client is connected: ``client.address.port``)."""
        return next(n for n in self.nodes if n.mqtt_port == port)

    def streams(self) -> dict[str, dict[str, Any]]:
        """The MQTT streams and their consumers as a live node sees them (for diagnostics and asserts):
        stream name -> {"replicas", "leader", "messages", "consumers": {name: {"replicas", "leader"}}}."""
        for n in self.alive:
            page = n.monitor("/jsz?accounts=true&streams=true&consumers=true&config=true")
            if page is None:
                continue
            found: dict[str, dict[str, Any]] = {}
            for account in page.get("account_details") or []:
                for stream in account.get("stream_detail") or []:
                    consumers = {
                        c["name"]: {"replicas": c["config"].get("num_replicas"),
                                    "leader": (c.get("cluster") or {}).get("leader")}
                        for c in stream.get("consumer_detail") or []
                    }  # fmt: skip
                    found[stream["name"]] = {
                        "replicas": stream["config"].get("num_replicas"),
                        "leader": (stream.get("cluster") or {}).get("leader"),
                        "messages": stream["state"]["messages"],
                        "consumers": consumers,
                    }
            return found
        return {}


@pytest.fixture
def nats_server() -> Path:
    """Debian's nats-server."""
    if not NATS_SERVER.exists():
        pytest.fail(f"{NATS_SERVER} is absent: the cluster tests need Debian's nats-server "
                    "(make test installs it: apt-get install -y nats-server)")  # fmt: skip
    return NATS_SERVER


@pytest.fixture
def nats_cluster(nats_server: Path, tmp_path: Path) -> Iterator[NatsCluster]:
    """A fresh 3-node cluster for one test (they kill nodes), ready: meta leader elected, MQTT accepted on every
    node."""
    cluster = NatsCluster(tmp_path / "nats")
    try:
        yield cluster.start()
    finally:
        cluster.close()
