"""One background MQTT subscriber per dashboard process, shared by every page and session.

:class:`LiveFeed` subscribes to ``ems/#`` once and folds every message into a
:class:`~dashboard.state.CityView` under a lock; pages read :meth:`LiveFeed.snapshot` on each
rerun instead of opening a connection of their own. The crew tablet's decisions go out on the
same connection (:meth:`LiveFeed.send`).

When the broker goes away the client keeps reconnecting in the background;
:attr:`LiveFeed.connected` turns false meanwhile and the pages say so, showing what they last
received with its age.
"""

from __future__ import annotations

import threading

from dashboard.state import CityView
from telemetry import schemas, topics
from telemetry.client import ConnectError, Delivery, Message, MqttClient


class LiveFeed:
    def __init__(self, client: MqttClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._view = CityView()
        client.on_message = self._on_message

    def start(self, timeout_s: float = 10.0) -> LiveFeed:
        """Subscribe to everything and connect; when the broker is not there yet, keep trying
        in the background (the pages show "not connected") instead of failing the app."""
        self.client.subscribe(topics.ALL, qos=1)
        try:
            self.client.start(timeout_s)
        except ConnectError:
            threading.Thread(target=self._connect_until_up, name="dashboard-feed-connect", daemon=True).start()
        return self

    def _connect_until_up(self) -> None:
        while True:
            try:
                self.client.start(30.0)
                return
            except ConnectError:
                continue

    def stop(self) -> None:
        self.client.stop()

    @property
    def connected(self) -> bool:
        return self.client.connected

    def _on_message(self, message: Message) -> None:
        now = schemas.utc_now()
        with self._lock:
            self._view.apply(message.topic, message.payload, now)

    def snapshot(self) -> CityView:
        with self._lock:
            return self._view.snapshot()

    def send(self, kind: topics.Kind, key: str, payload: schemas.Payload) -> Delivery:
        """Publish on the contract topic of ``kind`` (raises PublishError when not connected)."""
        return self.client.send(topics.Topic(kind, topics.check_id(key, what=f"{kind.value} id")), payload)
