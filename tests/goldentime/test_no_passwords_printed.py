"""The services print where they connect, never the account's password that the broker URL carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.scenario import Prepared
from goldentime.services import capacity_service, shown, start_capacity_publisher, start_dispatcher, start_recorder
from goldentime.settings import Settings
from telemetry import passwords
from telemetry.broker import EmbeddedBroker
from tests.helpers import run_cli, unique

SECRET = "s3cret-Pa55"


def test_a_broker_url_is_shown_without_its_account() -> None:
    assert shown(f"mqtts://units%2FU1:{SECRET}@broker.example:8883") == "mqtts://broker.example:8883"
    assert shown("mqtt://127.0.0.1:1883") == "mqtt://127.0.0.1:1883"


def test_recorder_and_dispatcher_do_not_print_the_password(
    embedded_broker: EmbeddedBroker, prepared: Prepared, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The embedded broker without a password file lets any account in: the URL's password is just carried."""
    url = embedded_broker.url.replace("mqtt://", f"mqtt://dispatcher:{SECRET}@")
    settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'gt.sqlite3'}",
                        recorder_client_id=unique("recorder"))  # fmt: skip
    recorder = start_recorder(settings, url)
    dispatcher = start_dispatcher(settings, url, client_id=unique("dispatcher"), prepared=prepared)
    dispatcher.stop()
    recorder.stop()
    out = capsys.readouterr().out
    assert "recorder: ems/# on mqtt://127.0.0.1:" in out and "dispatcher: scenario" in out
    assert SECRET not in out


def test_the_capacity_publisher_says_where_it_publishes_without_the_password(
    embedded_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    url = embedded_broker.url.replace("mqtt://", f"mqtt://capacity-api:{SECRET}@")
    settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'gt.sqlite3'}")
    publisher, where = start_capacity_publisher(settings, capacity_service(settings), url)
    publisher.stop()
    assert where == f"{embedded_broker.url} (MQTT 3.1.1)"


def test_a_refused_connection_and_a_bad_broker_url_are_told_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong password (refused at once) and a broker URL that cannot be used: one line each, no password."""
    monkeypatch.setenv("GOLDENTIME_VAR_DIR", str(tmp_path))
    password_file = tmp_path / "passwd"
    passwords.store(password_file, "recorder", passwords.hash_password("the-right-one"))
    with EmbeddedBroker(password_file=password_file) as secured:
        monkeypatch.setenv("GOLDENTIME_MQTT_URL", f"mqtt://recorder:{SECRET}@127.0.0.1:{secured.port}")
        code, out, err = run_cli(capsys, "recorder", "--seconds", "1")
    assert code == 1
    assert err.splitlines() == [f"goldentime: error: could not connect to {secured.url}: not authorised"]
    assert SECRET not in out + err

    for bad, said in (
        (
            f"http://recorder:{SECRET}@127.0.0.1:1883",
            "'http://recorder:***@127.0.0.1:1883' must start with mqtt:// or mqtts://",
        ),
        (f"mqtt://recorder:{SECRET}@127.0.0.1:99999", "'mqtt://recorder:***@127.0.0.1:99999' has an invalid port"),
    ):
        monkeypatch.setenv("GOLDENTIME_MQTT_URL", bad)
        code, out, err = run_cli(capsys, "recorder", "--seconds", "1")
        assert code == 1
        assert err.splitlines() == [f"goldentime: error: broker URL {said}"]
        assert SECRET not in out + err
