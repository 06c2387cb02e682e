"""QoS 1 delivery in the embedded broker, kept until the client acknowledges it.

amqtt 0.12 gives a QoS 1 message it sends to a client five seconds for its PUBACK and then drops it,
and drops one in flight when the connection ends: a consumer that acknowledges after its own work (the
recorder after a commit, the dispatcher after advising) and is slow for a moment, or a client that
disconnects just as a message goes out, loses that message with no trace but a warning. MQTT keeps
it in the session until it is acknowledged (3.1.1 §4.4). Here: while the connection lasts the
message is sent again (DUP) every five seconds; once it has ended, a persistent session keeps the
message for its next connection (or hands it to the one that has already replaced it). A clean
session's messages end with it, as MQTT says.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from amqtt.broker import Broker, RetainedApplicationMessage
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import OUTGOING

log = logging.getLogger(__name__)

_amqtt_qos1_flow = BrokerProtocolHandler._handle_qos1_message_flow
_BROKER = "_goldentime_broker"  # the attribute naming a handler's broker (set by :func:`belongs_to`)


def belongs_to(handler: BrokerProtocolHandler, broker: Broker) -> None:
    """Tell ``handler`` its broker, for handing a message over to the session's next connection."""
    setattr(handler, _BROKER, broker)


async def _until_acknowledged(self: BrokerProtocolHandler, app_message: Any) -> None:
    session = self.session
    while True:
        try:
            await _amqtt_qos1_flow(self, app_message)
            return
        except (TimeoutError, asyncio.CancelledError):
            task = asyncio.current_task()
            if app_message.direction != OUTGOING or (task is not None and task.cancelling()):
                raise  # a message coming in, or this task itself being cancelled: amqtt's own handling
        if self.writer is None or self._reader_stopped.is_set():
            break  # the connection has ended (its PUBACK waiters were cancelled, or it went silent)
        log.debug("no PUBACK within 5 s from %s: sending again", session.client_id if session else "?")
    broker = getattr(self, _BROKER, None)
    if session is None or broker is None or session.clean_session:
        return
    await session.retained_messages.put(RetainedApplicationMessage(None, app_message.topic, app_message.data, 1))
    current = broker._get_handler(session)
    started = current is not None and current is not self and current._reader_task is not None
    if session.transitions.state == "connected" and started:
        # a new connection has already taken the session over and sent on what was kept: send this too
        await broker._publish_session_retained_messages(session)


BrokerProtocolHandler._handle_qos1_message_flow = _until_acknowledged
