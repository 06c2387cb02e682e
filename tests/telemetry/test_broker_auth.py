"""The embedded broker given a password file: it lets in only those accounts and holds each to
telemetry/access.py (the same checks run against Mosquitto in tests/deploy/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from goldentime.mqtt_users import write_broker_files
from telemetry import passwords
from telemetry.access import Account, Role
from telemetry.broker import BrokerStartError, EmbeddedBroker
from telemetry.broker_auth import AccessRulesPlugin
from telemetry.client import MqttClient, unit_will
from tests.helpers import wait_until
from tests.telemetry import broker_checks as checks

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedBroker, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("embedded-auth")
    made = write_broker_files(directory, checks.ACCOUNTS)
    with EmbeddedBroker(password_file=directory / "passwd") as broker:
        yield broker, made


@pytest.fixture
def bench(secured: tuple[EmbeddedBroker, dict[str, str]]) -> Iterator[checks.Bench]:
    broker, made = secured
    with checks.bench(broker.host, broker.port, made) as b:
        yield b


def test_wrong_password_unknown_user_and_anonymous_are_refused(bench: checks.Bench) -> None:
    checks.wrong_password_is_refused(bench)


def test_a_unit_publishing_as_another_unit_is_dropped_and_stays_connected(bench: checks.Bench) -> None:
    checks.unit_cannot_publish_as_another_unit(bench)


def test_every_account_publishes_exactly_what_the_rules_allow(bench: checks.Bench) -> None:
    checks.every_publish_follows_the_rules(bench)


def test_every_account_receives_exactly_what_the_rules_allow(bench: checks.Bench) -> None:
    checks.every_delivery_follows_the_rules(bench)


def test_a_session_ending_while_a_message_goes_out_costs_no_other_subscriber_that_message(
    secured: tuple[EmbeddedBroker, dict[str, str]], bench: checks.Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker asks the access rules about each subscriber in turn; the first subscriber's
    session ends just then, as the broker's session monitor ends a clean session that has gone
    (amqtt alone then skipped the next subscriber: 1 message in about 6,000 under load)."""
    broker = secured[0]._broker
    assert broker is not None
    rules = AccessRulesPlugin.topic_filtering

    async def ending_first_subscriber(self: AccessRulesPlugin, *, session: Any, topic: str, action: Any) -> bool:
        if topic == "ems/incidents/leave" and session.client_id == "t-leaving":
            await broker._del_all_subscriptions(session)
        return await rules(self, session=session, topic=topic, action=action)

    monkeypatch.setattr(AccessRulesPlugin, "topic_filtering", ending_first_subscriber)
    leaving = bench.client(checks.ADMIN, subscribe=("#",), client_id="t-leaving")
    inboxes = [checks.Inbox() for _ in range(3)]
    for inbox in inboxes:
        bench.client(checks.ADMIN, inbox=inbox, subscribe=("#",))
    assert bench.client(checks.ADMIN).publish("ems/incidents/leave", b"leave", qos=1).wait(10)
    assert leaving.connected
    assert wait_until(lambda: all(b"leave" in inbox.payloads() for inbox in inboxes))


def test_a_unit_reads_its_own_refusals_and_no_other_units(bench: checks.Bench) -> None:
    checks.unit_reads_only_its_own_refusals(bench)


def test_retained_messages_reach_only_who_may_read_them(bench: checks.Bench) -> None:
    checks.unit_gets_only_its_own_retained_advice(bench)


def test_a_wrong_password_cannot_take_over_a_connected_session(bench: checks.Bench) -> None:
    checks.stranger_cannot_take_a_session_over(bench)


def test_a_unit_may_leave_a_last_will_only_on_its_own_status(bench: checks.Bench) -> None:
    """amqtt would publish any Last Will unchecked, so a forbidden one is refused at CONNECT
    (Mosquitto accepts the connection and drops the will when it fires)."""
    password = bench.passwords["units/U1"]
    code = checks.connack(bench.host, bench.port, "units/U1", password, "t-will-U2", will_topic="ems/units/U2/status")
    assert code != 0
    assert bench.client(checks.U1, will=unit_will("U1")).connected


def test_a_new_account_can_log_in_without_a_restart(secured: tuple[EmbeddedBroker, dict[str, str]]) -> None:
    broker, _ = secured
    assert broker.password_file is not None
    new = Account(Role.UNIT, "U7")
    assert checks.connack(broker.host, broker.port, new.username, "pw-7", "t-new") != 0
    passwords.store(broker.password_file, new.username, passwords.hash_password("pw-7"))
    assert checks.connack(broker.host, broker.port, new.username, "pw-7", "t-new") == 0


def test_an_unreadable_password_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(BrokerStartError, match="password file"):
        EmbeddedBroker(password_file=tmp_path / "missing").start()


def test_without_a_password_file_anyone_may_publish_anything(embedded_broker: EmbeddedBroker) -> None:
    """The default (demo, tests): any login or none, no rule applied."""
    inbox = checks.Inbox()
    port = embedded_broker.port
    with (
        MqttClient(embedded_broker.url, "t-open-reader", on_message=inbox, protocol="3.1.1") as reader,
        MqttClient(f"mqtt://units%2FU1:nonsense@127.0.0.1:{port}", "t-open-writer", protocol="3.1.1") as writer,
    ):
        reader.subscribe("ems/units/+/advice")
        assert writer.publish("ems/units/U2/advice", b"open", qos=1).wait(10)
        assert wait_until(lambda: b"open" in inbox.payloads())
