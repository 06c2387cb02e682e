"""A private Mosquitto started from the shipped configuration (``deploy/mosquitto/mosquitto.conf``),
on a free loopback port, for the benchmarks' ``--mosquitto``: its password file and ACL are made
in a temporary directory, with one ``admin`` account whose throwaway password is in the URL."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from goldentime.mqtt_users import userinfo, write_broker_files
from telemetry.access import Account, Role

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"
#: url -> how the reports name that broker
LABELS: dict[str, str] = {}


def label(url: str, fallback: str) -> str:
    return LABELS.get(url, fallback)


def judged(broker: str) -> bool:
    """Whether a goal set "on Mosquitto" is judged on the broker a report names ``broker``: on Mosquitto with
    the shipped configuration (the one we deploy) when this run started one (``--mosquitto``), else on any
    Mosquitto. A Mosquitto on its stock settings is then shown beside it for comparison: those drop QoS 1
    messages past 1,000 queued for a client and hold small packets back (Nagle)."""
    if LABELS:
        return broker in LABELS.values()
    return "mosquitto" in broker.lower()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_mosquitto(directory: Path, port: int, *, listeners: list[str] | None = None,
                    config: Path = CONFIG) -> subprocess.Popen[bytes]:  # fmt: skip
    """``config`` with its listeners replaced by ``127.0.0.1:port`` (or by ``listeners``), started in
    ``directory`` (where its relative password_file and acl_file are, and its persistence file goes; started
    again on the same directory and port, it takes up where it stopped) as this user (started by root,
    Mosquitto would become user ``mosquitto``, which cannot read a private temporary directory); returns
    once the port answers. Its log goes to ``directory/mosquitto.log``: a pipe nobody reads would fill
    and stop the broker mid-run."""
    binary = shutil.which("mosquitto")
    if binary is None:
        raise RuntimeError("this needs Mosquitto 2 on PATH (apt-get install mosquitto)")
    replaced = ("listener", "port", "persistence_location")
    kept = [line for line in config.read_text().splitlines() if not line.strip().startswith(replaced)]
    own = [*(listeners or [f"listener {port} 127.0.0.1"]), f"user {getpass.getuser()}",
           f"persistence_location {directory.resolve()}/"]  # fmt: skip
    (directory / "mosquitto.conf").write_text("\n".join([*own, *kept, ""]))
    log = directory / "mosquitto.log"
    with log.open("ab") as sink:
        process = subprocess.Popen([binary, "-c", "mosquitto.conf"], cwd=directory, stdout=sink, stderr=sink)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait(10)
                raise RuntimeError(f"mosquitto did not start with {config}: {log.read_text()[-600:].strip()}") from None
            time.sleep(0.05)


@contextmanager
def private_mosquitto(config: Path = CONFIG) -> Iterator[str]:
    """Run ``mosquitto`` with ``config`` (its listeners replaced by one loopback port); yields its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        made = write_broker_files(Path(tmp), [Account(Role.ADMIN)])
        process = start_mosquitto(Path(tmp), port, config=config)
        try:
            url = f"mqtt://{userinfo('admin', made['admin'])}@127.0.0.1:{port}"
            LABELS[url] = f"Mosquitto with {config.parent.parent.name}/{config.parent.name}/{config.name}"
            yield url
        finally:
            LABELS.pop(url, None)
            process.terminate()
            process.wait(10)
