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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_mosquitto(config: Path = CONFIG) -> Iterator[str]:
    """Run ``mosquitto`` with ``config`` (its listeners replaced by one loopback port); yields its URL."""
    binary = shutil.which("mosquitto")
    if binary is None:
        raise RuntimeError("--mosquitto needs the mosquitto binary on PATH (apt-get install mosquitto)")
    port = _free_port()
    kept = [line for line in config.read_text().splitlines() if not line.strip().startswith(("listener", "port"))]
    with tempfile.TemporaryDirectory() as tmp:
        made = write_broker_files(Path(tmp), [Account(Role.ADMIN)])
        conf = Path(tmp) / "mosquitto.conf"
        # `user`: started as root, Mosquitto would switch to `mosquitto`, which cannot read this directory.
        conf.write_text("\n".join([f"listener {port} 127.0.0.1", f"user {getpass.getuser()}", *kept, ""]))
        # cwd: Mosquitto opens the config's passwd and acl relative to where it starts.
        process = subprocess.Popen(
            [binary, "-c", str(conf)], cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                        raise RuntimeError(f"mosquitto did not start with {config}: {err.strip()[:300]}") from None
                    time.sleep(0.05)
            url = f"mqtt://{userinfo('admin', made['admin'])}@127.0.0.1:{port}"
            LABELS[url] = f"Mosquitto with {config.parent.parent.name}/{config.parent.name}/{config.name}"
            yield url
        finally:
            process.terminate()
            process.wait(10)
