"""The one wrapper over paho-mqtt. Paho's types and errors never leave this module.

- connects in the background with retry and exponential back-off, and keeps reconnecting;
- takes one broker URL or the nodes of a cluster (a list, or URLs separated by commas): a lost connection, a
  failed connect or a CONNECT closed (or left) unanswered moves it at once to the next node, and it backs off
  only after a full round of them (:func:`parse_broker_urls`);
- speaks MQTT 5 or 3.1.1 as asked, or negotiates: MQTT 5 first, 3.1.1 when the broker refuses
  that protocol level (the embedded amqtt broker does); :attr:`MqttClient.protocol` says which;
- a first connection that fails names the broker and the cause (refused, name not resolved,
  timeout, not authorised, protocol) in its :class:`ConnectError`;
- re-subscribes every filter after each reconnect, and tries a refused subscription again with back-off until
  the broker grants it (a NATS cluster refuses QoS 1 subscriptions while it elects a leader);
- publishes with the QoS and retain flag of the contract (:mod:`telemetry.topics`);
- sets a retained Last Will (``offline`` status) for units;
- delivers messages as :class:`Message` values; a callback that raises is logged and the
  loop goes on;
- optional manual acknowledgement, so a consumer acknowledges a QoS 1 message only once
  it is safely stored; an acknowledgement of a message that came on an earlier connection is dropped (packet
  ids belong to one connection: sent on the next one it could acknowledge another message), and the broker
  sends that message again;
- safe to call from several threads.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, _ConnectionState
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
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...`` (TLS). One broker: for several, see
        :func:`parse_broker_urls`."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise BrokerUrlError(f"broker URL {redacted(url)!r} must start with mqtt:// or mqtts://")
        tls = parts.scheme in ("mqtts", "ssl")
        several = f" (for several brokers give each its URL: {_LIST_EXAMPLE})" if "," in parts.netloc else ""
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise BrokerUrlError(f"broker URL {redacted(url)!r} has an invalid port{several}") from None
        if not parts.hostname:
            raise BrokerUrlError(f"broker URL {redacted(url)!r} has no host")
        if "," in parts.hostname:  # no host name has one: a list written without the second URL's scheme
            raise BrokerUrlError(f"broker URL {redacted(url)!r} has an invalid host{several}")
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


_LIST_EXAMPLE = "mqtt://h1:1883,mqtt://h2:1883"
#: A comma that separates two URLs: the next one starts with a scheme (a comma inside a password does not split).
_URL_SEPARATOR = re.compile(r"\s*,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")


def _ordinal_in(k: int, n: int) -> str:
    return f" (URL {k} of {n} in the list)" if n > 1 else ""


def parse_broker_urls(urls: str | Sequence[str]) -> tuple[BrokerAddress, ...]:
    """The broker nodes of ``urls``: one URL (:meth:`BrokerAddress.parse`), several separated by commas
    (``mqtt://h1:1883,mqtt://h2:1883``, as ``GOLDENTIME_MQTT_URL`` takes them), or a list of URLs. A client tries
    them in this order. Raise :class:`BrokerUrlError`, one line naming the bad URL (never its password): a URL
    that does not parse, an empty entry, the same node twice, TLS on some nodes only (a failover must not drop
    to plain text), an account on some URLs only (the others would be refused only when a failover reaches
    them)."""
    given = [urls] if isinstance(urls, str) else list(urls)
    texts = [item.strip() for one in given for item in _URL_SEPARATOR.split(one.strip())]
    if not texts or texts == [""]:
        raise BrokerUrlError("no broker URL given (mqtt://host:port, or several: " + _LIST_EXAMPLE + ")")
    nodes: list[BrokerAddress] = []
    for k, text in enumerate(texts, 1):
        if not text:
            shown = ",".join(redacted(t) for t in texts)
            raise BrokerUrlError(f"broker URL list {shown!r} has an empty entry{_ordinal_in(k, len(texts))}")
        try:
            node = BrokerAddress.parse(text)
        except BrokerUrlError as exc:
            raise BrokerUrlError(f"{exc}{_ordinal_in(k, len(texts))}") from None
        if any((n.host, n.port) == (node.host, node.port) for n in nodes):
            raise BrokerUrlError(f"broker URL list names {node} twice")
        nodes.append(node)
    if len({n.tls for n in nodes}) > 1:
        plain = ", ".join(str(n) for n in nodes if not n.tls)
        raise BrokerUrlError(f"broker URL list mixes mqtts:// and mqtt:// ({plain} without TLS): use one for all")
    if len({n.username is None for n in nodes}) > 1:
        bare = ", ".join(str(n) for n in nodes if n.username is None)
        raise BrokerUrlError(f"broker URL list gives an account on some URLs only ({bare} without): give it on each")
    return tuple(nodes)


@dataclass(frozen=True, slots=True)
class Message:
    """A received message. ``mid`` (its packet id) and ``connection`` (the client's connection it came on)
    identify it for :meth:`MqttClient.ack`."""

    topic: str
    payload: bytes
    qos: int
    retained: bool
    mid: int
    connection: int = field(default=0, compare=False)


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


#: With several nodes, a CONNECT left unanswered this long counts as that node failing: the next one is tried.
#: (A NATS node closes a CONNECT it cannot serve after 4 s while its cluster elects a leader; the kernel of a hung
#: node may accept connections nobody answers.) With one node, paho waits its keep-alive, as before.
CONNECT_ANSWER_WAIT_S = 10.0
#: With several nodes, a connection lost after lasting this long starts a new round of them; one lost sooner counts
#: as its node's try, so nodes that accept a connection and drop it at once still bring on the back-off.
STABLE_S = 10.0


class _Paho(paho.Client):
    """paho, with the failover between broker nodes and two changes for a consumer under load.

    Failover (``nodes``, set by MqttClient): every connection attempt (paho's ``reconnect``) goes to
    ``nodes[node_at]``; when an attempt fails or a connection ends (paho then calls ``_reconnect_wait``), the next
    node is tried at once, and paho's back-off (1, 2, 4 ... s) is waited only when every node failed in a row: after
    a full round. A CONNECT closed unanswered ends the attempt like any failure, and one left unanswered
    CONNECT_ANSWER_WAIT_S is closed here. With one node (or none: paho's own host) nothing changes. Every attempt
    opens a new ``connection`` (a number): a message carries the one it came on, and ``ack_lock`` keeps an
    acknowledgement from being queued for one connection and sent on the next.

    For a consumer under load (both found by profiling a dispatcher worker with 1,500 units;
    ``goldentime bench --only throughput`` measures them):

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
    #: The next connection attempt goes at once, to the same node, without the back-off (set after switching
    #: protocol).
    retry_at_once = False
    #: The broker nodes, tried in turn (MqttClient sets them); empty: paho's own host and port.
    nodes: tuple[BrokerAddress, ...] = ()
    #: Index in ``nodes`` of the node in use, or of the one being tried.
    node_at = 0
    #: Nodes that failed in a row in the current round.
    failed_in_round = 0
    #: The number of the current connection (attempt); messages carry it (Message.connection).
    connection = 0
    #: time.monotonic() when the current connection was accepted (None: it was not).
    up_since: float | None = None
    #: The last attempt was closed here, its CONNECT unanswered for CONNECT_ANSWER_WAIT_S.
    answer_timed_out = False
    #: Called on paho's thread at every turn of its loop, at least once a second (MqttClient's retries).
    on_tick: Callable[[], None] | None = None
    _attempted = False  # an attempt was made since paho last called _reconnect_wait
    _connect_sent_at: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Held while the connection changes, and while an acknowledgement is checked and queued (MqttClient.ack).
        self.ack_lock = threading.Lock()

    def reconnect(self) -> MQTTErrorCode:
        with self.ack_lock:  # an acknowledgement checked before this is queued before the old queue is dropped
            self.connection += 1
        self._attempted, self.answer_timed_out, self._connect_sent_at, self.up_since = True, False, None, None
        if self.nodes:
            node = self.nodes[self.node_at]
            self._host, self._port = node.host, node.port
            if node.username is not None:
                self.username_pw_set(node.username, node.password)
        rc = super().reconnect()
        self._connect_sent_at = time.monotonic()
        return rc

    def accepted(self) -> None:
        """The broker accepted the current connection (called from on_connect)."""
        self.up_since = time.monotonic()
        self._connect_sent_at = None

    def _check_keepalive(self) -> None:
        if self.on_tick is not None:
            self.on_tick()
        sent = self._connect_sent_at
        if (
            len(self.nodes) > 1
            and sent is not None
            and self._sock is not None
            and self._state == _ConnectionState.MQTT_CS_CONNECTING
            and time.monotonic() - sent >= CONNECT_ANSWER_WAIT_S
        ):
            self.answer_timed_out, self._connect_sent_at = True, None
            self._sock_close()  # paho's loop then sees no connection, and calls _reconnect_wait
            self._do_on_disconnect(packet_from_broker=False, v1_rc=MQTTErrorCode.MQTT_ERR_KEEPALIVE)
            return
        super()._check_keepalive()

    def _create_socket(self) -> paho.SocketLike:
        try:
            return super()._create_socket()
        except OSError as exc:
            self.open_error = exc
            raise

    def _reconnect_wait(self) -> None:
        """Called by paho's loop between an attempt that failed (or a connection that ended) and the next attempt:
        move to the next node, and wait paho's back-off only after a full round."""
        if self.retry_at_once:
            self.retry_at_once = False
            return
        if len(self.nodes) < 2:
            super()._reconnect_wait()
            return
        if not self._attempted:
            return  # paho calls this twice after a first attempt that could not open a connection
        self._attempted = False
        lasted = self.up_since is not None and time.monotonic() - self.up_since >= STABLE_S
        self.up_since = None
        self.failed_in_round = 1 if lasted else self.failed_in_round + 1
        self.node_at = (self.node_at + 1) % len(self.nodes)
        if self.failed_in_round < len(self.nodes):
            return
        self.failed_in_round = 0
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
            deliver(Message(topic, bytes(packet[body:]), qos, bool(header & 0x01), mid, self.connection))
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
#: SUBACK refusals that no retry changes (MQTT 5: not authorised, topic filter invalid, shared subscriptions,
#: subscription identifiers or wildcards not supported). Any other is tried again; MQTT 3.1.1 has only one
#: refusal (0x80, "failure"), which a NATS node sends while its cluster elects a leader.
FINAL_SUBSCRIPTION_REFUSALS = frozenset({0x87, 0x8F, 0x9E, 0xA1, 0xA2})


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


@dataclass(slots=True)
class _Refused:
    """A subscription the broker refused on this connection, tried again at ``due`` (time.monotonic(); infinite
    while a try waits for its answer)."""

    reason: str
    times: int
    due: float


class _GrantWaiter(threading.Event):
    """What :meth:`MqttClient.subscribe` waits on: set when the broker granted the subscription, or refused it
    for good (``denied`` then says why)."""

    denied: str | None = None


class MqttClient:
    """A connection to the broker (to one of its nodes); see the module docstring."""

    def __init__(
        self,
        url: str | Sequence[str],
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
        """``url``: one broker, or the nodes of a cluster, tried in that order: a list of URLs or URLs separated by
        commas (:func:`parse_broker_urls`). ``protocol``: "3.1.1" or "5", spoken with no fallback; ``None``
        negotiates: MQTT 5 first, and 3.1.1 when the broker refuses that protocol level (a CONNACK "unsupported
        protocol version", or a connection closed unanswered, as a 3.1.1-only broker may do). :attr:`protocol` then
        says which is spoken. ``reconnect_min_s`` and ``reconnect_max_s`` bound the back-off of reconnecting (after a
        full round of the nodes) and of trying a refused subscription again."""
        #: The broker nodes, in the order they are tried.
        self.addresses = parse_broker_urls(url)
        self.client_id = client_id
        #: Called on paho's thread for every message; may be replaced before start().
        self.on_message = on_message
        self._keepalive_s = keepalive_s
        self._retry_min_s, self._retry_max_s = max(reconnect_min_s, 0.1), max(reconnect_max_s, reconnect_min_s, 0.1)
        self._lock = threading.Lock()
        # Subscriptions (under _lock): every filter wanted, and on the current connection those granted, those
        # sent and not answered yet (by SUBSCRIBE packet id), those refused (tried again) and those refused for good.
        self._subscriptions: dict[str, int] = {}
        self._granted: set[str] = set()
        self._sent: dict[int, list[tuple[str, int]]] = {}
        self._refused: dict[str, _Refused] = {}
        self._denied: dict[str, str] = {}
        self._grant_waiters: dict[str, list[_GrantWaiter]] = {}
        self._next_retry = math.inf  # time.monotonic() of the earliest try of a refused subscription
        self._session_up = False  # the broker accepted the current connection
        #: Set once connected *and* every subscription is granted by the broker.
        self._connected = threading.Event()
        self._started = False
        self._stopping = False
        #: Connections lost after the broker had accepted them.
        self.reconnects = 0
        #: Refused subscriptions tried again.
        self.subscription_retries = 0
        #: Acknowledgements dropped: their message came on an earlier connection (the broker sends it again).
        self.stale_acks = 0
        self._clean_session = clean_session
        #: True until the first connection is accepted, when ``protocol`` is None: 3.1.1 may still be needed.
        self._negotiating = protocol is None
        #: Set when something start() waits for happened: connected, or a refusal no retry changes.
        self._news = threading.Event()
        self._failure: str | None = None  # why start() cannot succeed (a final refusal), as its ConnectError says it
        self._cause: str | None = None  # why the last attempt failed
        self._causes: dict[BrokerAddress, str] = {}  # why the last attempt on each node failed
        self._tried: set[BrokerAddress] = set()
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
        first = self.addresses[0]
        if first.username:
            client.username_pw_set(first.username, first.password)
        if first.tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        if will:
            client.will_set(will[0], will[1], qos=1, retain=True)
        client.nodes = self.addresses
        client.on_tick = self._retry_subscriptions
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
        """Connect in the background and wait until connected and every subscription granted. Raise
        :class:`ConnectError` naming the cause (and, with several nodes, each node's) when that does not happen
        within ``timeout_s``, or at once when the broker refuses the connection or a subscription for a reason no
        retry changes (not authorised, protocol).

        The background loop keeps retrying after a failed first attempt and after every
        later disconnection, going through the nodes, with back-off after each full round."""
        deadline = time.monotonic() + timeout_s
        if not self._started:
            self._failure = self._cause = None
            self._causes.clear()
            self._tried.clear()
            self._news.clear()
            node = self.address
            if self._client.protocol == paho.MQTTv5:
                self._client.connect_async(node.host, node.port, self._keepalive_s,
                                           clean_start=self._clean_session, properties=self._v5_properties)  # fmt: skip
            else:
                self._client.connect_async(node.host, node.port, self._keepalive_s)
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
        failure, message = self._failure, self._timed_out(timeout_s)
        self.stop()
        raise ConnectError(failure or message)

    def _timed_out(self, timeout_s: float) -> str:
        """What start()'s ConnectError says when ``timeout_s`` passed: the subscriptions not granted when the broker
        accepted the connection, else why the connection failed (on each node when there are several)."""
        with self._lock:
            waiting = [f for f in self._subscriptions if f not in self._granted]
            if self._session_up and waiting:
                refused = [f"{f} ({r.reason}, {r.times} times)" for f, r in self._refused.items() if f in waiting]
                if refused:
                    return (f"could not subscribe on {self.address} within {timeout_s:g} s: the broker refused "
                            f"{', '.join(refused)}")  # fmt: skip
                return (f"could not subscribe on {self.address} within {timeout_s:g} s: no answer from the broker to "
                        f"the subscription to {', '.join(waiting)}")  # fmt: skip
        silent = "no answer from the broker"
        if len(self.addresses) == 1:
            return f"could not connect to {self.address} within {timeout_s:g} s: {self._cause or silent}"
        causes = [
            self._causes.get(node) or (silent if node in self._tried else "not tried yet") for node in self.addresses
        ]
        each = "; ".join(f"{node}: {cause}" for node, cause in zip(self.addresses, causes, strict=True))
        return f"could not connect to any of {len(self.addresses)} brokers within {timeout_s:g} s: {each}"

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
        with self._lock:
            self._session_lost()

    def __enter__(self) -> MqttClient:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        """Connected, and every subscription granted."""
        return self._connected.is_set()

    @property
    def connection(self) -> int | None:
        """The number of the current connection, while the broker has accepted it (None: not connected); a new
        number after every reconnect, so a publisher can tell that what it retained may have been overwritten by
        its own Last Will meanwhile."""
        return self._client.connection if self._session_up else None

    @property
    def address(self) -> BrokerAddress:
        """The broker node in use, or the one being tried (one of :attr:`addresses`)."""
        return self.addresses[self._client.node_at]

    @property
    def protocol(self) -> str:
        """The MQTT version spoken, "5" or "3.1.1" (while negotiating, the one being tried)."""
        return "5" if self._client.protocol == paho.MQTTv5 else "3.1.1"

    def describe(self) -> str:
        """Where and how it connects, for a console line: ``mqtt://127.0.0.1:1883 (MQTT 5)``, with several nodes
        ``mqtt://h2:1883 (MQTT 3.1.1, node 2 of 3)`` (the node in use or being tried); never the account."""
        node = f", node {self._client.node_at + 1} of {len(self.addresses)}" if len(self.addresses) > 1 else ""
        return f"{self.address} (MQTT {self.protocol}{node})"

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    # --- subscribing and receiving ---------------------------------------------------

    def subscribe(self, topic_filter: str, qos: int = 1, timeout_s: float = 10.0) -> None:
        """Subscribe now and again after every reconnect. When connected, wait until the broker granted it, so
        nothing published afterwards is missed; a refused subscription is tried again with back-off, and
        :class:`ConnectError` says so when it is not granted within ``timeout_s`` (it is still tried again in the
        background), or at once when the broker refuses it for a reason no retry changes. Not for use inside a
        message handler."""
        with self._lock:
            self._subscriptions[topic_filter] = qos
            self._granted.discard(topic_filter)
            self._denied.pop(topic_filter, None)
            self._refused.pop(topic_filter, None)
            if not self._session_up:
                return  # subscribed on connect; start() waits for it
            _, mid = self._client.subscribe(topic_filter, qos)
            if mid is None:
                return  # the connection just dropped: subscribed again on reconnect
            self._sent[mid] = [(topic_filter, qos)]
            waiter = _GrantWaiter()
            self._grant_waiters.setdefault(topic_filter, []).append(waiter)
        answered = waiter.wait(timeout_s)
        with self._lock:
            with contextlib.suppress(ValueError):
                self._grant_waiters.get(topic_filter, []).remove(waiter)
            refused = self._refused.get(topic_filter)
        if answered and waiter.denied is None:
            return
        if waiter.denied is not None:
            raise ConnectError(f"{self.address} refused the subscription to {topic_filter}: {waiter.denied}")
        if refused is not None:
            raise ConnectError(f"{self.address} refused the subscription to {topic_filter} {refused.times} times "
                               f"({refused.reason}); it is tried again in the background")  # fmt: skip
        raise ConnectError(f"{self.address} did not acknowledge the subscription to {topic_filter}")

    def ack(self, message: Message) -> None:
        """Acknowledge a message received with ``manual_ack=True``. A message that came on an earlier connection is
        not acknowledged (its packet id may be another message's on this one): the broker sends it again."""
        if message.qos == 0:
            return
        client = self._client
        with client.ack_lock:
            if message.connection == client.connection:
                client.ack(message.mid, message.qos)
                return
            self.stale_acks += 1
        log.debug("%s did not acknowledge message %d on %s: it came on an earlier connection, the broker sends it "
                  "again", self.client_id, message.mid, message.topic)  # fmt: skip

    # --- publishing ------------------------------------------------------------------
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
        self._tried.add(self.address)

    def _handle_socket_open(self, client: paho.Client, userdata: object, sock: paho.SocketLike) -> None:
        self._opened_at = time.monotonic()
        if self._negotiating:
            self._news.set()  # start() times the answer from now

    def _failed(self, cause: str) -> None:
        """The current attempt on :attr:`address` failed because of ``cause``."""
        self._cause = self._causes[self.address] = cause
        if len(self.addresses) > 1:
            log.debug("%s could not connect to %s (node %d of %d): %s; trying the next node", self.client_id,
                      self.address, self._client.node_at + 1, len(self.addresses), cause)  # fmt: skip
        else:
            log.debug("%s could not connect to %s: %s", self.client_id, self.address, cause)

    def _handle_connect_fail(self, client: paho.Client, userdata: object) -> None:
        self._failed(_open_failure(self._client.open_error, self.address.host))
        if isinstance(self._client.open_error, ssl.SSLCertVerificationError):
            self._failure = f"could not connect to {self.address}: {self._cause}"  # no retry makes it trusted
            self._news.set()

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
            self._failed(_refusal(reason_code, self.protocol))
            if reason_code.value in FINAL_REFUSALS:
                self._failure = f"could not connect to {self.address}: {self._cause}"
                self._news.set()
            # a first connection's refusal is told by start()'s ConnectError; a later one only here
            level = logging.WARNING if self._connected_once else logging.DEBUG
            log.log(level, "broker %s refused connection of %s: %s", self.address, self.client_id, reason_code)
            return
        self._negotiating = False
        self._connected_once = True
        self._failure = self._cause = None
        self._client.accepted()
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # Small QoS 1 messages must not wait for Nagle's algorithm and delayed ACKs (~40 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._session_lost()
            self._session_up = True
            filters = list(self._subscriptions.items())
            if filters:
                _, mid = client.subscribe(filters)
                if mid is not None:
                    self._sent[mid] = filters
        if not filters:
            self._ready()
        node = f"; node {self._client.node_at + 1} of {len(self.addresses)}" if len(self.addresses) > 1 else ""
        log.info("%s connected to %s (MQTT %s, session present: %s%s)", self.client_id, self.address, self.protocol,
                 flags.session_present, node)  # fmt: skip

    def _session_lost(self) -> None:
        """Forget what the subscriptions were on the connection that ended (all are sent again on the next)."""
        self._session_up = False
        self._granted.clear()
        self._sent.clear()
        self._refused.clear()
        self._denied.clear()
        self._next_retry = math.inf

    def _handle_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        now = time.monotonic()
        retried: list[str] = []
        granted_after: list[str] = []
        denied: list[str] = []
        with self._lock:
            sent = self._sent.pop(mid, None)
            if sent is None:
                return  # the answer to a SUBSCRIBE of an earlier connection
            for (topic_filter, _), code in zip(sent, reason_codes, strict=False):
                if topic_filter not in self._subscriptions:
                    continue
                waiters: list[_GrantWaiter] = []
                if not code.is_failure:
                    self._granted.add(topic_filter)
                    before = self._refused.pop(topic_filter, None)
                    if before is not None:
                        granted_after.append(f"{topic_filter} (after {before.times} refusals)")
                    waiters = self._grant_waiters.pop(topic_filter, [])
                elif code.value in FINAL_SUBSCRIPTION_REFUSALS:
                    self._refused.pop(topic_filter, None)
                    self._denied[topic_filter] = str(code).lower()
                    denied.append(f"{topic_filter} ({code})")
                    waiters = self._grant_waiters.pop(topic_filter, [])
                    for waiter in waiters:
                        waiter.denied = str(code).lower()
                else:
                    times = self._refused[topic_filter].times + 1 if topic_filter in self._refused else 1
                    delay = min(self._retry_min_s * 2 ** (times - 1), self._retry_max_s)
                    self._refused[topic_filter] = _Refused(str(code), times, now + delay)
                    retried.append(f"{topic_filter} ({code}; refusal {times}, next try in {delay:g} s)")
                for waiter in waiters:
                    waiter.set()
            self._next_retry = min((r.due for r in self._refused.values()), default=math.inf)
            ready = self._session_up and all(f in self._granted for f in self._subscriptions)
            if denied:  # what start() says, if it waits
                self._failure = f"could not subscribe on {self.address}: the broker refused {', '.join(denied)}"
        if retried:
            log.warning("broker %s refused a subscription of %s: %s", self.address, self.client_id, ", ".join(retried))
        if denied:
            log.error("broker %s refused a subscription of %s for good: %s", self.address, self.client_id,
                      ", ".join(denied))  # fmt: skip
            self._news.set()
        if granted_after:
            log.info("broker %s granted a subscription of %s: %s", self.address, self.client_id,
                     ", ".join(granted_after))  # fmt: skip
        if ready:
            self._ready()
        elif retried or denied:
            self._connected.clear()  # not hearing everything it subscribed to

    def _retry_subscriptions(self) -> None:
        """Subscribe again to the refused filters whose back-off has passed (paho's thread, every turn of its loop)."""
        if self._next_retry > time.monotonic():
            return
        with self._lock:
            now = time.monotonic()
            due = [(f, self._subscriptions[f]) for f, r in self._refused.items()
                   if r.due <= now and f in self._subscriptions]  # fmt: skip
            if self._session_up and due:
                _, mid = self._client.subscribe(due)
                if mid is not None:
                    self._sent[mid] = due
                    self.subscription_retries += len(due)
                    for topic_filter, _ in due:
                        self._refused[topic_filter].due = math.inf
            self._next_retry = min((r.due for r in self._refused.values()), default=math.inf)

    def _handle_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            was_up = self._session_up
            self._session_lost()
        if not self._answered and not self._stopping:
            if self._negotiating:
                self._fall_back("an MQTT 5 CONNECT was not answered")
            elif self._client.answer_timed_out:
                self._failed(f"no answer to the CONNECT within {CONNECT_ANSWER_WAIT_S:g} s")
            else:
                self._failed("the broker closed the connection without answering the CONNECT")
        if was_up and not self._stopping:
            self.reconnects += 1
            then = "; trying the next node" if len(self.addresses) > 1 else ""
            log.warning("%s lost connection to %s: %s%s", self.client_id, self.address, reason_code, then)
        self._connected.clear()

    def _handle_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        self._deliver(Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), msg.mid,
                              self._client.connection))  # fmt: skip

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
