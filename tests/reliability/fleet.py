"""A private Mosquitto that can be restarted, and units' tablets on it: for the fault tests."""

from __future__ import annotations

import time
from pathlib import Path

from goldentime.bench.mosquitto import free_port, start_mosquitto
from goldentime.mqtt_users import userinfo, write_broker_files
from telemetry import schemas, topics
from telemetry.access import Account, Role
from telemetry.client import Delivery, Message, MqttClient, unit_will
from tests.helpers import unique

UNITS = 10  # units of a fault test's fleet


class Broker:
    """A private Mosquitto that can be restarted on the same port and directory."""

    def __init__(self, directory: Path, units: list[str]) -> None:
        self.directory, self.port = directory, free_port()
        accounts = [Account(Role.RECORDER), Account(Role.DISPATCHER), *(Account(Role.UNIT, u) for u in units)]
        self.passwords = write_broker_files(directory, accounts)
        self.process = start_mosquitto(directory, self.port)

    def url(self, username: str) -> str:
        return f"mqtt://{userinfo(username, self.passwords[username])}@127.0.0.1:{self.port}"

    def restart(self, down_s: float) -> float:
        """Stop (SIGTERM: Mosquitto writes its persistence file), wait, start again; returns when it is up."""
        self.process.terminate()
        self.process.wait(10)
        time.sleep(down_s)
        self.process = start_mosquitto(self.directory, self.port)
        return time.monotonic()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Tablet:
    """A unit's tablet: its own account, Last Will, and its advice topic subscribed."""

    def __init__(self, broker: Broker, unit: str) -> None:
        self.unit, self.advice, self.connects = unit, list[schemas.Advice](), 0
        self.client = MqttClient(broker.url(f"units/{unit}"), unique("tablet"), on_message=self._on_message,
                                 will=unit_will(unit), keepalive_s=5)  # fmt: skip
        self.client.subscribe(topics.build(topics.Kind.ADVICE, unit), qos=1)
        self.client.start()

    def _on_message(self, message: Message) -> None:
        if message.payload:
            payload = schemas.decode(topics.Kind.ADVICE, message.payload)
            assert isinstance(payload, schemas.Advice)
            self.advice.append(payload)

    def send(self, kind: topics.Kind, payload: schemas.Payload) -> Delivery:
        return self.client.send(topics.Topic(kind, self.unit), payload)

    def advised(self, patient: str) -> bool:
        return any(a.patient_id == patient for a in self.advice)
