"""Mosquitto's password file (``password_file``): read, verify, write.

One ``username:hash`` line per account. Hashes are written as ``mosquitto_passwd`` (2.x) writes
them, ``$7${iterations}${base64 salt}${base64 PBKDF2-HMAC-SHA512}``, so Mosquitto reads what
``goldentime mqtt users create`` writes and the embedded broker verifies what
``mosquitto_passwd`` writes; the older ``$6$`` (salted SHA-512) lines are verified too.
Passwords themselves are never stored or logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

from telemetry.errors import TelemetryError

#: mosquitto_passwd 2.0's salt length and iteration count. The iteration count protects weak
#: human passwords; ours are generated with 192 bits of entropy (:func:`new_password`), which
#: no amount of guessing gets through, so we keep Mosquitto's own default.
SALT_BYTES = 12
ITERATIONS = 101
_DIGEST_BYTES = 64


class PasswordFileError(TelemetryError, ValueError):
    """A password file line or hash that cannot be read."""


def new_password() -> str:
    """A fresh random password: 32 URL-safe characters (192 bits), usable as is inside a broker URL."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """``password`` as a ``$7$`` hash, the format mosquitto_passwd writes by default."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _DIGEST_BYTES)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def verify(password: str, encoded: str) -> bool:
    """Does ``password`` match the ``$7$`` or ``$6$`` hash ``encoded``? Unreadable hashes never match."""
    parts = encoded.split("$")
    try:
        if len(parts) == 5 and parts[:2] == ["", "7"]:
            iterations = int(parts[2])
            if not 1 <= iterations <= 10_000_000:
                return False
            salt, expected = _unb64(parts[3]), _unb64(parts[4])
            actual = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(expected))
        elif len(parts) == 4 and parts[:2] == ["", "6"]:
            salt, expected = _unb64(parts[2]), _unb64(parts[3])
            actual = hashlib.sha512(password.encode() + salt).digest()
        else:
            return False
    except (ValueError, binascii.Error):
        return False
    return bool(expected) and hmac.compare_digest(actual, expected)


def parse(text: str) -> dict[str, str]:
    """``username -> hash`` from a password file's text; blank lines and ``#`` comments skipped."""
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        username, colon, encoded = line.partition(":")
        if not colon or not username or not encoded:
            raise PasswordFileError(f"line {number} is not username:hash")
        users[username] = encoded
    return users


def read(path: Path) -> dict[str, str]:
    """``username -> hash`` from the password file at ``path``."""
    try:
        return parse(path.read_text(encoding="utf-8"))
    except PasswordFileError as exc:
        raise PasswordFileError(f"{path}: {exc}") from None


def check_username(username: str) -> str:
    """``username`` if a password file can hold it (no ``:``, no spaces or control characters)."""
    if not username or ":" in username or any(c.isspace() or not c.isprintable() for c in username):
        raise PasswordFileError(f"username {username!r} cannot go into a password file")
    return username


def store(path: Path, username: str, encoded: str) -> None:
    """Set ``username``'s hash in the file at ``path`` (created owner-only when missing), keeping
    every other line; written to a temporary file first, so a reader never sees half a file."""
    check_username(username)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    entry = f"{username}:{encoded}"
    replaced = [entry if line.partition(":")[0] == username else line for line in lines]
    if entry not in replaced:
        replaced.append(entry)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(replaced) + "\n")
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
