"""The services print where they connect, never the account's password that the broker URL carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.scenario import Prepared
from goldentime.services import shown, start_dispatcher, start_recorder
from goldentime.settings import Settings
from telemetry.broker import EmbeddedBroker
from tests.helpers import unique

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
