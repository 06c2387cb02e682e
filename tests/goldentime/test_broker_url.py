"""``goldentime broker`` in one terminal and the other commands pointed at it by URL, run as a user runs them:
real processes whose only setting is ``GOLDENTIME_MQTT_URL`` (and a var directory of the test's own). A URL
says nothing of the MQTT version: the commands negotiate it (the embedded broker speaks 3.1.1) and say which."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetry import schemas, topics
from telemetry.broker import free_port
from telemetry.client import Message, MqttClient
from telemetry.store import TelemetryStore
from tests.dispatch.bus import JONGNO_3GA
from tests.helpers import unique, wait_until

pytestmark = pytest.mark.integration

GOLDENTIME = str(Path(sys.executable).parent / "goldentime")
SECRET = "s3cret-Pa55"


def user_env(**settings: str) -> dict[str, str]:
    """A user's shell: no ``GOLDENTIME_*`` variable but those given (``mqtt_url=...``)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GOLDENTIME_")}
    return env | {f"GOLDENTIME_{name.upper()}": value for name, value in settings.items()}


class Command:
    """``goldentime ARGV`` in a process of its own, its output (stdout and stderr) in a file."""

    def __init__(self, log: Path, *argv: str, env: dict[str, str]) -> None:
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen([GOLDENTIME, *argv], env=env, stdout=sink, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def says(self, text: str, timeout_s: float) -> bool:
        """Wait until its output holds ``text`` (False if it ended or ``timeout_s`` passed first)."""
        wait_until(lambda: text in self.output() or self.process.poll() is not None, timeout_s, every_s=0.05)
        return text in self.output()

    def interrupt(self) -> int:
        """Ctrl-C, as a user stops it; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


@pytest.fixture
def commands() -> Iterator[list[Command]]:
    """Commands a test started; interrupted afterwards, last first, whatever the test's outcome."""
    started: list[Command] = []
    yield started
    for command in reversed(started):
        command.interrupt()


def test_recorder_and_dispatcher_work_with_goldentime_broker_by_url(tmp_path: Path, commands: list[Command]) -> None:
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    broker = Command(tmp_path / "broker.log", "broker", "--port", str(port), env=user_env())
    commands.append(broker)
    assert broker.says(f"embedded MQTT broker listening on {url}", 30), broker.output()
    env = user_env(mqtt_url=url, var_dir=str(tmp_path / "var"))
    recorder = Command(tmp_path / "recorder.log", "recorder", env=env)
    dispatcher = Command(tmp_path / "dispatcher.log", "dispatcher", env=env)
    commands += [recorder, dispatcher]
    assert recorder.says(f"recorder: ems/# on {url} (MQTT 3.1.1) -> sqlite:///", 60), recorder.output()
    assert dispatcher.says(f", on {url} (MQTT 3.1.1)", 180), dispatcher.output()

    unit, patient = unique("U"), "P-url-0001"
    store = TelemetryStore.open(f"sqlite:///{tmp_path / 'var' / 'goldentime.sqlite3'}")
    advised: list[Message] = []
    tablet = MqttClient(url, unique("tablet"), on_message=advised.append, protocol=None)
    tablet.subscribe(topics.build(topics.Kind.ADVICE, unit), qos=1)
    tablet.start()
    try:
        assert tablet.protocol == "3.1.1"
        tablet.send(
            topics.Topic(topics.Kind.POSITION, unit), schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1])
        )
        assert wait_until(lambda: store.latest("position", unit) is not None), recorder.output()
        vitals = schemas.Vitals.new(patient_id=patient, hr_bpm=128, sbp_mmhg=86, spo2_pct=90, gcs=13)
        assert tablet.send(topics.Topic(topics.Kind.VITALS, unit), vitals).wait(5)

        def advice() -> schemas.Advice | None:
            for message in reversed(advised):
                if message.payload:
                    decoded = schemas.decode(topics.Kind.ADVICE, message.payload)
                    assert isinstance(decoded, schemas.Advice)
                    return decoded
            return None

        assert wait_until(lambda: (a := advice()) is not None and a.patient_id == patient, 30), dispatcher.output()
        assert wait_until(lambda: (store.latest("vitals", unit) or {}).get("patient_id") == patient), recorder.output()
        tablet.clear_retained(topics.build(topics.Kind.ADVICE, unit)).wait(5)
    finally:
        tablet.stop()
        store.engine.dispose()

    assert [command.interrupt() for command in reversed(commands)] == [0, 0, 0]
    assert re.search(r"recorder: \d+ messages stored, 0 rejected, 0 database errors", recorder.output())
    for command in commands:
        assert "Traceback" not in command.output(), command.output()


def test_a_broker_that_cannot_be_reached_ends_a_command_in_one_line(tmp_path: Path) -> None:
    """A closed port: one line on stderr naming the broker (not the password of its URL) and the cause, exit 1."""
    port = free_port()
    env = user_env(mqtt_url=f"mqtt://recorder:{SECRET}@127.0.0.1:{port}", var_dir=str(tmp_path / "var"))
    argvs = {"recorder": ["recorder"], "capacity-api": ["capacity-api", "--port", str(free_port())]}
    runs = {name: subprocess.Popen([GOLDENTIME, *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True) for name, argv in argvs.items()}  # fmt: skip
    for name, run in runs.items():
        out, err = run.communicate(timeout=120)
        assert run.returncode == 1, (name, out, err)
        assert err.splitlines() == [
            f"goldentime: error: could not connect to mqtt://127.0.0.1:{port} within 10 s: "
            "connection refused (nothing listens on that port)"
        ], (name, err)
        assert SECRET not in out + err and "Traceback" not in out + err


def test_a_broker_port_in_use_ends_goldentime_broker_in_one_line(tmp_path: Path, commands: list[Command]) -> None:
    port = free_port()
    first = Command(tmp_path / "first.log", "broker", "--port", str(port), env=user_env())
    commands.append(first)
    assert first.says("listening on", 30), first.output()
    second = subprocess.run([GOLDENTIME, "broker", "--port", str(port), "--seconds", "1"], env=user_env(),
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert second.returncode == 1
    assert [line for line in second.stderr.splitlines() if " INFO amqtt." not in line] == [
        f"goldentime: error: embedded broker did not start on 127.0.0.1:{port}: Broker instance can't be started: "
        f"[Errno 98] error while attempting to bind on address ('127.0.0.1', {port}): address already in use"
    ]
    assert "Traceback" not in second.stderr
