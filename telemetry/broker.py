"""The embedded MQTT broker (amqtt), for one-command runs with nothing installed.

It runs on its own asyncio loop in a background thread, bound to 127.0.0.1 on a free
port (never 1883, which belongs to a real broker). Production uses Mosquitto or EMQX at
``GOLDENTIME_MQTT_URL`` instead.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin

log = logging.getLogger(__name__)

STANDARD_PORT = 1883


class BrokerStartError(RuntimeError):
    """The embedded broker could not start."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (and is not 1883)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port != STANDARD_PORT:
            return port


def _config(host: str, port: int) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        # No $SYS publisher or packet logger: they cost throughput and nobody reads them.
        "plugins": {f"{__name__}.OpenAccessPlugin": {}},
    }


class OpenAccessPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Lets every client in. Unlike amqtt's AnonymousAuthPlugin it does not mark sessions
    anonymous, because amqtt drops the queued QoS 1 messages of anonymous persistent
    sessions: a recorder that reconnects must get what was published while it was away."""

    @dataclass
    class Config:
        pass

    async def authenticate(self, *, session: Any) -> bool:
        return True


class _Broker(Broker):  # type: ignore[misc]
    """amqtt's broker, keeping hold of its client connections so that shutdown can close them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[asyncio.StreamWriter] = set()

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        self.connections.add(writer)
        try:
            await super().stream_connected(reader, writer, listener_name)
        finally:
            self.connections.discard(writer)

    async def close(self, timeout_s: float) -> None:
        """Stop listening, drop every connection, then shut down.

        amqtt alone closes its listeners only after it has ended every session, and on
        Python 3.11 a session whose reader is cancelled mid-read can keep waiting forever
        (asyncio.wait_for swallowing the cancellation); dropping the connections first
        ends every session's read with end-of-file instead."""
        for server in self._servers.values():
            if server.instance is not None:
                server.instance.close()
        for writer in list(self.connections):
            writer.transport.abort()
        await asyncio.wait_for(self.shutdown(), timeout_s)


class EmbeddedBroker:
    """Start with :meth:`start` (or ``with EmbeddedBroker() as broker:``); ``url`` is where it listens."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        if port == STANDARD_PORT:
            raise BrokerStartError("the embedded broker never takes port 1883; leave it to a real broker")
        self.host = host
        self.port = port or free_port(host)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: _Broker | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        if self._thread is not None:
            return self
        started: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(started,), name="embedded-broker", daemon=True)
        self._thread.start()
        try:
            started.result(timeout_s)
        except Exception as exc:
            self._thread = None
            raise BrokerStartError(f"embedded broker did not start on {self.host}:{self.port}: {exc}") from exc
        log.info("embedded MQTT broker listening on %s", self.url)
        return self

    def _run(self, started: Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._broker = _Broker(_config(self.host, self.port), loop=loop)
            loop.run_until_complete(self._broker.start())
        except Exception as exc:
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        loop, thread, broker = self._loop, self._thread, self._broker
        if loop is None or thread is None or broker is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(broker.close(timeout_s / 2), loop).result(timeout_s)
        except Exception:
            log.exception("embedded broker did not shut down cleanly")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        self._thread = self._loop = self._broker = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
