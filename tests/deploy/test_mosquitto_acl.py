"""The shipped Mosquitto configuration (deploy/mosquitto/), run for real: a private Mosquitto
started from a copy of it on a free loopback port, with a generated password file and the ACL
file, enforces telemetry/access.py (the same checks as the embedded broker's). CI runs this;
it needs the ``mosquitto`` binary (Mosquitto 2)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from goldentime.bench.mosquitto import free_port, start_mosquitto
from goldentime.mqtt_users import DEPLOY, userinfo, write_broker_files
from telemetry import access
from telemetry.client import ConnectError, MqttClient
from tests.telemetry import broker_checks as checks

pytestmark = pytest.mark.integration
CONFIG = DEPLOY / "mosquitto.conf"


def settings_of(config: Path) -> dict[str, str]:
    """``option -> value`` of a Mosquitto config file, comments left out."""
    pairs = (line.split(None, 1) for line in config.read_text().splitlines() if line.strip())
    return {p[0]: p[1] if len(p) > 1 else "" for p in pairs if not p[0].startswith("#")}


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("mosquitto")
    made = write_broker_files(directory, checks.ACCOUNTS)
    port = free_port()
    process = start_mosquitto(directory, port)
    try:
        yield port, made
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def bench(mosquitto: tuple[int, dict[str, str]]) -> Iterator[checks.Bench]:
    port, made = mosquitto
    with checks.bench("127.0.0.1", port, made) as b:
        yield b


def test_the_shipped_config_refuses_anonymous_clients_and_reads_accounts_and_rules() -> None:
    settings = settings_of(CONFIG)
    assert settings["allow_anonymous"] == "false"
    assert settings["password_file"] == "passwd" and settings["acl_file"] == "acl"
    assert settings["set_tcp_nodelay"] == "true"


def test_the_shipped_acl_file_is_generated_from_the_rules() -> None:
    assert (DEPLOY / "acl").read_text() == access.render_acl(), "run: goldentime mqtt acl"


def test_no_password_file_is_shipped() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", str(DEPLOY / "passwd")], cwd=DEPLOY, check=False)
    assert ignored.returncode == 0


def test_wrong_password_unknown_user_and_anonymous_are_refused(bench: checks.Bench) -> None:
    checks.wrong_password_is_refused(bench)


def test_a_unit_publishing_as_another_unit_is_refused(bench: checks.Bench) -> None:
    checks.unit_cannot_publish_as_another_unit(bench)


def test_every_account_publishes_exactly_what_the_rules_allow(bench: checks.Bench) -> None:
    checks.every_publish_follows_the_rules(bench)


def test_every_account_receives_exactly_what_the_rules_allow(bench: checks.Bench) -> None:
    checks.every_delivery_follows_the_rules(bench)


def test_a_unit_reads_its_own_refusals_and_no_other_units(bench: checks.Bench) -> None:
    checks.unit_reads_only_its_own_refusals(bench)


def test_retained_messages_reach_only_who_may_read_them(bench: checks.Bench) -> None:
    checks.unit_gets_only_its_own_retained_advice(bench)


def test_a_wrong_password_cannot_take_over_a_connected_session(bench: checks.Bench) -> None:
    checks.stranger_cannot_take_a_session_over(bench)


# --- TLS ------------------------------------------------------------------------------------------


def make_certificates(directory: Path) -> None:
    """A throwaway CA and a broker certificate for 127.0.0.1, made with openssl."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
            "-subj", "/CN=GoldenTime test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
            "-subj", "/CN=127.0.0.1")  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "broker.crt", "-days", "1", "-extfile", "san.ext")  # fmt: skip


def tls_snippet(port: int, directory: Path) -> list[str]:
    """The TLS listener mosquitto.conf shows (commented out), on ``port`` with our certificates."""
    shown = [line.removeprefix("#").strip() for line in CONFIG.read_text().splitlines() if line.startswith("#   ")]
    snippet = [line for line in shown if line.split()[0] in ("listener", "certfile", "keyfile")]
    assert [line.split()[0] for line in snippet] == ["listener", "certfile", "keyfile"], shown
    return [
        f"listener {port} 127.0.0.1",
        f"certfile {directory / 'broker.crt'}",
        f"keyfile {directory / 'broker.key'}",
    ]


def test_the_tls_listener_of_the_config_serves_mqtts_with_the_same_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS is configuration only: the listener shown in mosquitto.conf, and mqtts:// URLs; a private
    CA is trusted through SSL_CERT_FILE (OpenSSL's own setting, read by every GoldenTime client)."""
    make_certificates(tmp_path)
    made = write_broker_files(tmp_path, [checks.U1])
    port = free_port()
    process = start_mosquitto(tmp_path, port, listeners=tls_snippet(port, tmp_path))
    try:
        url = f"mqtts://{userinfo('units/U1', made['units/U1'])}@127.0.0.1:{port}"
        with pytest.raises(ConnectError):  # the broker's certificate is checked
            MqttClient(url, "t-tls-untrusted", protocol="3.1.1").start(2)
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.crt"))
        with MqttClient(url, "t-tls", protocol="3.1.1") as client:
            assert client.publish("ems/units/U1/vitals", b"over tls", qos=1).wait(10)
        wrong = f"mqtts://{userinfo('units/U1', 'wrong')}@127.0.0.1:{port}"
        with pytest.raises(ConnectError):
            MqttClient(wrong, "t-tls-wrong", protocol="3.1.1").start(2)
    finally:
        process.terminate()
        process.wait(10)
