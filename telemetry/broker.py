"""The embedded MQTT broker (amqtt), for one-command runs with nothing installed.

It runs on its own asyncio loop in a background thread, bound to 127.0.0.1 on a free
port (never 1883, which belongs to a real broker). Production uses Mosquitto or EMQX at
``GOLDENTIME_MQTT_URL`` instead.

It lets everyone in by default (the demo, the tests). Given a Mosquitto password file it
enforces :mod:`telemetry.access` instead, the rules deploy/mosquitto/ gives Mosquitto
(:mod:`telemetry.broker_auth`).

It speaks MQTT 3.1.1: a CONNECT of another protocol level (an MQTT 5 client trying first) gets a
CONNACK "unacceptable protocol level" at once, and the client may fall back to 3.1.1
(:class:`telemetry.client.MqttClient` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from amqtt.adapters import BufferReader
from amqtt.broker import Broker
from amqtt.codecs_amqtt import read_or_raise
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.connack import UNACCEPTABLE_PROTOCOL_VERSION, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.utils import gen_client_id

from telemetry import broker_delivery, passwords
from telemetry.broker_delivery import in_background
from telemetry.errors import TelemetryError

log = logging.getLogger(__name__)

STANDARD_PORT = 1883
#: The protocol level of MQTT 3.1.1, the only one amqtt speaks (MQTT 5 is 5).
MQTT_311 = 4
#: Ends the error of a CONNECT refused for its protocol level (amqtt logs it; :func:`_quiet_amqtt` does not).
_LEVEL_REFUSED = "this broker speaks MQTT 3.1.1"


def _not_said_otherwise(record: logging.LogRecord) -> bool:
    """False for amqtt's lines that this module says otherwise: a CONNECT refused for its protocol level (logged
    here at info) and a failed start, with its traceback (:class:`BrokerStartError` names the cause)."""
    message = record.getMessage()
    return _LEVEL_REFUSED not in message and message != "Broker startup failed"


def _quiet_amqtt() -> None:
    """amqtt logs every message's payload at debug level, and payloads are patient data: keep its
    loggers at info or above whatever the root logger's level (``goldentime -v``, pytest's caplog).
    Two of amqtt's lines are left out (:func:`_not_said_otherwise`): a client negotiating its MQTT version is
    no warning, and a failed start is one line, not a traceback."""
    amqtt_log = logging.getLogger("amqtt")
    if amqtt_log.level < logging.INFO:
        amqtt_log.setLevel(logging.INFO)
    broker_log = logging.getLogger("amqtt.broker")
    if _not_said_otherwise not in broker_log.filters:
        broker_log.addFilter(_not_said_otherwise)


async def _read_packet(reader: Any) -> bytes:
    """The whole of the next packet: its fixed header and the number of bytes its remaining length says."""
    packet: bytes = await read_or_raise(reader, 1)
    length, multiplier = 0, 1
    for _ in range(4):
        byte: bytes = await read_or_raise(reader, 1)
        packet += byte
        length += (byte[0] & 0x7F) * multiplier
        if not byte[0] & 0x80:
            rest: bytes = await read_or_raise(reader, length) if length else b""
            return packet + rest
        multiplier *= 128
    raise MQTTError(f"invalid remaining length in the first packet ({packet.hex()})")


def protocol_level(packet: bytes) -> int | None:
    """The protocol level a CONNECT packet asks for (4: MQTT 3.1.1, 5: MQTT 5); None for another packet or
    one too short to say."""
    if packet[0] >> 4 != 1:
        return None
    start = 2
    while start <= len(packet) and packet[start - 1] & 0x80:  # the remaining length's bytes
        start += 1
    if len(packet) < start + 2:
        return None
    at = start + 2 + int.from_bytes(packet[start : start + 2], "big")  # after the protocol name
    return packet[at] if at < len(packet) else None


class BrokerStartError(TelemetryError, RuntimeError):
    """The embedded broker could not start."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (and is not 1883)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port != STANDARD_PORT:
            return port


def _config(host: str, port: int, password_file: Path | None) -> dict[str, Any]:
    plugins: dict[str, dict[str, str]] = {f"{__name__}.OpenAccessPlugin": {}}
    if password_file is not None:
        plugins = {
            "telemetry.broker_auth.PasswordFilePlugin": {"password_file": str(password_file)},
            "telemetry.broker_auth.AccessRulesPlugin": {},
        }
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        # No $SYS publisher or packet logger: they cost throughput and nobody reads them.
        "plugins": plugins,
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


def _close_when_silent(handler: BrokerProtocolHandler) -> None:
    """amqtt 0.12 notices a client silent past its keep-alive and does nothing: end the connection
    as an abnormal one, so the broker publishes the client's Last Will (a unit shows offline)."""
    in_background(handler.handle_connection_closed(), "closing a silent connection")


def patch_amqtt() -> None:
    """Mend amqtt 0.12 where :class:`_Broker` cannot by overriding: a silent client's connection is closed
    (:func:`_close_when_silent`) and QoS 1 messages are kept until acknowledged (:mod:`telemetry.broker_delivery`).
    These patch amqtt's ``BrokerProtocolHandler`` for the whole process, so only :meth:`EmbeddedBroker.start`
    applies them, never an import. Idempotent."""
    BrokerProtocolHandler.handle_read_timeout = _close_when_silent
    broker_delivery.install()


def amqtt_patched() -> bool:
    """Whether :func:`patch_amqtt` has run in this process."""
    return BrokerProtocolHandler.handle_read_timeout is _close_when_silent and broker_delivery.installed()


class _Subscriptions(dict[str, list[tuple[Any, int]]]):
    """amqtt's table of topic filter -> [(session, qos)], whose ``items()`` is a snapshot.

    amqtt 0.12 hands a message to its subscribers by iterating this table and its lists, and with
    access rules it awaits the topic plugin for every subscriber on the way. A session cleaned up
    meanwhile (the session monitor ends a disconnected clean session every second) pops its entry
    from a list, so the iteration skips the next subscriber: that subscriber never gets the message,
    QoS 1 or not (about 1 in 6,000 under load, test_broker_auth.py); a filter added or removed
    meanwhile ends the iteration with an error and every later subscriber misses it. Iterating a
    copy, each message goes to exactly the subscribers there were when it was broadcast."""

    def items(self) -> list[tuple[str, list[tuple[Any, int]]]]:  # type: ignore[override]
        return [(topic_filter, list(subscribers)) for topic_filter, subscribers in super().items()]


class _Broker(Broker):  # type: ignore[misc]
    """amqtt's broker, keeping hold of its client connections so that shutdown can close them, and
    mended where amqtt 0.12 would let a client around the access rules (see the two overrides) or
    skip a subscriber (:class:`_Subscriptions`)."""

    def __init__(self, *args: Any, authenticating: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subscriptions = _Subscriptions()
        self.connections: set[asyncio.StreamWriter] = set()
        self.authenticating = authenticating

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

    async def _initialize_client_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> tuple[Any, Any]:
        """The session of a new connection; silent for 1.5 × its keep-alive, it is closed (MQTT
        3.1.1 §3.1.2.10) and its Last Will goes out (:func:`_close_when_silent`); its QoS 1 messages
        are kept until acknowledged (:mod:`telemetry.broker_delivery`).

        amqtt reads a CONNECT field by field from the connection: one with MQTT 5 properties sends it reading past
        the packet, waiting for bytes that never come (the client gets no answer). So the whole packet is read
        first, by its length; a protocol level other than 3.1.1 is answered at once, as MQTT 3.1.1 §3.1.2.2
        says (CONNACK return code 1, then the connection closes), and amqtt parses the rest from that packet."""
        connect = await _read_packet(reader)
        level = protocol_level(connect)
        if level is not None and level != MQTT_311:
            with contextlib.suppress(OSError):  # the client may be gone already
                await ConnackPacket.build(0, UNACCEPTABLE_PROTOCOL_VERSION).to_stream(writer)
                await writer.close()
            log.info("refused a CONNECT of protocol level %d from %s:%s (MQTT 3.1.1 only)", level, remote_address,
                     remote_port)  # fmt: skip
            raise MQTTError(f"protocol level {level} from {remote_address}:{remote_port}: {_LEVEL_REFUSED}")
        handler, session = await self._checked_session(BufferReader(connect), writer, remote_address, remote_port)
        broker_delivery.belongs_to(handler, self)
        if session.keep_alive > 0:
            session.keep_alive = math.ceil(1.5 * session.keep_alive)  # the broker's read timeout, not sent back
        return handler, session

    async def _checked_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> tuple[Any, Any]:
        """amqtt 0.12 looks the client id up before it authenticates: a clean-session CONNECT
        deletes the session of that id, and a persistent one takes it over, replacing its
        username and Last Will, all before the password is checked; a stranger could so take a
        service offline or plant a Last Will. When authenticating, check the CONNECT first,
        then do what amqtt does."""
        if not self.authenticating:
            return await super()._initialize_client_session(reader, writer, remote_address, remote_port)  # type: ignore[no-any-return]
        try:
            handler, session = await BrokerProtocolHandler.init_from_connect(reader, writer, self.plugins_manager)
        except MQTTError:
            await writer.close()
            raise
        except NoDataError as exc:
            raise AMQTTError(exc) from exc
        if not await self._authenticate(session, None):
            session.parent = 0
            handler.attach(session, reader, writer)
            await handler.mqtt_connack_authorize(False)
            await writer.close()
            raise AMQTTError(f"client {session.client_id!r} not authorized")
        if session.clean_session:
            if session.client_id:
                await self._delete_session(session.client_id)
            else:
                session.client_id = gen_client_id()
            session.parent = 0
        elif session.client_id in self._sessions:
            existing = self._sessions[session.client_id][0]
            for name in ("will_flag", "will_message", "will_topic", "will_qos", "will_retain", "keep_alive"):
                setattr(existing, name, getattr(session, name))
            existing.username, existing.password = session.username, session.password
            session = existing
            session.parent = 1
        else:
            session.parent = 0
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return handler, session

    async def _publish_session_retained_messages(self, session: Any) -> None:
        """Send what a persistent session kept while it was away. amqtt waits here for every one's
        PUBACK before it reads the client's next packet, so a client that acknowledges only after its
        own work, or after its SUBSCRIBE is answered, stalls its connection: send them and go on (each
        is kept until acknowledged, :mod:`telemetry.broker_delivery`), as ordinary deliveries (not retained)."""
        handler = self._get_handler(session)
        while handler is not None and not session.retained_messages.empty():
            kept = session.retained_messages.get_nowait()
            sending = handler.mqtt_publish(kept.topic, kept.data, kept.qos, retain=False)
            in_background(sending, "sending a message kept for a session")

    async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int], session: Any) -> None:
        """amqtt sends retained messages without asking the topic plugins, and on every connect
        does so for the filters of *every* client (still held by sessions long gone): send only
        for this session's own filters, and only what it may receive."""
        topic_filter, qos = subscription
        handler = self._get_handler(session)
        mine = any(s.client_id == session.client_id for s, _ in self._subscriptions.get(topic_filter, ()))
        if handler is None or not mine:
            return
        sends: list[asyncio.Future[Any]] = []
        for topic, retained in list(self._retained_messages.items()):
            if self._matches(topic, topic_filter) and await self._topic_filtering(session, topic, Action.RECEIVE):
                sends.append(
                    asyncio.ensure_future(
                        handler.mqtt_publish(topic, retained.data, min(qos, retained.qos or qos), retain=True)
                    )
                )
        if sends:
            await asyncio.wait(sends)


class EmbeddedBroker:
    """Start with :meth:`start` (or ``with EmbeddedBroker() as broker:``); ``url`` is where it listens.

    ``password_file`` (Mosquitto's format, ``goldentime mqtt users create``) makes it refuse
    everyone but those accounts and hold each to :mod:`telemetry.access`."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, password_file: Path | None = None) -> None:
        if port == STANDARD_PORT:
            raise BrokerStartError("the embedded broker never takes port 1883; leave it to a real broker")
        self.host = host
        self.port = port or free_port(host)
        self.password_file = password_file
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: _Broker | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        if self._thread is not None:
            return self
        _quiet_amqtt()
        patch_amqtt()
        if self.password_file is not None:
            try:
                passwords.read(self.password_file)
            except (OSError, ValueError) as exc:
                raise BrokerStartError(f"cannot read the MQTT password file {self.password_file}: {exc}") from None
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
            config = _config(self.host, self.port, self.password_file)
            self._broker = _Broker(config, loop=loop, authenticating=self.password_file is not None)
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
