"""QoS 1 delivery in the embedded broker, kept until the client acknowledges it.

amqtt 0.12 gives a QoS 1 message it sends to a client five seconds for its PUBACK and then drops it,
and drops one in flight when the connection ends: a consumer that acknowledges after its own work (the
recorder after a commit, the dispatcher after advising) and is slow for a moment, or a client that
disconnects just as a message goes out, loses that message with no trace but a warning. MQTT keeps
it in the session until it is acknowledged (3.1.1 §4.4). Here: while the connection lasts the
message is sent again (DUP) every five seconds; once it has ended, a persistent session keeps the
message for its next connection (or hands it to the one that has already replaced it). A clean
session's messages end with it, as MQTT says.

A message still in flight when the client is back (the broker had not yet noticed the old connection
end) is sent again on the new connection without holding it up: amqtt waited up to ten seconds for
its PUBACK before reading the client's first packet, so a client that acknowledges only once it is
subscribed got no SUBACK, and the message was then dropped. Each message has one sender, the
connection that sent it last, so the old connection's end does not send it a third time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from itertools import chain
from typing import Any

from amqtt.broker import Broker, RetainedApplicationMessage
from amqtt.mqtt.constants import QOS_1
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import OUTGOING

log = logging.getLogger(__name__)

_amqtt_qos1_flow = BrokerProtocolHandler._handle_qos1_message_flow  # amqtt's own, taken before install()
_BROKER = "_goldentime_broker"  # the attribute naming a handler's broker (set by :func:`belongs_to`)
_senders: dict[int, BrokerProtocolHandler] = {}  # a QoS 1 message going out (its id) -> its connection
_running: set[asyncio.Future[Any]] = set()


def in_background(work: Coroutine[Any, Any, Any], what: str) -> None:
    """Run ``work`` without waiting for it, held until done (asyncio keeps only weak references to
    tasks); a failure is logged as ``what`` failing."""

    def done(task: asyncio.Future[Any]) -> None:
        _running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s failed: %s", what, task.exception())

    task = asyncio.ensure_future(work)
    _running.add(task)
    task.add_done_callback(done)


def _sends(handler: BrokerProtocolHandler, key: int) -> bool:
    """Whether ``handler``'s connection is the one sending the message ``key`` now."""
    return _senders.get(key) is handler


def belongs_to(handler: BrokerProtocolHandler, broker: Broker) -> None:
    """Tell ``handler`` its broker, for handing a message over to the session's next connection."""
    setattr(handler, _BROKER, broker)


async def _until_acknowledged(self: BrokerProtocolHandler, app_message: Any) -> None:
    if app_message.direction != OUTGOING:
        await _amqtt_qos1_flow(self, app_message)  # a message coming in: amqtt's own handling
        return
    key = id(app_message)  # the message lives, so its id is its own, while it is being sent
    _senders[key] = self
    try:
        ended = await _connection_ended_first(self, app_message, key)
    finally:
        ours = _sends(self, key)
        if ours:
            del _senders[key]
    if ended and ours:
        await _keep_for_next_connection(self, app_message)


async def _connection_ended_first(self: BrokerProtocolHandler, app_message: Any, key: int) -> bool:
    """Send until acknowledged (False) or handed to a new connection (False), or until this
    connection ends (True)."""
    while True:
        try:
            await _amqtt_qos1_flow(self, app_message)
            return False
        except (TimeoutError, asyncio.CancelledError):
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this task itself being cancelled: amqtt's own handling
        if not _sends(self, key):
            return False  # the client is back on a new connection, which sends it now
        if self.writer is None or self._reader_stopped.is_set():
            return True  # its PUBACK waiters were cancelled, or it went silent
        log.debug("no PUBACK within 5 s from %s: sending again", self.session.client_id if self.session else "?")


async def _keep_for_next_connection(self: BrokerProtocolHandler, app_message: Any) -> None:
    session, broker = self.session, getattr(self, _BROKER, None)
    if session is None or broker is None or session.clean_session:
        return
    await session.retained_messages.put(RetainedApplicationMessage(None, app_message.topic, app_message.data, 1))
    current = broker._get_handler(session)
    started = current is not None and current is not self and current._reader_task is not None
    if session.transitions.state == "connected" and started:
        # a new connection has already taken the session over and sent on what was kept: send this too
        await broker._publish_session_retained_messages(session)


async def _send_again_meanwhile(self: BrokerProtocolHandler) -> None:
    """Send the session's unacknowledged messages again (MQTT-4.4.0-1) and go on to read the
    client's packets; a QoS 1 message is sent until acknowledged or the connection ends, anything
    else gets amqtt's ten seconds."""
    session = self.session
    if session is None:
        return
    for message in chain(session.inflight_in.values(), session.inflight_out.values()):
        if _sends(self, id(message)):
            continue  # already going out on this connection
        flow = self._handle_message_flow(message)
        if message.direction != OUTGOING or message.qos != QOS_1:
            flow = asyncio.wait_for(flow, 10)
        in_background(flow, "sending a message again to a client that is back")


def install() -> None:
    """Make amqtt's broker keep QoS 1 messages until acknowledged (this module's two patches of
    ``BrokerProtocolHandler``). Idempotent; called by :meth:`telemetry.broker.EmbeddedBroker.start`, never at
    import, so a process that only imports this module (a client, a test) runs amqtt as it ships."""
    BrokerProtocolHandler._handle_qos1_message_flow = _until_acknowledged
    BrokerProtocolHandler._retry_deliveries = _send_again_meanwhile


def installed() -> bool:
    """Whether :func:`install` has patched amqtt in this process."""
    return BrokerProtocolHandler._handle_qos1_message_flow is _until_acknowledged
