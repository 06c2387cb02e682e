"""Mosquitto's password file format (telemetry/passwords.py), checked against mosquitto_passwd."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from telemetry import passwords

#: Written by mosquitto_passwd 2.0.11 (`-b passwd alice secret`, then `-H sha512 ... bob pw2`).
MOSQUITTO_PBKDF2 = (
    "$7$101$VERNAq0MpQTiCCTL$LJfriaIs18OPPuyXBqVNGfzWz3uHSWiJL4E0p4ZYQ3b2/V6ywrMBvoig2qRRad4VHVeK545S1gtlYp73ZGHm+A=="
)
MOSQUITTO_SHA512 = (
    "$6$/5JsDOTXw/YLc1fZ$uvQ46ppOrqLCUoMuVhkzVHZhI6hRVFKhSF3Sit5KrIXWq03IO9A7qzV2AaGA8C5IoC4++I2HGJwL8Dslo9tQ/w=="
)


def mosquitto_passwd(*args: str) -> None:
    binary = shutil.which("mosquitto_passwd")
    assert binary, "these tests need mosquitto_passwd (apt-get install mosquitto)"
    subprocess.run([binary, *args], check=True, capture_output=True)


def test_a_hash_verifies_its_password_only() -> None:
    encoded = passwords.hash_password("correct horse")
    assert encoded.startswith("$7$101$")
    assert passwords.verify("correct horse", encoded)
    assert not passwords.verify("correct hors", encoded)
    assert passwords.hash_password("correct horse") != encoded  # a new salt each time


def test_hashes_written_by_mosquitto_passwd_verify() -> None:
    assert passwords.verify("secret", MOSQUITTO_PBKDF2) and not passwords.verify("Secret", MOSQUITTO_PBKDF2)
    assert passwords.verify("pw2", MOSQUITTO_SHA512) and not passwords.verify("pw3", MOSQUITTO_SHA512)


def test_the_mosquitto_passwd_on_this_machine_agrees(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    mosquitto_passwd("-c", "-b", str(path), "units/U1", "s3cret")
    mosquitto_passwd("-H", "sha512", "-b", str(path), "dashboard", "other")
    users = passwords.read(path)
    assert passwords.verify("s3cret", users["units/U1"]) and passwords.verify("other", users["dashboard"])
    assert not passwords.verify("other", users["units/U1"])


def test_mosquitto_passwd_keeps_working_on_a_file_we_wrote(tmp_path: Path) -> None:
    """Operators may still use mosquitto_passwd (e.g. -D to delete) on our files."""
    path = tmp_path / "passwd"
    passwords.store(path, "units/U1", passwords.hash_password("one"))
    passwords.store(path, "units/U2", passwords.hash_password("two"))
    mosquitto_passwd("-D", str(path), "units/U1")
    users = passwords.read(path)
    assert list(users) == ["units/U2"] and passwords.verify("two", users["units/U2"])


@pytest.mark.parametrize(
    "encoded",
    ["", "plain", "$7$101$salt", "$7$x$AAAA$AAAA", "$7$0$AAAA$AAAA", "$7$101$!!$AAAA", "$6$AAAA$", "$5$AAAA$AAAA"],
)
def test_an_unreadable_hash_never_verifies(encoded: str) -> None:
    assert not passwords.verify("", encoded) and not passwords.verify("AAAA", encoded)


def test_storing_replaces_one_account_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    passwords.store(path, "units/U1", passwords.hash_password("old!"))
    passwords.store(path, "dashboard", passwords.hash_password("dash!"))
    passwords.store(path, "units/U1", passwords.hash_password("new!"))
    users = passwords.read(path)
    assert list(users) == ["units/U1", "dashboard"]
    assert passwords.verify("new!", users["units/U1"]) and passwords.verify("dash!", users["dashboard"])
    assert path.stat().st_mode & 0o777 == 0o600
    assert "!" not in path.read_text()  # hashes only


def test_a_file_kept_readable_by_its_operator_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text("")
    path.chmod(0o640)
    passwords.store(path, "admin", passwords.hash_password("x"))
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("username", ["", "a:b", "a b", "a\nb"])
def test_a_username_that_would_break_the_file_is_refused(tmp_path: Path, username: str) -> None:
    with pytest.raises(passwords.PasswordFileError):
        passwords.store(tmp_path / "passwd", username, passwords.hash_password("x"))


def test_a_malformed_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text(f"# comment\n\nalice:{MOSQUITTO_PBKDF2}\nbob\n")
    with pytest.raises(passwords.PasswordFileError, match="line 4"):
        passwords.read(path)


def test_new_passwords_are_long_random_and_need_no_quoting_in_a_url() -> None:
    made = {passwords.new_password() for _ in range(50)}
    assert len(made) == 50
    assert all(len(p) == 32 and p.replace("-", "").replace("_", "").isalnum() for p in made)
