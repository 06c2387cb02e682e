"""Publishes every centre's current state to ``ems/hospitals/{hpid}/capacity`` (retained, QoS 1), and
the centres' answers to transfer requests to ``ems/hospitals/{hpid}/answer`` (QoS 1, not retained).

A centre is published again whenever its stored version is ahead of the version last
acknowledged by the broker; on start every centre is, so a dispatcher or dashboard that
starts later sees everything at once. While the broker is down updates are still stored and
go out when it returns. Answers go first (a crew is waiting on them), each until the broker
acknowledges it: while the broker is down they wait in memory
(:meth:`~hospital_capacity.service.CapacityService.answers_waiting`) and go out when it returns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from hospital_capacity.service import CapacityService
from hospital_capacity.state import to_payload
from telemetry import topics
from telemetry.client import ConnectError, MqttClient, PublishError

log = logging.getLogger(__name__)


class CapacityPublisher:
    def __init__(
        self,
        service: CapacityService,
        make_client: Callable[[], MqttClient],
        *,
        retry_s: float = 2.0,
        ack_timeout_s: float = 5.0,
    ) -> None:
        self.service = service
        self.make_client = make_client
        self.retry_s = retry_s
        self.ack_timeout_s = ack_timeout_s
        self.published = 0
        self.answers_published = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: MqttClient | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    def start(self) -> CapacityPublisher:
        self.service.store.republish_all()
        self.service.changed.set()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="capacity-publisher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.service.changed.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._client is not None:
            self._client.stop()
            self._client = None

    def _connect(self) -> MqttClient | None:
        if self._client is None:
            self._client = self.make_client()
        if not self._client.connected:
            try:
                self._client.start(timeout_s=self.retry_s)
            except ConnectError as exc:
                log.warning("capacity publisher: %s; updates are stored and will be published later", exc)
                self._client = None
                return None
        return self._client

    def _run(self) -> None:
        while not self._stop.is_set():
            self.service.changed.wait(self.retry_s)
            self.service.changed.clear()
            if self._stop.is_set():
                return
            client = self._connect()
            if client is not None:
                self.publish_answers(client)
                self.publish_pending(client)

    def publish_answers(self, client: MqttClient) -> int:
        """Publish every answer waiting (all at once, then wait for the acknowledgements); the ones the
        broker acknowledged are forgotten, the others sent again on the next round. Returns how many
        were acknowledged."""
        waiting = self.service.answers_waiting()
        acknowledged: list[str] = []
        try:
            sent = [(answer, client.send(topics.Topic(topics.Kind.ANSWER, hpid), answer)) for hpid, answer in waiting]
        except PublishError as exc:
            log.warning("capacity publisher: %s; the answers will be sent again", exc)
            return 0
        for answer, delivery in sent:
            if not delivery.wait(self.ack_timeout_s):
                log.warning("capacity publisher: broker did not acknowledge answer %s; will retry", answer.msg_id)
                self.service.changed.set()
                break
            acknowledged.append(answer.msg_id)
        self.service.answers_sent(acknowledged)
        self.answers_published += len(acknowledged)
        return len(acknowledged)

    def publish_pending(self, client: MqttClient) -> int:
        """Publish every centre whose state is newer than what the broker has (all at once,
        then wait for the acknowledgements); returns how many the broker acknowledged."""
        now = datetime.now(UTC)
        sent = [
            (row, client.send(topics.Topic(topics.Kind.CAPACITY, row["hpid"]), to_payload(row["state"], now)))
            for row in self.service.store.unpublished()
        ]
        acknowledged = []
        for row, delivery in sent:
            if not delivery.wait(self.ack_timeout_s):
                log.warning("capacity publisher: broker did not acknowledge %s; will retry", row["hpid"])
                self.service.changed.set()
                break
            acknowledged.append((str(row["hpid"]), int(row["version"])))
        self.service.store.mark_published(acknowledged)
        self.published += len(acknowledged)
        return len(acknowledged)
