"""``goldentime mqtt users create`` and ``goldentime mqtt acl``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from goldentime.mqtt_users import userinfo
from telemetry import access, passwords
from tests.helpers import run_cli


def created_password(out: str) -> str:
    found = re.search(r"^password: (\S+)$", out, flags=re.M)
    assert found, out
    return found.group(1)


def test_creating_a_unit_prints_its_password_once_and_stores_only_a_hash(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "passwd"
    code, out, _ = run_cli(
        capsys, "mqtt", "users", "create", "--role", "unit", "--name", "U01-0", "--password-file", str(path)
    )
    assert code == 0
    password = created_password(out)
    assert "username: units/U01-0" in out
    assert f"mqtts://units%2FU01-0:{password}@BROKER:8883" in out
    users = passwords.read(path)
    assert list(users) == ["units/U01-0"] and passwords.verify(password, users["units/U01-0"])
    assert password not in path.read_text()


def test_an_existing_account_gets_a_new_password_only_when_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["mqtt", "users", "create", "--role", "dispatcher", "--password-file", str(tmp_path / "passwd")]
    assert run_cli(capsys, *args)[0] == 0
    before = passwords.read(tmp_path / "passwd")["dispatcher"]
    code, out, err = run_cli(capsys, *args)
    assert code == 1 and "already has an account" in err and "password:" not in out
    assert passwords.read(tmp_path / "passwd")["dispatcher"] == before
    code, out, _ = run_cli(capsys, *args, "--replace")
    assert code == 0 and passwords.verify(created_password(out), passwords.read(tmp_path / "passwd")["dispatcher"])


@pytest.mark.parametrize(
    "extra",
    [["--role", "unit"], ["--role", "centre", "--name", "bad/hpid"], ["--role", "dashboard", "--name", "wall"]],
)
def test_a_name_is_needed_exactly_for_units_and_centres(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str]
) -> None:
    code, out, err = run_cli(capsys, "mqtt", "users", "create", *extra, "--password-file", str(tmp_path / "passwd"))
    assert code == 2 and "error" in err and "password:" not in out
    assert not (tmp_path / "passwd").exists()


def test_the_password_file_defaults_to_the_setting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOLDENTIME_MQTT_PASSWORD_FILE", str(tmp_path / "from-env"))
    code, out, _ = run_cli(capsys, "mqtt", "users", "create", "--role", "centre", "--name", "A1500002")
    assert code == 0
    assert passwords.verify(created_password(out), passwords.read(tmp_path / "from-env")["hospitals/A1500002"])


def test_acl_writes_the_rules_and_check_tells_when_a_file_is_stale(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    acl = tmp_path / "acl"
    assert run_cli(capsys, "mqtt", "acl", "--check", "--output", str(acl))[0] == 1
    assert run_cli(capsys, "mqtt", "acl", "--output", str(acl))[0] == 0
    assert acl.read_text() == access.render_acl()
    assert run_cli(capsys, "mqtt", "acl", "--check", "--output", str(acl))[0] == 0
    acl.write_text(acl.read_text() + "pattern write ems/#\n")
    assert run_cli(capsys, "mqtt", "acl", "--check", "--output", str(acl))[0] == 1


def test_userinfo_quotes_what_a_url_cannot_hold() -> None:
    assert userinfo("units/U1", "a:b@c") == "units%2FU1:a%3Ab%40c"
