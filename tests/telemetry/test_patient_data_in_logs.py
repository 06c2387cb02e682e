"""No patient data in logs: a refused vitals message is reported with its values on the bus
and in the rejected table (where the payload already was), but the log names only the fields."""

from __future__ import annotations

import json
import logging

import pytest

from telemetry import schemas, topics
from telemetry.client import MqttClient
from telemetry.recorder import run_recorder
from tests.conftest import BrokerUnderTest
from tests.helpers import unique, wait_until
from tests.telemetry.test_recorder import rejected_rows

COMPLAINT = "Kim Minsu, chest pain since 3 a.m. " * 10  # too long: 350 characters, at most 200 allowed


def _bad_vitals() -> bytes:
    return json.dumps({"schema": "ems.vitals/1", "ts": "2026-11-25T01:00:00Z", "msg_id": "m-0000001",
                       "patient_id": "P-7731", "hr_bpm": 412, "chief_complaint": COMPLAINT}).encode()  # fmt: skip


def test_a_payload_errors_loggable_reason_names_fields_without_values() -> None:
    with pytest.raises(schemas.PayloadError) as caught:
        schemas.decode(topics.Kind.VITALS, _bad_vitals())
    assert "412" in caught.value.reason and "Kim Minsu" in caught.value.reason  # for the crew and the record
    assert "hr_bpm" in caught.value.loggable and "chief_complaint" in caught.value.loggable
    assert "412" not in caught.value.loggable and "Kim" not in caught.value.loggable


def test_the_recorder_logs_refused_vitals_without_their_values(
    broker: BrokerUnderTest, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = run_recorder(
        broker.url,
        sqlite_url,
        client_id=unique("recorder"),
        batch_size=50,
        flush_interval_s=0.05,
        protocol=broker.protocol,
    )
    unit = unique("u")
    try:
        with caplog.at_level(logging.DEBUG), MqttClient(broker.url, unique("pub"), protocol=broker.protocol) as tablet:
            tablet.publish(f"ems/units/{unit}/vitals", _bad_vitals(), qos=1)
            assert wait_until(lambda: len(rejected_rows(recorder, unit)) == 1)
    finally:
        recorder.stop()
        recorder.store.close()
    assert "Kim Minsu" in rejected_rows(recorder, unit)[0].reason  # kept where the payload is kept
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert unit in logged and "hr_bpm" in logged
    assert "Kim" not in logged and "412" not in logged and "P-7731" not in logged
