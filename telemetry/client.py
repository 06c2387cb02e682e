"""The one wrapper over paho-mqtt. Paho's types and errors never leave this module.

- connects in the background with retry and exponential back-off, and keeps reconnecting;
- speaks MQTT 5 or 3.1.1 as asked, or negotiates: MQTT 5 first, 3.1.1 when the broker refuses
  that protocol level (the embedded amqtt broker does); :attr:`MqttClient.protocol` says which;
- a first connection that fails names the broker and the cause (refused, name not resolved,
  timeout, not authorised, protocol) in its :class:`ConnectError`;
- re-subscribes every filter after each reconnect;
- publishes with the QoS and retain flag of the contract (:mod:`telemetry.topics`);
- sets a retained Last Will (``offline`` status) for units;
- delivers messages as :class:`Message` values; a callback that raises is logged and the
  loop goes on;
- optional manual acknowledgement, so a consumer acknowledges a QoS 1 message only once
  it is safely stored;
- safe to call from several threads.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from telemetry import schemas, topics
from telemetry.errors import TelemetryError as TelemetryError  # re-exported: callers import it from here

log = logging.getLogger(__name__)


class BrokerUrlError(TelemetryError, ValueError):
    """A broker URL that cannot be used."""


class ConnectError(TelemetryError):
    """The broker could not be reached in time, or it refused the connection. The message names the
    broker (never the account or password its URL carries) and the cause."""


class PublishError(TelemetryError):
    """A message could not be handed to the broker."""


def redacted(url: str) -> str:
    """``url`` as it may be printed: the password it carries, if any, replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if "@" not in rest:
        return url
    account, host = rest.rsplit("@", 1)  # a password may hold an unencoded "/" or "@": all of it goes
    user, colon, _ = account.partition(":")
    shown = f"{user}:***" if colon and "/" not in user else "***"
    return f"{scheme}{sep}{shown}@{host}"


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...`` (TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise BrokerUrlError(f"broker URL {redacted(url)!r} must start with mqtt:// or mqtts://")
        tls = parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise BrokerUrlError(f"broker URL {redacted(url)!r} has an invalid port") from None
        if not parts.hostname:
            raise BrokerUrlError(f"broker URL {redacted(url)!r} has no host")
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Message:
    """A received message. ``mid`` identifies it for :meth:`MqttClient.ack`."""

    topic: str
    payload: bytes
    qos: int
    retained: bool
    mid: int


class Delivery:
    """Handle of one published message."""

    __slots__ = ("_info",)

    def __init__(self, info: paho.MQTTMessageInfo) -> None:
        self._info = info

    def wait(self, timeout_s: float = 10.0) -> bool:
        """Block until the broker acknowledged it (QoS 1) or it was written (QoS 0); False
        on timeout. A QoS 1 message queued while disconnected counts once it is sent."""
        # paho's own wait_for_publish() gives up at once on a message queued while
        # disconnected, although paho sends it after reconnecting; so wait on its flag.
        info = self._info
        deadline = time.monotonic() + timeout_s
        with info._condition:
            while not info._published:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                info._condition.wait(remaining)
        return True


MessageHandler = Callable[[Message], None]

#: Bytes read from the socket at once (see _Paho).
READ_AHEAD = 65536


class _Paho(paho.Client):
    """paho, with two changes for a consumer under load (both found by profiling a dispatcher worker with 1,500
    units; ``goldentime bench --only throughput`` measures them).

    Reading: paho reads each packet with three or four ``recv`` calls (its type, its length byte by byte, its
    body). Every call releases the interpreter lock and must take it back, and a consumer whose own thread is
    busy deciding then holds it for up to the switch interval (5 ms) each time: under load the network thread
    crawls. This reads up to READ_AHEAD bytes at once and serves paho's small reads from them; ``loop_read``
    goes on while read-ahead bytes wait (the socket's ``select`` cannot see them). A new socket starts empty.

    Decoding: for every message received, paho builds an ``MQTTMessage`` (with a ``threading.Condition`` only a
    publisher uses) and, under MQTT 5, a ``Properties`` object (27 names set up, then deleted one by one): with
    the interpreter lock shared by both threads, that was a fifth of a worker's time. A QoS 0 or 1 message that
    carries no properties (every message of the contract) is decoded here and handed to ``deliver`` as a
    :class:`Message`; anything else (properties, QoS 2, a malformed packet, no ``deliver``) goes through paho."""

    _ahead: bytes = b""
    _at = 0
    _ahead_sock: object = None
    #: Receives the messages decoded here (MqttClient sets it); the others go to paho's ``on_message``.
    deliver: Callable[[Message], None] | None = None
    #: Why the last attempt to open a connection failed (paho's ``on_connect_fail`` does not say).
    open_error: OSError | None = None
    #: The next connection attempt goes at once, without the back-off (set after switching protocol).
    retry_at_once = False

    def _create_socket(self) -> paho.SocketLike:
        try:
            return super()._create_socket()
        except OSError as exc:
            self.open_error = exc
            raise

    def _reconnect_wait(self) -> None:
        if self.retry_at_once:
            self.retry_at_once = False
            return
        super()._reconnect_wait()

    def speak_311(self, clean_session: bool) -> None:
        """Speak MQTT 3.1.1 from the next connection on (this client was made for MQTT 5). What paho does
        itself when a broker refuses 3.1.1 (it goes down to 3.1): every packet is encoded for
        ``_protocol`` when it is sent, messages queued meanwhile included."""
        self._protocol = paho.MQTTv311
        self._clean_session = clean_session
        self._connect_properties = None
        self._clean_start = paho.MQTT_CLEAN_START_FIRST_ONLY

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._ahead_sock is not self._sock:  # connected again: nothing of the old stream is kept
            self._ahead, self._at, self._ahead_sock = b"", 0, self._sock
        if self._at >= len(self._ahead):
            self._ahead, self._at = super()._sock_recv(max(bufsize, READ_AHEAD)), 0
        data = self._ahead[self._at : self._at + bufsize]
        self._at += len(data)
        return data

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == paho.MQTT_ERR_SUCCESS and self._at < len(self._ahead) and self._ahead_sock is self._sock:
            rc = super().loop_read(max_packets)
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        # PUBLISH after its fixed header: topic length (2 bytes), topic, packet id (2 bytes, QoS > 0),
        # under MQTT 5 the properties' length (a variable byte integer: one 0 byte when there are none), payload
        packet, header, deliver = self._in_packet["packet"], self._in_packet["command"], self.deliver
        qos = (header & 0x06) >> 1
        if deliver is None or qos > 1 or len(packet) < 2:
            return super()._handle_publish()
        end = 2 + int.from_bytes(packet[:2], "big")
        body = end + (2 if qos else 0)
        if self._protocol == paho.MQTTv5:
            if body >= len(packet) or packet[body] != 0:
                return super()._handle_publish()  # it has properties
            body += 1
        if end == 2 or body > len(packet):
            return super()._handle_publish()  # paho reports what is wrong with it
        try:
            topic = packet[2:end].decode()
        except UnicodeDecodeError:
            return super()._handle_publish()
        mid = int.from_bytes(packet[end : end + 2], "big") if qos else 0
        with self._in_callback_mutex:
            deliver(Message(topic, bytes(packet[body:]), qos, bool(header & 0x01), mid))
        if qos and not self._manual_ack:
            return self._send_puback(mid)
        return paho.MQTT_ERR_SUCCESS


#: The MQTT versions a client speaks; ``protocol=None`` negotiates (MQTT 5, else 3.1.1).
PROTOCOLS = ("3.1.1", "5")
#: While negotiating, an MQTT 5 CONNECT left unanswered this long counts as refused (stock amqtt never answers
#: one that carries properties: it reads past the packet).
NEGOTIATION_WAIT_S = 3.0
#: CONNACK reason "Unsupported protocol version" (MQTT 5: 0x84; paho gives a 3.1.1 return code 1 the same).
UNSUPPORTED_PROTOCOL = 0x84
#: CONNACK refusals that no retry changes (protocol, client id, bad user name or password, not authorised,
#: banned, bad authentication method): a first connection ends with them at once.
FINAL_REFUSALS = frozenset({0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C})


def _refusal(reason: ReasonCode, protocol: str) -> str:
    """The cause, in words, of a CONNACK that refused the connection."""
    if reason.value == 0x86:
        return "not authorised: bad user name or password"
    if reason.value == 0x87:
        return "not authorised"
    if reason.value == UNSUPPORTED_PROTOCOL:
        return f"the broker does not speak MQTT {protocol} (unsupported protocol version)"
    return f"refused by the broker: {str(reason).lower()}"


def _open_failure(exc: OSError | None, host: str) -> str:
    """The cause, in words, of a connection that could not be opened."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, socket.gaierror):
        return f"host name {host!r} not resolved ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return "timed out opening the connection"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the broker's certificate is not accepted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if exc is None:
        return "could not open a connection"
    return exc.strerror or str(exc) or type(exc).__name__


def unit_will(unit_id: str) -> tuple[str, bytes]:
    """The Last Will of a unit: its retained status becomes ``offline``."""
    payload = schemas.Status.new(status=schemas.UnitStatus.OFFLINE)
    return topics.build(topics.Kind.STATUS, unit_id), schemas.encode(payload)


class MqttClient:
    """A connection to the broker; see the module docstring."""

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        on_message: MessageHandler | None = None,
        clean_session: bool = True,
        keepalive_s: int = 30,
        max_inflight: int = 1000,
        manual_ack: bool = False,
        will: tuple[str, bytes] | None = None,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        protocol: str | None = "3.1.1",
        session_expiry_s: int = 7 * 24 * 3600,
    ) -> None:
        """``protocol``: "3.1.1" or "5", spoken with no fallback; ``None`` negotiates: MQTT 5 first, and 3.1.1
        when the broker refuses that protocol level (a CONNACK "unsupported protocol version", or a connection
        closed unanswered, as a 3.1.1-only broker may do). :attr:`protocol` then says which is spoken."""
        self.address = BrokerAddress.parse(url)
        self.client_id = client_id
        #: Called on paho's thread for every message; may be replaced before start().
        self.on_message = on_message
        self._keepalive_s = keepalive_s
        self._lock = threading.Lock()
        self._subscriptions: dict[str, int] = {}
        #: Set once connected *and* every subscription is acknowledged by the broker.
        self._connected = threading.Event()
        self._ready_mid: int | None = None
        self._suback_waiters: dict[int, threading.Event] = {}
        self._started = False
        self._stopping = False
        self.reconnects = 0
        self._clean_session = clean_session
        #: True until the first connection is accepted, when ``protocol`` is None: 3.1.1 may still be needed.
        self._negotiating = protocol is None
        #: Set when something start() waits for happened: connected, or a refusal no retry changes.
        self._news = threading.Event()
        self._failure: str | None = None  # why the connection cannot succeed (a final refusal)
        self._cause: str | None = None  # why the last attempt failed
        self._answered = False  # the broker answered the CONNECT of the current attempt
        self._opened_at: float | None = None  # when the current attempt's connection opened (time.monotonic())
        self._connected_once = False

        if protocol is not None and protocol not in PROTOCOLS:
            raise BrokerUrlError(f"MQTT protocol {protocol!r} must be '3.1.1' or '5'")
        self._v5_properties: Properties | None = None
        if protocol != "3.1.1":
            # MQTT 5 lets a consumer that acknowledges late (after a SQL commit) say how many
            # unacknowledged messages it can hold (Receive Maximum); under 3.1.1 the broker
            # decides (Mosquitto: max_inflight_messages, 20 by default).
            client = _Paho(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=client_id,
                protocol=paho.MQTTv5,
                manual_ack=manual_ack,
            )
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.ReceiveMaximum = min(max_inflight, 65535)
            if not clean_session:
                properties.SessionExpiryInterval = session_expiry_s
            self._v5_properties = properties
        else:
            client = _Paho(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=client_id,
                clean_session=clean_session,
                protocol=paho.MQTTv311,
                manual_ack=manual_ack,
            )
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)
        if self.address.username:
            client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        if will:
            client.will_set(will[0], will[1], qos=1, retain=True)
        client.on_pre_connect = self._handle_pre_connect
        client.on_socket_open = self._handle_socket_open
        client.on_connect_fail = self._handle_connect_fail
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_subscribe = self._handle_subscribe
        client.on_message = self._handle_message
        client.deliver = self._deliver
        self._client = client

    # --- lifecycle -------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> MqttClient:
        """Connect in the background and wait until connected and subscribed. Raise :class:`ConnectError`
        naming the cause when that does not happen within ``timeout_s``, or at once when the broker refuses
        the connection for a reason no retry changes (not authorised, protocol).

        The background loop keeps retrying after a failed first attempt and after every
        later disconnection, with back-off."""
        deadline = time.monotonic() + timeout_s
        if not self._started:
            self._failure = self._cause = None
            self._news.clear()
            if self._client.protocol == paho.MQTTv5:
                self._client.connect_async(self.address.host, self.address.port, self._keepalive_s,
                                           clean_start=self._clean_session, properties=self._v5_properties)  # fmt: skip
            else:
                self._client.connect_async(self.address.host, self.address.port, self._keepalive_s)
            self._client.loop_start()
            self._started = True
        while not self._connected.is_set() and self._failure is None:
            now = time.monotonic()
            if now >= deadline:
                break
            wake = deadline
            opened_at = self._opened_at
            if self._negotiating and not self._answered and opened_at is not None:
                if now >= opened_at + NEGOTIATION_WAIT_S:
                    self._abandon_attempt()  # paho's thread then falls back to 3.1.1 (_handle_disconnect)
                else:
                    wake = min(wake, opened_at + NEGOTIATION_WAIT_S)
            self._news.wait(wake - now)
            self._news.clear()
        if self._connected.is_set():
            return self
        failure, cause = self._failure, self._cause or "no answer from the broker"
        self.stop()
        if failure is not None:
            raise ConnectError(f"could not connect to {self.address}: {failure}")
        raise ConnectError(f"could not connect to {self.address} within {timeout_s:g} s: {cause}")

    def _abandon_attempt(self) -> None:
        """Close the connection of the current attempt (it waits for a CONNACK that does not come); paho's thread sees
        it closed."""
        self._opened_at = None
        sock = self._client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Disconnect cleanly (no Last Will) and stop the background loop."""
        if self._started:
            self._stopping = True
            self._client.disconnect()
            self._client.loop_stop()
            self._started = False
            self._stopping = False
        self._connected.clear()

    def __enter__(self) -> MqttClient:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def protocol(self) -> str:
        """The MQTT version spoken, "5" or "3.1.1" (while negotiating, the one being tried)."""
        return "5" if self._client.protocol == paho.MQTTv5 else "3.1.1"

    def describe(self) -> str:
        """Where and how it connects, for a console line: ``mqtt://127.0.0.1:1883 (MQTT 5)``; never the account."""
        return f"{self.address} (MQTT {self.protocol})"

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    # --- subscribing and receiving ---------------------------------------------------

    def subscribe(self, topic_filter: str, qos: int = 1, timeout_s: float = 10.0) -> None:
        """Subscribe now and again after every reconnect. When connected, wait until the
        broker acknowledged it, so nothing published afterwards is missed. Not for use
        inside a message handler."""
        with self._lock:
            self._subscriptions[topic_filter] = qos
            if not self.connected:
                return  # subscribed on connect; start() waits for it
            waiter = threading.Event()
            _, mid = self._client.subscribe(topic_filter, qos)
            if mid is None:
                return  # the connection just dropped: subscribed again on reconnect
            self._suback_waiters[mid] = waiter
        if not waiter.wait(timeout_s):
            raise ConnectError(f"{self.address} did not acknowledge the subscription to {topic_filter}")

    def ack(self, message: Message) -> None:
        """Acknowledge a message received with ``manual_ack=True``."""
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    # --- publishing ------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> Delivery:
        """Hand a message to the broker. QoS 1 messages published while disconnected are
        queued and sent after reconnecting; QoS 0 messages are dropped then."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise PublishError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
        return Delivery(info)

    def send(self, topic: topics.Topic, payload: schemas.Payload) -> Delivery:
        """Publish a payload on a contract topic with the contract's QoS and retain flag."""
        route = topic.route
        if not isinstance(payload, schemas.MODELS[topic.kind]):
            raise PublishError(f"a {type(payload).__name__} cannot be published on {topic}")
        return self.publish(str(topic), schemas.encode(payload), qos=route.qos, retain=route.retained)

    def clear_retained(self, topic: str) -> Delivery:
        """Remove a retained message (an empty retained payload)."""
        return self.publish(topic, b"", qos=1, retain=True)

    # --- paho callbacks (run on paho's loop thread) ----------------------------------

    def _handle_pre_connect(self, client: paho.Client, userdata: object) -> None:
        self._answered = False
        self._opened_at = None

    def _handle_socket_open(self, client: paho.Client, userdata: object, sock: paho.SocketLike) -> None:
        self._opened_at = time.monotonic()
        if self._negotiating:
            self._news.set()  # start() times the answer from now

    def _handle_connect_fail(self, client: paho.Client, userdata: object) -> None:
        self._cause = _open_failure(self._client.open_error, self.address.host)
        if isinstance(self._client.open_error, ssl.SSLCertVerificationError):
            self._failure = self._cause  # no retry makes a certificate trusted
            self._news.set()
        log.debug("%s could not connect to %s: %s", self.client_id, self.address, self._cause)

    def _fall_back(self, why: str) -> None:
        """The broker refused MQTT 5 while negotiating: speak 3.1.1 from the next attempt on, made at once."""
        self._negotiating = False
        self._client.speak_311(self._clean_session)
        self._client.retry_at_once = True
        log.info("%s: %s does not speak MQTT 5 (%s); speaking MQTT 3.1.1", self.client_id, self.address, why)

    def _ready(self) -> None:
        self._connected.set()
        self._news.set()

    def _handle_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._answered = True
        if reason_code.is_failure:
            if self._negotiating and reason_code.value == UNSUPPORTED_PROTOCOL:
                self._fall_back(str(reason_code).lower())
                return
            self._cause = _refusal(reason_code, self.protocol)
            if reason_code.value in FINAL_REFUSALS:
                self._failure = self._cause
                self._news.set()
            # a first connection's refusal is told by start()'s ConnectError; a later one only here
            level = logging.WARNING if self._connected_once else logging.DEBUG
            log.log(level, "broker %s refused connection of %s: %s", self.address, self.client_id, reason_code)
            return
        self._negotiating = False
        self._connected_once = True
        self._failure = self._cause = None
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # Small QoS 1 messages must not wait for Nagle's algorithm and delayed ACKs (~40 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            filters = list(self._subscriptions.items())
            if filters:
                _, self._ready_mid = client.subscribe(filters)
        if not filters:
            self._ready()
        log.info("%s connected to %s (MQTT %s, session present: %s)", self.client_id, self.address, self.protocol,
                 flags.session_present)  # fmt: skip

    def _handle_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.error("broker %s refused a subscription of %s: %s", self.address, self.client_id, ", ".join(refused))
        with self._lock:
            waiter = self._suback_waiters.pop(mid, None)
            ready = mid == self._ready_mid
        if waiter is not None:
            waiter.set()
        if ready:
            self._ready()

    def _handle_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not self._answered and not self._stopping:
            if self._negotiating:
                self._fall_back("an MQTT 5 CONNECT was not answered")
            else:
                self._cause = "the broker closed the connection without answering the CONNECT"
        if self._connected.is_set() and not self._stopping:
            self.reconnects += 1
            log.warning("%s lost connection to %s: %s", self.client_id, self.address, reason_code)
        self._connected.clear()

    def _handle_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        self._deliver(Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), msg.mid))

    def _deliver(self, message: Message) -> None:
        if self.on_message is None:
            return
        try:
            self.on_message(message)
        except Exception:
            log.exception(
                "handler of %s failed on a message on %s; message acknowledged", self.client_id, message.topic
            )
            self.ack(message)
